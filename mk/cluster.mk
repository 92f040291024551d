# mk/cluster.mk: the whole integration suite once more on the PostgreSQL store (issue 19), each
# server on its own database of one throwaway cluster (tests/integration/pgfixture.py). The
# normal (non-ASan) build keeps the extra CI time low; the ASan run on SQLite covers memory.

.PHONY: test-postgresql
test-postgresql: all
	STARLING_STORE=postgresql STARLING_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q \
	  -p no:cacheprovider tests/integration

TEST_EXTRA += test-postgresql

# bench/cluster.py for a moment (three nodes, nats-server, PostgreSQL; ~10 s), then loadgen
# against two nodes following <see-other-host/> (~6 s): harness errors fail it, speed never does.
.PHONY: bench-smoke-cluster
bench-smoke-cluster: all $(BUILD)/loadgen
	$(PYTHON) bench/cluster.py latency -n 20 --build $(abspath $(BUILD))
	$(PYTHON) bench/cluster.py throughput --smoke --build $(abspath $(BUILD))

TEST_EXTRA += bench-smoke-cluster
