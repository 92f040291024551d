# mk/cluster.mk: the whole integration suite once more on the PostgreSQL store (issue 19), each
# server on its own database of one throwaway cluster (tests/integration/pgfixture.py). The
# normal (non-ASan) build keeps the extra CI time low; the ASan run on SQLite covers memory.

.PHONY: test-postgresql
test-postgresql: all
	STARLING_STORE=postgresql STARLING_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q \
	  -p no:cacheprovider tests/integration

TEST_EXTRA += test-postgresql
