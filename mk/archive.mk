# mk/archive.mk: the message archive (src/archive/, store area "archive"). Its store unit test
# links only the store beside core.
TEST_MODS_store_archive := core store
# The admin API answers archive.stats and archive.purge (src/archive, and the signal layer below it).
TEST_MODS_admin += signal archive
