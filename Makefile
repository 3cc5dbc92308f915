# ModelPort: `make demo` sets everything up and inspects the shipped seed model;
# `make test` runs every test (and a short run of each fuzz target). Both install the Debian packages they need when missing.

SWIFT ?= swift
APT_PACKAGES := libhdf5-dev libopenblas-dev protobuf-compiler libpng-dev libturbojpeg0-dev zlib1g-dev pkg-config libdnnl-dev
REFERENCE_VENV ?= $(HOME)/venvs/ref

.PHONY: deps build demo test test-sanitize fuzz crosscheck fixtures clean

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

# The seed user's story: a Keras classifier whose scores agree to the 4th decimal, why, the
# repair, the check again, and the repaired model as ONNX (written under .build/demo/).
DEMO_MODEL := Fixtures/check/collapsed.h5
DEMO_DATA := Fixtures/check/data
demo: build
	@mkdir -p .build/demo
	.build/release/modelport inspect $(DEMO_MODEL)
	@echo; echo "== 1. check: why does every image get the same score?"
	-.build/release/modelport check $(DEMO_MODEL) --data $(DEMO_DATA) --report .build/demo/before.html
	@echo; echo "== 2. repair: recompute the BatchNormalization statistics from the images"
	.build/release/modelport finetune $(DEMO_MODEL) --data $(DEMO_DATA) --recalibrate-batchnorm --output .build/demo/repaired.h5 --force
	@echo; echo "== 3. check the repaired model"
	.build/release/modelport check .build/demo/repaired.h5 --data $(DEMO_DATA) --report .build/demo/after.html
	@echo; echo "== 4. hand it on as ONNX"
	.build/release/modelport convert .build/demo/repaired.h5 .build/demo/repaired.onnx --force
	.build/release/modelport run .build/demo/repaired.onnx --input $(DEMO_DATA)/class_b/b_000.png
	@echo; echo "reports: .build/demo/before.html, .build/demo/after.html"

# Tests run in release mode: the numeric tests are heavy, and the command-line tests then
# exercise the optimised binary users run (a debug build once hid a release-only miscompile).
TEST_FLAGS := -c release -Xswiftc -enable-testing

test: deps
	$(SWIFT) build $(TEST_FLAGS) --build-tests
	$(SWIFT) test $(TEST_FLAGS) --skip-build
	@$(MAKE) --no-print-directory crosscheck
	@$(MAKE) --no-print-directory fuzz FUZZ_SMOKE=1

# The cross-checks with the real tools, on what `convert` writes: CrossCheck/crosscheck.py (ONNX:
# onnx.checker and onnxruntime) and CrossCheck/keras_crosscheck.py (Keras files: tf_keras and
# Keras 3); and on what `finetune` writes: CrossCheck/finetune_crosscheck.py. They use the reference venv when it has what they import, else .build-venv; on CI
# (CI set) .build-venv is created and filled with pip (about 2 minutes). Without onnx and
# onnxruntime both are skipped, saying so; with them but without TensorFlow and Keras only the
# Keras cross-check is.
CROSSCHECK_VENV := $(CURDIR)/.build-venv
CROSSCHECK_PIP := onnx==1.23.2 onnxruntime numpy tensorflow-cpu==2.21.0 tf-keras==2.21.0 keras==3.15.1 h5py==3.14.0
CROSSCHECK_ONNX := import onnx, onnxruntime
CROSSCHECK_KERAS := import onnx, onnxruntime, tensorflow, tf_keras, keras, h5py
CROSSCHECK_MODELPORT ?= $(CURDIR)/.build/release/modelport
crosscheck:
	@py=""; \
	for venv in "$(REFERENCE_VENV)" "$(CROSSCHECK_VENV)"; do \
	  if [ -z "$$py" ] && [ -x "$$venv/bin/python" ] && "$$venv/bin/python" -c "$(CROSSCHECK_KERAS)" 2>/dev/null; then py="$$venv/bin/python"; fi; \
	done; \
	if [ -z "$$py" ] && [ -n "$$CI" ]; then \
	  echo "crosscheck: installing $(CROSSCHECK_PIP) into $(CROSSCHECK_VENV)"; \
	  python3 -m venv "$(CROSSCHECK_VENV)" && "$(CROSSCHECK_VENV)/bin/pip" install -q $(CROSSCHECK_PIP) && py="$(CROSSCHECK_VENV)/bin/python"; \
	fi; \
	for venv in "$(REFERENCE_VENV)" "$(CROSSCHECK_VENV)"; do \
	  if [ -z "$$py" ] && [ -x "$$venv/bin/python" ] && "$$venv/bin/python" -c "$(CROSSCHECK_ONNX)" 2>/dev/null; then py="$$venv/bin/python"; fi; \
	done; \
	if [ -z "$$py" ]; then echo "crosscheck skipped: no Python with onnx and onnxruntime (create $(REFERENCE_VENV), see Fixtures/README.md)"; exit 0; fi; \
	$(SWIFT) build -c release --product modelport >/dev/null || exit 1; \
	status=0; "$$py" CrossCheck/crosscheck.py --modelport "$(CROSSCHECK_MODELPORT)" || status=1; \
	if "$$py" -c "$(CROSSCHECK_KERAS)" 2>/dev/null; then "$$py" CrossCheck/keras_crosscheck.py --modelport "$(CROSSCHECK_MODELPORT)" || status=1; \
	  "$$py" CrossCheck/finetune_crosscheck.py --modelport "$(CROSSCHECK_MODELPORT)" || status=1; \
	else echo "keras crosscheck skipped: $$py has no tensorflow, tf_keras, keras and h5py (see Fixtures/requirements.txt)"; fi; \
	exit $$status

# The test suite under AddressSanitizer, then under ThreadSanitizer (the threaded kernels: convolutions
# split over cores, training), each in its own build folder (not part of `make test`). Leak
# reports are off: a command that exits 2 leaves Foundation's path buffers behind, which
# LeakSanitizer would report (and turn into exit code 1) in every bad-input test. Under
# ThreadSanitizer two kinds of test are left out: those that hold a command to 1 GB of peak
# memory (its shadow memory alone passes that) and those that need modelport-hdf5-check's own
# AddressSanitizer (clang builds one sanitizer at a time, so there it has ThreadSanitizer).
TSAN_SKIP := refused|SeparateReadCheckTests
test-sanitize: deps
	$(SWIFT) build $(TEST_FLAGS) --sanitize=address --build-tests --scratch-path .build-asan
	ASAN_OPTIONS=detect_leaks=0 $(SWIFT) test $(TEST_FLAGS) --sanitize=address --skip-build --scratch-path .build-asan
	MODELPORT_HELPER_ASAN=0 $(SWIFT) build $(TEST_FLAGS) --sanitize=thread --build-tests --scratch-path .build-tsan
	TSAN_OPTIONS=halt_on_error=1 $(SWIFT) test $(TEST_FLAGS) --sanitize=thread --skip-build --scratch-path .build-tsan \
	  --skip '$(TSAN_SKIP)'

# libFuzzer over the readers (Fuzz/: one binary, MODELPORT_FUZZ_TARGET picks the reader), each
# for FUZZ_SECONDS, seeded from Fixtures/. A crash leaves its input as .build-fuzz/crash-*;
# make it a file in Fixtures/hostile (make_hostile_fixtures.py) with the fix.
# FUZZ_SMOKE=1 runs each target's fixed number of inputs instead (about 20 s each; -seed=1 makes
# them the same inputs every time), as `make test` does. HDF5 files go through the root build's
# modelport-hdf5-check, as in use.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE ?=
FUZZ_TARGETS := npy:npy:300000 onnx:onnx:25000 keras-h5:h5:800 keras-zip:keras:150 keras-json:json:5000
fuzz: deps
	$(SWIFT) build -c release --product modelport-hdf5-check
	cd Fuzz && $(SWIFT) build -c release -Xswiftc -sanitize=fuzzer,address --scratch-path ../.build-fuzz
	@cd .build-fuzz && status=0; for pair in $(FUZZ_TARGETS); do \
	  target=$${pair%%:*}; rest=$${pair#*:}; ext=$${rest%%:*}; runs=$${rest#*:}; corpus=corpus-$$target; \
	  limit=-max_total_time=$(FUZZ_SECONDS); \
	  if [ -n "$(FUZZ_SMOKE)" ]; then corpus=smoke-$$target; rm -rf $$corpus; limit=-runs=$$runs; fi; mkdir -p $$corpus; \
	  find ../Fixtures -name "*.$$ext" -size -2M -exec cp {} $$corpus/ \; ; \
	  ASAN_OPTIONS=detect_leaks=0 MODELPORT_FUZZ_TARGET=$$target MODELPORT_FUZZ_WEIGHTS=$(CURDIR)/Fixtures/keras/mlp_weights.h5 \
	    MODELPORT_HDF5_CHECK=$(CURDIR)/.build/release/modelport-hdf5-check \
	    ./release/ModelPortFuzz $$limit -rss_limit_mb=2048 -timeout=10 -seed=1 $$corpus > fuzz-$$target.log 2>&1 \
	    && result="no crash" || { result="CRASH (see .build-fuzz/fuzz-$$target.log)"; status=1; }; \
	  echo "fuzz $$target: $$(grep -o 'Done [0-9]* runs in [0-9]* second' fuzz-$$target.log || echo 'no summary'); $$result"; \
	done; exit $$status

# Regenerates Fixtures/ with the real Keras (needs the reference venv, see Fixtures/README.md).
fixtures:
	$(REFERENCE_VENV)/bin/python Fixtures/make_keras_fixtures.py

clean:
	rm -rf .build
