# mk/fuzz.mk: the libFuzzer targets of tests/fuzz, and a deterministic run of them for CI
# (fixed seed and run count, so a CI result does not depend on the machine's speed).
include tests/fuzz/Makefile.fuzz

# The whole-stack targets run a few hundred inputs a second (stanza) or about a hundred
# (admin_api, which hashes passwords and digests the store per request): fewer runs keep each
# under a minute on one core; the committed seeds (regress-* included) always run first.
FUZZ_CI_RUNS := 30000
FUZZ_CI_RUNS_stanza := 8000
FUZZ_CI_RUNS_admin_api := 6000

.PHONY: fuzz-ci
fuzz-ci:
	$(MAKE) fuzz-smoke FUZZ_TIME=120 FUZZ_EXTRA='-seed=1 -runs=$(FUZZ_CI_RUNS)' \
	  FUZZ_EXTRA_stanza='-runs=$(FUZZ_CI_RUNS_stanza)' \
	  FUZZ_EXTRA_admin_api='-runs=$(FUZZ_CI_RUNS_admin_api)'

TEST_EXTRA += fuzz-ci
