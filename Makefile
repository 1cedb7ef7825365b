# hike: the two commands of the README, and what they stand on.
SWIFT ?= swift
HIKE := .build/debug/hike

.PHONY: all deps build test demo clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

# Every test: unit tests and kernel tests (root; they create and delete their own namespaces).
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
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
