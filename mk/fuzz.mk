# mk/fuzz.mk: the libFuzzer targets of tests/fuzz, and a deterministic run of them for CI
# (fixed seed and run count, so a CI result does not depend on the machine's speed).
include tests/fuzz/Makefile.fuzz

.PHONY: fuzz-ci
fuzz-ci:
	$(MAKE) fuzz-smoke FUZZ_TIME=120 FUZZ_EXTRA='-seed=1 -runs=30000'

TEST_EXTRA += fuzz-ci
