# mk/ops.mk: packaging (issue 20): man pages generated from docs/, `make install` with PREFIX and
# DESTDIR into FHS paths, the systemd unit, the Debian package, and their checks in `make test`.

# The data directory compiled in as the default of -d (starlingd, starlingctl).
ifdef DEFAULT_DATADIR
CFLAGS_ALL += -DSTARLING_DEFAULT_DATADIR='"$(DEFAULT_DATADIR)"'
endif

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/starling
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
CONFDIR := $(SYSCONFDIR)/starling
STATEDIR := $(LOCALSTATEDIR)/lib/starling
LOGDIR := $(LOCALSTATEDIR)/log/starling

MAN_OUT := $(BUILD)/man/starlingd.8 $(BUILD)/man/starlingctl.8 $(BUILD)/man/starling.conf.5
# $(call man_rule,NAME,SECTION,DESCRIPTION) > $(BUILD)/man/NAME.SECTION from its docs/ source.
MD2MAN = @mkdir -p $(dir $@) && $(PYTHON) scripts/md2man $(1) $(2) "$(3)" $< > $@.tmp && mv $@.tmp $@

$(BUILD)/man/starlingd.8: docs/starlingd.md scripts/md2man
	$(call MD2MAN,starlingd,8,the Starling XMPP server)
$(BUILD)/man/starlingctl.8: docs/starlingctl.md scripts/md2man
	$(call MD2MAN,starlingctl,8,the Starling admin command line)
$(BUILD)/man/starling.conf.5: docs/settings.md scripts/md2man
	$(call MD2MAN,starling.conf,5,Starling server settings)

.PHONY: man install packaging-check deb
man: $(MAN_OUT)

# The settings file is installed only when absent: the server rewrites it.
install: all man
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
	  $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSTEMDUNITDIR)
	install -m 755 $(BUILD)/starlingd $(BUILD)/starlingctl $(DESTDIR)$(SBINDIR)/
	install -m 644 $(BUILD)/man/starlingd.8 $(BUILD)/man/starlingctl.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 $(BUILD)/man/starling.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@CONFDIR@|$(CONFDIR)|g' \
	    -e 's|@STATEDIR@|$(STATEDIR)|g' -e 's|@LOGDIR@|$(LOGDIR)|g' dist/starling.service.in \
	    > $(DESTDIR)$(SYSTEMDUNITDIR)/starling.service
	chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/starling.service
	install -d -m 750 $(DESTDIR)$(CONFDIR) $(DESTDIR)$(STATEDIR) $(DESTDIR)$(LOGDIR)
	test -e $(DESTDIR)$(CONFDIR)/starling.conf || \
	  install -m 600 dist/starling.conf $(DESTDIR)$(CONFDIR)/starling.conf

# The Debian package from a copy of the tracked files (dpkg-buildpackage writes next to the
# tree): DEB_OUT receives the .deb. `make deb` is what CI's packaging check runs.
DEB_OUT ?= $(BUILD)/deb
deb:
	scripts/build-deb $(abspath $(DEB_OUT))

# make test: the install tree, the unit (systemd-analyze verify), the man pages, the .deb.
packaging-check: all
	STARLING_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q -p no:cacheprovider tests/packaging

TEST_EXTRA += packaging-check
