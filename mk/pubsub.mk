# mk/pubsub.mk: publish-subscribe (src/pubsub/). The node configuration's unit test links only
# config.c beside core and xml.
TEST_MODS_pubsub_config := core xml
$(BUILD)/tests/test_pubsub_config: $(BUILD)/obj/pubsub/config.o
