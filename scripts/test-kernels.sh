#!/usr/bin/env bash
# make test-kernels: the whole kernel test set (every *KernelTests target) and `hike doctor` on
# each kernel of the matrix — Debian 12's 6.1 LTS, Debian's 6.12 LTS (both booted in the
# reference VM, scripts/kernel-vm.sh) and the host's — then a table of what each supports:
#
#   kernel | objects load | kernel tests passed / total | features missing | time
#
#   scripts/test-kernels.sh [--kernels "host 6.12 6.1"] [--filter REGEX] [--markdown FILE] [--cpus N]
#
# In the guests (TCG: several times slower) the VM differential test runs 1,000 chain sets
# (HIKE_VM_DIFF_COUNT), the host its full 10,000; --cpus is the guests' CPUs (default 2).
#
# Exits non-zero when a kernel test failed on a kernel that has what the test needs, or on any
# kernel when --strict is given. Logs go to ${HIKE_TEST_KERNELS_LOGS:-/tmp/hike-test-kernels}.
set -uo pipefail
cd "$(dirname "$0")/.."

kernels="host 6.12 6.1" filter='KernelTests\.' markdown= strict=0 cpus=2
while [ $# -gt 0 ]; do
  case "$1" in
    --kernels) kernels=${2:?}; shift 2 ;;
    --filter) filter=${2:?}; shift 2 ;;
    --markdown) markdown=${2:?}; shift 2 ;;
    --strict) strict=1; shift ;;
    --cpus) cpus=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test-kernels: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

bundle=.build/debug/hikePackageTests.xctest hike=.build/debug/hike
for f in "$bundle" "$hike"; do
  [ -x "$f" ] || { echo "test-kernels: $f is missing: swift build --build-tests first" >&2; exit 2; }
done
logs=${HIKE_TEST_KERNELS_LOGS:-/tmp/hike-test-kernels}
mkdir -p "$logs"

# What runs on each kernel: the doctor's JSON between markers, then the kernel tests.
inner="echo '@@doctor'; $hike doctor --json; echo '@@end'; $bundle --testing-library swift-testing --filter '$filter'"

rows=() status=0
for k in $kernels; do
  log="$logs/$k.log"
  echo "test-kernels: $k: running (log: $log)" >&2
  start=$(date +%s)
  if [ "$k" = host ]; then
    release=$(uname -r)
    bash -c "$inner" >"$log" 2>&1
  else
    release=$(scripts/kernel-vm.sh --quiet --fetch-only --kernel "$k") || { echo "test-kernels: cannot prepare kernel $k" >&2; exit 2; }
    HIKE_DIFF_COUNT=${HIKE_VM_DIFF_COUNT:-1000} scripts/kernel-vm.sh --quiet --timeout 10800 --cpus "$cpus" \
      --kernel "$k" -- bash -c "$inner" >"$log" 2>&1
  fi
  seconds=$(( $(date +%s) - start ))
  clean=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
  doctor=$(printf '%s\n' "$clean" | sed -n '/^@@doctor$/,/^@@end$/p' | sed '1d;$d')
  read -r objects missing < <(printf '%s' "$doctor" | python3 -c '
import json, sys
try:
    checks = json.load(sys.stdin)
except ValueError:
    print("? doctor-failed"); sys.exit()
by = {c["name"]: c for c in checks}
o = by.get("objects-load")
objects = "all" if o and o["verdict"] == "ok" else (o["detail"].split(" objects")[0].replace(" of ", "-of-") + "-rejected" if o else "?")
missing = [c["name"] for c in checks if c["verdict"] != "ok"]
print(objects, ",".join(missing) or "none")')
  passed=$(printf '%s\n' "$clean" | grep -cE '^. Test [^ ]+\(.*\) passed after')
  failed=$(printf '%s\n' "$clean" | grep -cE '^. Test [^ ]+\(.*\) failed after')
  total=$((passed + failed))
  rows+=("| $k ($release) | ${objects//-/ } | $passed / $total | ${missing//,/, } | $((seconds / 60)) min $((seconds % 60)) s |")
  echo "test-kernels: $k: $passed of $total kernel tests passed in ${seconds} s" >&2
  if [ "$failed" -gt 0 ] && { [ $strict = 1 ] || [ "$missing" = none ]; }; then status=1; fi
done

tests="kernel tests"
[ "$filter" = 'KernelTests\.' ] || tests="tests matching $filter"
table=$(printf '%s\n' "| kernel | objects load | $tests passed / total | features missing (hike doctor) | time |" \
  "|---|---|---|---|---|" "${rows[@]}")
echo "$table"
[ -n "$markdown" ] && echo "$table" >"$markdown"
exit $status
