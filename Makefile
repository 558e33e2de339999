# The daily verbs. Each one installs what is missing first, so a clean
# Debian 12 machine needs nothing but `make run` or `make test`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 300
JOBS       ?= $(shell nproc)
PORT       ?= 8080
CTEST_ARGS ?= --output-on-failure --timeout 300
# Unity batches for faster clean builds (CMakeLists.txt); UNITY=OFF for an
# edit-compile loop.
UNITY      ?= ON

.PHONY: all deps run-deps configure build run test test-sanitize bench fuzz soak deb clean

all: build

deps:
	@bash scripts/install-deps.sh test

run-deps:
	@bash scripts/install-deps.sh run

# Configured anew each time (a second when nothing changed), so that a build
# dir first made by `make run`, without GoogleTest, gains the tests once
# `make test` has installed it.
configure:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRESHET_UNITY=$(UNITY) > /dev/null

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

# Only what running needs: no test tools, no browser; only the binary is built.
run: run-deps configure
	cmake --build $(BUILD) -j $(JOBS) --target freshet
	./$(BUILD)/src/freshet demo --port $(PORT)

# The independent peers (the official airtable npm client), pinned by the lockfile.
tests/peer/node_modules: tests/peer/package.json tests/peer/package-lock.json | deps
	cd tests/peer && npm ci --no-audit --no-fund
	@touch $@

# The browser tests' driver (playwright-core; the browser is Debian's chromium).
tests/browser/node_modules: tests/browser/package.json tests/browser/package-lock.json | deps
	cd tests/browser && npm ci --no-audit --no-fund
	@touch $@

# The OpenAPI validator and ajv, which check the API reference against the server.
tests/api/node_modules: tests/api/package.json tests/api/package-lock.json | deps
	cd tests/api && npm ci --no-audit --no-fund
	@touch $@

test: build tests/peer/node_modules tests/browser/node_modules tests/api/node_modules
	cd $(BUILD) && ctest $(CTEST_ARGS) -j $(JOBS)

$(ASAN_BUILD)/build.ninja: | deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFRESHET_SANITIZE=ON -DFRESHET_BENCH=OFF -DFRESHET_UNITY=$(UNITY)

# The suite under AddressSanitizer and UndefinedBehaviorSanitizer: every
# test but the browser suites, which check the page (not sanitized) and run
# in `make test`; the server paths they drive are the integration and client
# tests' too. Keeps CI's two stages within its time.
test-sanitize: deps $(ASAN_BUILD)/build.ninja tests/peer/node_modules tests/browser/node_modules tests/api/node_modules
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest $(CTEST_ARGS) -j $(JOBS) -E '^browser\.'

bench: build
	@bash scripts/install-deps.sh bench
	bash bench/run.sh $(BUILD)

# The libFuzzer campaign: every target for FUZZ_SECONDS (CI: 10).
$(FUZZ_BUILD)/build.ninja: | deps
	@bash scripts/install-deps.sh fuzz
	CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFRESHET_FUZZ=ON -DFRESHET_UNITY=$(UNITY)

fuzz: deps $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	FUZZ_BUILD=$(FUZZ_BUILD) bash scripts/fuzz.sh $(FUZZ_SECONDS)

# The fault soak: kill -9 cycles of serve under a faulty upstream and publishers (CI: 10).
SOAK_CYCLES ?= 100
soak: build
	python3 tests/soak/fault_soak.py --cycles $(SOAK_CYCLES) --bin $(BUILD)/src/freshet

# The Debian package (binary, service unit, default config, man page) in dist/.
deb:
	@bash scripts/install-deps.sh package
	$(MAKE) --no-print-directory configure
	cmake --build $(BUILD) -j $(JOBS) --target freshet
	bash packaging/build-deb.sh $(BUILD)/src/freshet dist

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) dist
