# hike: the two commands of the README, and what they stand on.
SWIFT ?= swift
HIKE := .build/debug/hike

.PHONY: all deps build test test-kernels demo clean

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

clean:
	rm -rf .build
