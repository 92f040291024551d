# mk/sm.mk: XEP-0198 stream management (src/xmpp/sm.c). Its counter arithmetic is header-only
# (src/xmpp/sm.h): the unit test links only core.
TEST_MODS_sm := core
