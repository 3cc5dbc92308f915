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

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	# The command-line tests again, against the release build users run.
	$(SWIFT) build -c release --product modelport
	MODELPORT_BINARY=$(CURDIR)/.build/release/modelport $(SWIFT) test --skip-build --filter ModelPortCLITests

# Regenerates Fixtures/ with the real Keras (needs the reference venv, see Fixtures/README.md).
fixtures:
	$(REFERENCE_VENV)/bin/python Fixtures/make_keras_fixtures.py

clean:
	rm -rf .build
