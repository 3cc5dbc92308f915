# ModelPort: `make demo` sets everything up and inspects the shipped seed model;
# `make test` runs every test. Both install the Debian packages they need when missing.

SWIFT ?= swift
APT_PACKAGES := libhdf5-dev libopenblas-dev protobuf-compiler libpng-dev libturbojpeg0-dev zlib1g-dev pkg-config
REFERENCE_VENV ?= $(HOME)/venvs/ref

.PHONY: deps build demo test crosscheck fixtures clean

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
	@$(MAKE) --no-print-directory crosscheck

# onnx.checker and onnxruntime on what `convert` writes: with the reference venv when present,
# else (on CI) onnx and onnxruntime installed with pip into .build-venv; skipped, saying so,
# when neither can be had.
CROSSCHECK_VENV := $(CURDIR)/.build-venv
crosscheck:
	@py=""; \
	if [ -x "$(REFERENCE_VENV)/bin/python" ] && "$(REFERENCE_VENV)/bin/python" -c "import onnx, onnxruntime" 2>/dev/null; then py="$(REFERENCE_VENV)/bin/python"; \
	elif [ -x "$(CROSSCHECK_VENV)/bin/python" ] && "$(CROSSCHECK_VENV)/bin/python" -c "import onnx, onnxruntime" 2>/dev/null; then py="$(CROSSCHECK_VENV)/bin/python"; \
	elif [ -n "$$CI" ] && python3 -m venv "$(CROSSCHECK_VENV)" >/dev/null 2>&1 && "$(CROSSCHECK_VENV)/bin/pip" install -q onnx==1.23.2 onnxruntime numpy >/dev/null 2>&1; then py="$(CROSSCHECK_VENV)/bin/python"; fi; \
	if [ -z "$$py" ]; then echo "crosscheck skipped: no Python with onnx and onnxruntime (create $(REFERENCE_VENV), see Fixtures/README.md)"; exit 0; fi; \
	$(SWIFT) build -c release --product modelport >/dev/null && "$$py" CrossCheck/crosscheck.py --modelport "$(CURDIR)/.build/release/modelport"

# Regenerates Fixtures/ with the real Keras (needs the reference venv, see Fixtures/README.md).
fixtures:
	$(REFERENCE_VENV)/bin/python Fixtures/make_keras_fixtures.py

clean:
	rm -rf .build
