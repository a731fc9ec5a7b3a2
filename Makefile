# ward: the two commands of the quick start are `make demo` and `make test`.
# Every target that builds first runs scripts/deps, which installs missing Debian packages.

BUILD      ?= build
BUILD_ASAN ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all build deps demo test test-fast asan fuzz size clean

all: build

deps:
	@scripts/deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS) -- --no-print-directory

asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DWARD_SANITIZE=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD_ASAN) -j$(JOBS) -- --no-print-directory

# Every test, in the normal build and again under ASan+UBSan; then every fuzz target, built with
# clang, fuzzed for FUZZ_SECONDS (default 10) each.
test: build asan
	@scripts/checksrc
	@echo "== tests (build: $(BUILD))"
	@ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)
	@echo "== tests under ASan+UBSan (build: $(BUILD_ASAN))"
	@ctest --test-dir $(BUILD_ASAN) --output-on-failure -j$(JOBS)
	@echo "== fuzz targets (build: build-fuzz)"
	@scripts/fuzz-smoke

# The libFuzzer targets (clang, -DWARD_FUZZ=ON), each fuzzed briefly on its corpus.
fuzz: deps
	@scripts/fuzz-smoke

# The normal build's tests only (quicker while developing).
test-fast: build
	@ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

demo: build
	@scripts/demo

# Flash and RAM of the agent core on a Cortex-M4, one line per flow-table size (docs/agent-size.md).
size: deps
	@scripts/size

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) build-arm build-fuzz
