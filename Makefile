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
demo: build
	$(HIKE) doctor
	$(HIKE) demo vpn

clean:
	rm -rf .build
