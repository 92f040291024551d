# mk/signal.mk: the router's unit test links the router without the modules above it (services,
# IM core, chat service, XMPP): fake sessions and hooks stand in for them.
TEST_MODS_router := core xml jid tls auth store accounts signal

# test_convert links the stanza conversion (xmpp/convert.c) and the signal object alone: the
# rest of xmpp/ needs the whole server, and the router needs the store.
TEST_MODS_convert := core xml jid
$(BUILD)/tests/test_convert: $(BUILD)/obj/signal/signal.o $(BUILD)/obj/xmpp/convert.o
