# hike: the two commands of the README, and what they stand on.
SWIFT ?= swift
HIKE := .build/debug/hike

.PHONY: all deps build test test-kernels demo install uninstall clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

# Every test: unit tests and kernel tests (root; they create and delete their own namespaces).
# The tests that need the kernel's own SRv6 as reference peer run in the reference VM (Debian's
# 6.12 kernel in qemu, scripts/kernel-vm.sh) when the host kernel lacks seg6/seg6local.
test: deps
	$(SWIFT) build --build-tests
	@scripts/run-tests.sh
	@scripts/check-leftovers.sh

# The kernel tests and `hike doctor` on Debian 6.1, Debian 6.12 (reference VM) and the host;
# prints the table of supported kernels (README).
test-kernels: deps
	$(SWIFT) build --build-tests
	@scripts/test-kernels.sh
	@scripts/check-leftovers.sh

# The main job: the doctor, then the VPN testbed over SRv6 with loss and delay monitoring
# (docs/demo.md). `hike demo ping-count` is the smaller first demo.
# Ends by checking that the demo removed what it made: testbed vpn's namespaces, pins, state
# (only its own: other testbeds may be up).
demo: build
	$(HIKE) doctor
	$(HIKE) demo vpn
	@left="$$(ip netns list | awk '{print $$1}' | grep '^hike-tb-vpn-'; ls -d /sys/fs/bpf/hike/hike-tb-vpn-* /run/hike/hike-tb-vpn-* /run/hike/testbeds/vpn.json 2>/dev/null)"; \
	if [ -n "$$left" ]; then echo "make demo: the demo left behind:" $$left >&2; exit 1; fi; \
	echo "make demo: nothing left behind"

# The binary, the daemon's systemd unit and configuration, the docs:
#   make install PREFIX=/usr/local   (DESTDIR=… for a staging root; SYSCONFDIR defaults to /etc)
#   systemctl daemon-reload && systemctl enable --now hike
PREFIX ?= /usr/local
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(if $(filter /usr/local,$(PREFIX)),/etc,$(PREFIX)/etc))
UNITDIR ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
BINDIR := $(PREFIX)/bin
DOCDIR := $(PREFIX)/share/doc/hike
install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/hike $(DESTDIR)$(DOCDIR)
	install -m 0755 $(HIKE) $(DESTDIR)$(BINDIR)/hike
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
		packaging/hike.service > $(DESTDIR)$(UNITDIR)/hike.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/hike.service
	@# An existing configuration is the operator's: it is never overwritten.
	[ -e $(DESTDIR)$(SYSCONFDIR)/hike/daemon.yaml ] || install -m 0644 packaging/daemon.yaml $(DESTDIR)$(SYSCONFDIR)/hike/daemon.yaml
	install -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/
	@echo "installed $(DESTDIR)$(BINDIR)/hike and $(DESTDIR)$(UNITDIR)/hike.service (configuration: $(SYSCONFDIR)/hike/daemon.yaml)"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/hike $(DESTDIR)$(UNITDIR)/hike.service
	rm -rf $(DESTDIR)$(DOCDIR)
	@echo "left $(DESTDIR)$(SYSCONFDIR)/hike/daemon.yaml in place (the operator's configuration)"

clean:
	rm -rf .build
