#!/usr/bin/env bash
# Installs the Debian packages hike needs to build and test. The Swift toolchain (with its clang,
# which has the BPF backend) is expected at /opt/swift or on PATH.
# With CI=true it always refreshes the package lists and installs; otherwise only when something
# is missing.
set -euo pipefail

packages=(
  libbpf-dev      # libbpf 1.1 headers and library (CBPF), its bpf_helpers.h for eBPF C
  libelf-dev zlib1g-dev
  linux-libc-dev  # <linux/bpf.h> and friends
  pkg-config      # SwiftPM finds libbpf through it
  iproute2        # ip netns / link / route, seg6 and seg6local
  iputils-ping    # real pings in kernel tests and the demo
  tshark          # dissects STAMP and AltMark traffic in the packages' tests
  nftables        # the SR proxy testbed's legacy functions are nftables firewalls
  tmux            # `hike testbed up --tmux`: a window per node
  python3-prometheus-client  # parses `hike pm serve` output in the monitoring tests (/usr/bin/python3)
  ipset iptables  # the ddos benchmark's ipset/ip6tables DUT
  ethtool         # turns off veth checksum offload where XDP redirects locally sent UDP/TCP
  python3-grpcio python3-grpc-tools  # the daemon tests' eclat client, generated from Protos/eclat.proto (/usr/bin/python3)
  prometheus      # the daemon tests scrape /metrics with a real Prometheus server
  curl libcurl4   # those tests query it; hike controller --prometheus (FoundationNetworking's URLSession)
  openssl         # the daemon tests make their CA and certificates
  qemu-system-x86 busybox-static kmod xz-utils zstd cpio  # the reference VM (scripts/kernel-vm.sh)
  dnsmasq-base    # the wing testbed's DNS server (a CNAME in front of the service)
  python3-venv    # the controller tests' HawkEye client (below)
  make
)

# The controller tests generate a HawkEye client from Protos/hawkeye/intent.proto, which uses
# proto3 `optional`: Debian's grpc-tools (1.14) predates it, so grpcio-tools comes from PyPI into
# a virtual environment of its own.
python_env=/var/cache/hike/python
grpcio_tools=1.85.1
python_ready() { "$python_env/bin/python" -c "import grpc_tools" 2>/dev/null; }
install_python() {
  python_ready && return 0
  echo "install-deps: grpcio-tools $grpcio_tools from PyPI into $python_env"
  rm -rf "$python_env"
  /usr/bin/python3 -m venv "$python_env"
  "$python_env/bin/pip" install -q "grpcio-tools==$grpcio_tools"
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${CI:-}" != "true" ] && [ ${#missing[@]} -eq 0 ] && python_ready; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing Debian packages: ${missing[*]:-none}$(python_ready || echo "; grpcio-tools in $python_env"); run as root (sudo make …)" >&2
  exit 1
fi
echo "install-deps: apt-get update and install ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
install_python
