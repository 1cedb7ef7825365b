#!/usr/bin/env bash
# What hike's commands print, for comparing two builds: runs load/unload, chain, loader, map, prog,
# events, reset and srv6 commands (errors included) on the examples in a namespace and an instance
# of its own, one file per command in OUTDIR, with times, program IDs and the generated names
# replaced. Compare two builds with: diff -r OUT_A OUT_B.
#
#   scripts/cli-outputs.sh HIKE OUTDIR        (root; removes its namespace and instance)
set -u
hike=$1 out=$2
mkdir -p "$out"
id=$(printf %07d $$); ns=clicmpns-$id inst=clicmp-$id
ip netns add $ns
trap 'ip netns del $ns; $hike reset --instance $inst >/dev/null 2>&1' EXIT
for pair in "veth0 veth0p" "veth-r1h1 p1" "veth-r1r2 p2" "veth-r2r1 p3" "veth-r2h2 p4" "veth-h2r2 p5"; do
  set -- $pair
  ip -n $ns link add $1 type veth peer name $2; ip -n $ns link set $1 up; ip -n $ns link set $2 up
done
cd "$(dirname "$0")/.."
n=0
step() { n=$((n+1)); { echo "\$ hike $*"; "$hike" "$@" --instance $inst 2>&1; echo "status $?"; } | sed "s/$ns/NS/g; s/$inst/INST/g; s/ ([0-9]* pins)/ (N pins)/; s/[0-9T:-]\{19\}Z/TIME/g; s/\(\"programID\" : \)[0-9]*/\1ID/; s/  [0-9]\{3,\}$/  ID/" > "$out/$(printf %02d $n).txt"; }
step load examples/ddos/ddos.eclat -D DEVNAME veth0 --netns $ns
step load examples/ddos/ddos.eclat -D DEVNAME veth0 --netns $ns
step chain list
step load examples/vpn/r1-xdp.eclat -D DEVNAME veth-r1h1 -D CORE veth-r1r2 -D POLICY 0 -D SIDX 0 -D SID fc00:1::d6/128 --netns $ns
step load examples/vpn/r2-xdp.eclat -D DEVNAME veth-r2r1 -D HOSTDEV veth-r2h2 -D SID fc00:2::d6/128 -D SIDX 0 -D RETURN cafe::1/128 -D POLICY 0 --netns $ns
step load examples/vpn/h2-stamp.eclat -D DEVNAME nosuchdev --netns $ns
step load examples/vpn/h2-stamp.eclat -D DEVNAME veth-h2r2
step load examples/vpn/h2-stamp.eclat -D DEVNAME veth-h2r2 --netns $ns
step load examples/vpn/h2-receive.eclat -D DEVNAME veth-h2r2 --netns $ns
step chain list --json
step loader list
step unload examples/vpn/h2-receive.eclat -D DEVNAME veth-h2r2 --netns $ns
step unload examples/ddos/ddos.eclat -D DEVNAME veth0 --netns $ns
step unload examples/ddos/ddos.eclat -D DEVNAME veth0 --netns $ns
step chain list
printf 'chain c1\n    call hike_pass\n' > /tmp/clicmp-$id.hvm
step chain load /tmp/clicmp-$id.hvm
step chain load /tmp/clicmp-$id.hvm --json
printf 'chain c2\n    call no_such_program\n' > /tmp/clicmp-$id.hvm
step chain load /tmp/clicmp-$id.hvm
printf 'chain c3\n    call monitor\n    goto +7\n' > /tmp/clicmp-$id.hvm
step chain load /tmp/clicmp-$id.hvm
rm -f /tmp/clicmp-$id.hvm
step loader list --json
step map dump vm/hvm_events
step map dump nosuchmap
step map update vm/hvm_chain_ids 1 2 --flags exist
step map update vm/hvm_chain_ids '{bad' 2
step map update vm/hvm_progs 1 2
step map delete vm/hvm_chains 1
step prog load ip6_classifier
step events
step loader detach veth9 --netns $ns
step prog load monitor no_such_program
printf 'interfaces: [veth0]\nlocal-sids:\n  - sid: fc00::1/128\n    behaviour: End.DT6\n' > /tmp/clicmp-$id.yaml
step srv6 apply /tmp/clicmp-$id.yaml
rm -f /tmp/clicmp-$id.yaml
step srv6 apply /tmp/clicmp-$id.yaml
step reset
