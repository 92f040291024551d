# mk/im.mk: the instant-messaging core (src/im/: presence, roster, offline, blocking, carbons).
# The state machine's unit test links only the pure state machine beside core.
TEST_MODS_substate := core
$(BUILD)/tests/test_substate: $(BUILD)/obj/im/substate.o
