#!/usr/bin/env bash
# Runs every test (make test). Unit and kernel tests run on the host kernel. The tests that use
# the kernel's own SRv6 as the reference peer (interop, byte equality, kernel-only lines, the
# topologies routed by kernel seg6) need seg6/seg6local routes: where the host kernel lacks them
# they run in the reference VM (scripts/kernel-vm.sh, Debian's 6.12 kernel), never skipped.
# A test that needs them calls KernelTest.requireKernelSRv6() and fails wherever they are missing.
# The same for the tests that send live frames (hike bench's generator) on a kernel that refuses
# them (hike doctor --check test-run-live-frames).
#
#   scripts/run-tests.sh [--vm-kernel 6.12] [--where auto|host|vm] [-- EXTRA TEST ARGUMENTS]
#
# Ends with a line "N passed, N failed" over both runs.
set -uo pipefail
cd "$(dirname "$0")/.."

vm_kernel=6.12 where=auto extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --vm-kernel) vm_kernel=${2:?}; shift 2 ;;
    --where) where=${2:?}; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-tests: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

bundle=.build/debug/hikePackageTests.xctest
[ -x "$bundle" ] || { echo "run-tests: $bundle is missing: swift build --build-tests first" >&2; exit 2; }

# The tests that need the kernel's SRv6 (Swift Testing IDs, as regular expressions).
kernel_peer=(
  'SRv6KernelTests\.InteropTests/'
  'SRv6KernelTests\.KernelEqualityTests/'
  'SRv6KernelTests\.MalformedSRHTests/theKernelAnswersWhatNeedsAnICMPv6Error'
  'SRv6KernelTests\.ApplyShowTests/kernelRoutes'
  'HikeRuntimeKernelTests\.TrafficGeneratorTests/theKernelAcceptsEverySRv6Frame'
  'MonitoringKernelTests\.WireFormatTests/'
  'MonitoringKernelTests\.LossMonitoringTests/'
  'MonitoringKernelTests\.STAMPAndMetricsTests/'
  'TestbedKernelTests\.TestbedKernelTests/kernel'
  'TestbedKernelTests\.WingTestbedTests/kernel'
  'DemoKernelTests\.VPNDemoTests/theKernelsHybrid'
  'NetKitKernelTests\.SegmentRoutingRouteTests/'
)

# The tests that send live frames (BPF_F_TEST_XDP_LIVE_FRAMES: hike bench's generator), which
# some kernels refuse although new enough (EPERM): they run in the reference VM there.
live_frames=(
  'BPFKitKernelTests\.TestRunTests/liveFrames'
  'HikeRuntimeKernelTests\.TrafficGeneratorTests/'
  'HikeRuntimeKernelTests\.LossMonitoringBenchTests/'
)

# Whether this kernel takes a seg6local route (CONFIG_IPV6_SEG6_LWTUNNEL): ask it, in a
# namespace of our own.
host_has_seg6() {
  local ns="hiket-$$-seg6probe" ok=1
  ip netns add "$ns" || return 2
  ip -n "$ns" link set lo up  # a kernel with seg6 refuses a route through a device that is down
  ip -n "$ns" -6 route add fc00:5e96::1/128 encap seg6local action End dev lo 2>/dev/null && ok=0
  ip netns del "$ns"
  return $ok
}

passed=0 failed=0
# Runs the bundle with the given filter arguments; adds its counts to passed/failed.
run_bundle() {
  local label=$1 log status
  shift
  log=$(mktemp)
  "$@" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  # Swift Testing prints "✔ Test x() passed after" / "✘ Test x() failed after" per test
  # (parameterized tests once, over all their cases).
  local p f
  p=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -cE '^. Test [^ ]+\(.*\) passed after')
  f=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -cE '^. Test [^ ]+\(.*\) failed after')
  rm -f "$log"
  if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi  # a crash or a failure outside a test
  passed=$((passed + p)) failed=$((failed + f))
  echo "run-tests: $label: $p passed, $f failed (exit $status)"
}

# Whether this kernel runs live frames: hike doctor's own check, alone.
host_has_live_frames() {
  .build/debug/hike doctor --check test-run-live-frames >/dev/null 2>&1
}

filters=() skips=() vm_groups=()
case "$where" in
  auto)
    host_has_seg6; probe=$?
    [ $probe -eq 2 ] && { echo "run-tests: cannot create a namespace to probe the kernel (root?)" >&2; exit 2; }
    vm_tests=()
    if [ $probe -ne 0 ]; then
      vm_tests+=("${kernel_peer[@]}")
      vm_groups+=("the tests that use the kernel's SRv6 as reference peer (${#kernel_peer[@]} groups): no seg6/seg6local routes here")
    fi
    if ! host_has_live_frames; then
      vm_tests+=("${live_frames[@]}")
      vm_groups+=("the tests that send live frames (${#live_frames[@]} groups): this kernel refuses BPF_F_TEST_XDP_LIVE_FRAMES")
    fi
    for t in "${vm_tests[@]}"; do filters+=(--filter "$t"); skips+=(--skip "$t"); done
    if [ ${#vm_tests[@]} -eq 0 ]; then where=host; else where=split; fi ;;
  host|vm) ;;
  *) echo "run-tests: --where is auto, host or vm" >&2; exit 2 ;;
esac

case "$where" in
  host)
    echo "run-tests: every test on the host kernel $(uname -r)"
    run_bundle "host $(uname -r)" "$bundle" --testing-library swift-testing "${extra[@]}" ;;
  vm)
    echo "run-tests: every test in the reference VM (Debian $vm_kernel)"
    run_bundle "reference VM $vm_kernel" scripts/kernel-vm.sh --kernel "$vm_kernel" -- \
      "$bundle" --testing-library swift-testing "${extra[@]}" ;;
  split)
    echo "run-tests: on the host kernel $(uname -r), these run in the reference VM (Debian $vm_kernel), the rest here:"
    for group in "${vm_groups[@]}"; do echo "run-tests:   $group"; done
    run_bundle "host $(uname -r)" "$bundle" --testing-library swift-testing "${skips[@]}" "${extra[@]}"
    # One test at a time in the guest: under TCG (no KVM), a live-frames test run on one vCPU
    # while another test attaches XDP (the kernel patches its XDP dispatcher's code) was seen to
    # panic the guest (int3 in bpf_dispatcher_xdp_func).
    run_bundle "reference VM $vm_kernel" scripts/kernel-vm.sh --kernel "$vm_kernel" -- \
      "$bundle" --testing-library swift-testing --no-parallel "${filters[@]}" "${extra[@]}" ;;
esac

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
