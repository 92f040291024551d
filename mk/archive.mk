# mk/archive.mk: the message archive (src/archive/, store area "archive"). Its store unit test
# links only the store beside core.
TEST_MODS_store_archive := core store
# The admin API answers archive.stats and archive.purge (src/archive, and the signal layer below it).
TEST_MODS_admin += signal archive
# The shared text of a message between two local accounts (archive/writer.c).
TEST_MODS_archive_text := core xml jid tls auth store accounts signal archive
