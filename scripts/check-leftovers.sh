#!/usr/bin/env bash
# Fails when tests, the doctor or the demo left kernel state behind: namespaces (and with them
# their veths and attached programs) or pins on the bpffs.
set -u
left=()
while read -r ns _; do
  case "$ns" in hiket-*|hike-demo-*|hike-doctor-*) left+=("namespace $ns") ;; esac
done < <(ip netns list 2>/dev/null)
for pin in /sys/fs/bpf/hiket-* /sys/fs/bpf/hike-doctor-* /sys/fs/bpf/hike-demo-* /sys/fs/bpf/hike/hiket-* /run/hike/hiket-*; do
  [ -e "$pin" ] && left+=("pin $pin")
done
if [ ${#left[@]} -gt 0 ]; then
  echo "check-leftovers: the run left kernel state behind:" >&2
  printf '  %s\n' "${left[@]}" >&2
  exit 1
fi
echo "check-leftovers: no namespace or pin left behind"
