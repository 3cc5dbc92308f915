# ModelPort: `make demo` sets everything up and inspects the shipped seed model;
# `make test` runs every test. Both install the Debian packages they need when missing.

SWIFT ?= swift
APT_PACKAGES := libhdf5-dev libopenblas-dev protobuf-compiler libpng-dev libturbojpeg0-dev zlib1g-dev pkg-config
REFERENCE_VENV ?= $(HOME)/venvs/ref

.PHONY: deps build demo test fixtures clean

deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --no-install-recommends $$missing; \
	fi

build: deps
	$(SWIFT) build -c release --product modelport

demo: build
	.build/release/modelport inspect Fixtures/keras/seed_sigmoid.h5

# Tests run in release mode: the numeric tests are heavy, and the command-line tests then
# exercise the optimised binary users run (a debug build once hid a release-only miscompile).
TEST_FLAGS := -c release -Xswiftc -enable-testing

test: deps
	$(SWIFT) build $(TEST_FLAGS) --build-tests
	$(SWIFT) test $(TEST_FLAGS) --skip-build

# Regenerates Fixtures/ with the real Keras (needs the reference venv, see Fixtures/README.md).
fixtures:
	$(REFERENCE_VENV)/bin/python Fixtures/make_keras_fixtures.py

clean:
	rm -rf .build
