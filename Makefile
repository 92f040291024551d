# Starling: one non-recursive Makefile. `make run` and `make test` are the two commands of README.md.

PKGS := openssl expat libgsasl sqlite3 libidn libcares libmicrohttpd jansson icu-i18n icu-uc libpq libnats
CC ?= cc
BUILD ?= build
SAN ?=
OPT ?= -O2

DEP_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
DEP_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wvla -Werror
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE $(WARN) -g $(OPT) -Isrc $(DEP_CFLAGS) $(CFLAGS)
ifeq ($(SAN),1)
CFLAGS_ALL += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS_ALL += -fsanitize=address,undefined
endif
LDFLAGS_ALL += $(LDFLAGS)
LIBS_ALL := $(DEP_LIBS) -lwslay -lpthread -lm

MODULES := core xml jid tls auth store accounts signal archive im xmpp services chatroom pubsub cluster admin web webadmin
LIB_SRC := $(foreach m,$(MODULES),$(wildcard src/$(m)/*.c))
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
modobjs = $(filter $(foreach m,$(1),$(BUILD)/obj/$(m)/%),$(LIB_OBJ))

# Unit tests: tests/unit/test_<name>.c, linked with the modules named in TEST_MODS_<name>
# (all modules when not named), so a module can be tested while its neighbours change.
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_NAMES := $(UNIT_SRC:tests/unit/test_%.c=%)
UNIT_BIN := $(UNIT_NAMES:%=$(BUILD)/tests/test_%)
TEST_MODS_core := core
TEST_MODS_log := core

TEST_MODS_xml := core xml
TEST_MODS_jid := core jid
TEST_MODS_sasl := core auth tls
TEST_MODS_tls := core tls
TEST_MODS_store := core store
TEST_MODS_accounts := core xml store accounts auth jid tls
TEST_MODS_admin := core xml store accounts auth jid tls admin

DATADIR ?= ./var
# Debian's interpreter: python3-pytest and python3-slixmpp are installed for it.
PYTHON ?= /usr/bin/python3

.PHONY: all run test unit unit-asan integration deps test-deps clean style

# Areas add their own build and test steps in mk/<area>.mk, included here before the rules:
# EXTRA_OBJ (objects linked into starlingd, e.g. generated sources), TEST_EXTRA (targets that
# `make test` runs after the unit tests; the integration suite runs last so its summary ends
# the output).
# `make` with no target builds the server and its admin tool, whatever the fragments define first.
.DEFAULT_GOAL := all
EXTRA_OBJ :=
TEST_EXTRA :=
-include $(sort $(wildcard mk/*.mk))

all: $(BUILD)/starlingd $(BUILD)/starlingctl

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(BUILD)/obj/tools/%.o: tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(BUILD)/starlingd: $(BUILD)/obj/main.o $(LIB_OBJ) $(EXTRA_OBJ)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

$(BUILD)/starlingctl: $(BUILD)/obj/tools/starlingctl.o $(call modobjs,core) \
                     $(BUILD)/obj/store/sqlite_maint.o
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

$(BUILD)/obj/tests/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit -MMD -MP -c -o $@ $<

.SECONDEXPANSION:
$(BUILD)/tests/test_%: $(BUILD)/obj/tests/test_%.o $$(call modobjs,$$(or $$(TEST_MODS_$$*),$(MODULES)))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL) $(CMOCKA_LIBS)

deps:
	@scripts/install-deps

test-deps:
	@scripts/install-deps --test

run: deps
	$(MAKE) all
	$(BUILD)/starlingd -d $(DATADIR)

# Runs one unit test binary per module; each prints cmocka's summary.
unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

unit-asan:
	$(MAKE) BUILD=build-asan SAN=1 OPT=-O1 unit all

integration: all
	STARLING_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q tests/integration

test: test-deps
	$(MAKE) all unit
	$(MAKE) unit-asan
	$(if $(strip $(TEST_EXTRA)),$(MAKE) $(TEST_EXTRA))
	STARLING_BUILD=$(abspath build-asan) $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

style:
	@! grep -nE '\b(strcpy|strcat|sprintf|strtok|atoi|strncpy)\(' src/*/*.c src/*.c tools/*.c || \
	  (echo "banned function used" && false)

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) build-asan -name '*.d' 2>/dev/null)
