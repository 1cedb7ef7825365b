#!/usr/bin/env bash
# Fails when tests, the doctor, the demo or testbeds left state behind: namespaces (and with them
# their veths and attached programs), pins on the bpffs, HIKe instance state under /run/hike,
# testbed state files and tmux sessions.
set -u
left=()
while read -r ns _; do
  case "$ns" in hiket-*|hike-demo-*|hike-doctor-*|hike-tb-*|hike-seg6probe-*) left+=("namespace $ns") ;; esac
done < <(ip netns list 2>/dev/null)
for pin in /sys/fs/bpf/hiket-* /sys/fs/bpf/hike-doctor-* /sys/fs/bpf/hike-demo-* /sys/fs/bpf/hike/hiket-* /sys/fs/bpf/hike/hike-tb-*; do
  [ -e "$pin" ] && left+=("pin $pin")
done
for state in /run/hike/hiket-* /run/hike/hike-tb-* /run/hike/testbeds/*.json; do
  [ -e "$state" ] && left+=("state $state")
done
if command -v tmux >/dev/null; then
  while read -r session; do
    case "$session" in hike-tb-*|hiket-*) left+=("tmux session $session") ;; esac
  done < <(tmux list-sessions -F '#{session_name}' 2>/dev/null)
fi
if [ ${#left[@]} -gt 0 ]; then
  echo "check-leftovers: the run left kernel state behind:" >&2
  printf '  %s\n' "${left[@]}" >&2
  exit 1
fi
echo "check-leftovers: no namespace, pin, state or tmux session left behind"
