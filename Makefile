# Thin wrapper over CMake. The README's quick start is `make run` and `make test`.
BUILD    ?= build
ASAN     ?= build-asan
FUZZ     ?= build-fuzz
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
FLEET    ?= inventories/datacenter.yml
SETUP     = tools/setup.sh

.PHONY: all setup build run test test-asan bench fuzz clean help

all: build

help:
	@echo "make run        set up, build, check the example fleet and its port plan, then roll out 1,000 simulated BMCs (fleetsim) over Redfish"
	@echo "make test       set up, build and run the whole test suite (ctest)"
	@echo "make test-asan  the same suite under AddressSanitizer + UndefinedBehaviorSanitizer"
	@echo "make fuzz       build the libFuzzer targets and run each for FUZZ_SECONDS (default 30)"
	@echo "make bench      run the benchmarks in tests/bench (installs the peers they compare against)"

setup:
	@$(SETUP)

# setup.sh runs first: configuring needs the -dev packages it installs.
$(BUILD)/Makefile: CMakeLists.txt | setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: $(BUILD)/Makefile
	@cmake --build $(BUILD) -j $(JOBS)

# The main job: the example datacenter fleet checked and its port plan, then fleetsim with
# 1,000 BMCs and a rollout of inventories/fleetsim.yml in waves [1, 5%, 25%, 100%] through
# the scheduler and the package server (fresh state each time; fleetsim stopped after).
run: build
	./$(BUILD)/fleetup validate $(FLEET)
	./$(BUILD)/fleetup ports $(FLEET)
	tools/make-run.sh $(BUILD)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: setup
	@cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DFLEETUP_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN) -j $(JOBS)
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

FUZZ_SECONDS ?= 30
fuzz: setup
	@cmake -S . -B $(FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DFLEETUP_FUZZ=ON -DFLEETUP_TESTS=OFF >/dev/null
	@cmake --build $(FUZZ) -j $(JOBS)
	@for t in $(FUZZ)/tests/fuzz/fuzz_*; do \
		name=$$(basename $$t); corpus=tests/fuzz/corpus/$${name#fuzz_}; \
		work=$$(mktemp -d); cp -r $$corpus/. $$work/ 2>/dev/null; \
		echo "fuzz: $$name for $(FUZZ_SECONDS)s"; \
		if ! $$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
			-dict=tests/fuzz/$${name#fuzz_}.dict -print_final_stats=1 -artifact_prefix=$(FUZZ)/ \
			$$work >$(FUZZ)/$$name.log 2>&1; then \
			tail -n 60 $(FUZZ)/$$name.log; echo "fuzz: $$name FAILED (crash input in $(FUZZ)/)"; \
			rm -rf $$work; exit 1; \
		fi; \
		grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' $(FUZZ)/$$name.log; \
		rm -rf $$work; \
	done

bench: build
	@$(SETUP) --bench
	tests/bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ)
