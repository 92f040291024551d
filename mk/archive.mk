# mk/archive.mk: the message archive (src/archive/, store area "archive"). Its store unit test
# links only the store beside core.
TEST_MODS_store_archive := core store
