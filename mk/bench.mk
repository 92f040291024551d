# mk/bench.mk: the load generator (bench/) and its smoke test against a fresh starlingd.
# The harness is not part of pass/fail on speed: the smoke fails only on harness errors.

BENCH_OBJ := $(BUILD)/obj/bench/loadgen.o $(BUILD)/obj/bench/lg_util.o

$(BUILD)/obj/bench/%.o: bench/%.c bench/lg_util.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Ibench -MMD -MP -c -o $@ $<

$(BUILD)/loadgen: $(BENCH_OBJ) $(call modobjs,core)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

.PHONY: bench bench-smoke
bench: $(BUILD)/loadgen

# Each scenario Starling supports, once, at tiny size (seconds).
bench-smoke: $(BUILD)/loadgen $(BUILD)/starlingd $(BUILD)/starlingctl
	$(PYTHON) bench/smoke.py --build $(abspath $(BUILD))

TEST_EXTRA += bench-smoke
