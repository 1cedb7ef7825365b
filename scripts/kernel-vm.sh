#!/usr/bin/env bash
# Runs a command as root under a Debian kernel in qemu: the host's root file system read-only over
# 9p with a writable in-memory overlay, the caller's working directory and environment, output
# streamed live, and the command's exit status as ours. For kernel features the host kernel lacks
# (this host has no CONFIG_IPV6_SEG6_LWTUNNEL) and for checking other kernels' verifiers.
# Facts behind the choices: /work/shared/reference/kernel-vm.md.
set -euo pipefail
shopt -s inherit_errexit

prog='kernel-vm'
cache=$(realpath -m "${HIKE_KERNEL_CACHE:-/var/cache/hike/kernels}")  # the guest sees it by path

usage() {
  cat <<'EOF'
Usage:
  scripts/kernel-vm.sh [OPTIONS] -- COMMAND [ARGS...]
  scripts/kernel-vm.sh --fetch-only [--kernel K]
  scripts/kernel-vm.sh --list

Boots a Debian kernel in qemu with the host's root file system read-only over 9p plus a writable
in-memory overlay (writes inside the guest, even to the working directory, are lost at exit), and
runs COMMAND there as root in the caller's working directory. COMMAND's stdout and stderr stream
live to ours; its exit status is ours. The kernel package is downloaded (apt-get download, never
installed) and prepared once into the cache. Missing host tools (qemu-system-x86, busybox-static,
kmod, xz-utils, zstd, cpio) are installed with apt-get.

Options:
  --kernel K      6.12 (default): the newest linux-image-6.12.*+deb12-amd64[-unsigned] in apt;
                  6.1: the newest linux-image-6.1.0-*-amd64;
                  or a full package name (linux-image-...) or a kernel release (6.1.0-57-amd64)
  --mem SIZE      guest memory, qemu syntax (default 6G)
  --cpus N        guest CPUs (default 2)
  --timeout SECS  kill the guest after SECS seconds, 0 = never (default 3600)
  --quiet, -q     no banner or progress lines on stderr (errors are still printed)
  --accel A       auto (default): KVM if a test boot under it works (once per host boot), else
                  TCG; kvm or tcg force one
  --console FILE  also save the guest kernel's console log to FILE (kept anyway on a failure)
  --fetch-only    download and prepare the kernel, print its release (uname -r in the guest)
  --list          list the kernels in the cache, with their sizes
  -h, --help      this text

Inside the guest: /proc /sys /dev /dev/pts /dev/shm, tmpfs on /run and /tmp (not /tmp when the
working directory is under it: the host's /tmp is kept, writable in memory), bpffs on /sys/fs/bpf,
debugfs, tracefs, cgroup2; /lib/modules/$(uname -r) is the cached modules (modprobe works); lo is
up, ulimit -l unlimited, hostname hike-vm. The environment is PATH HOME TERM CI LANG LC_* HIKE_*
SWIFT_* from the caller, PWD, and HIKE_KERNEL_VM=<guest release>. stdin is /dev/null. COMMAND
sees a tty where ours is one, else a pipe; its stdout and stderr stay apart unless ours are the
same file. Anything it leaves running that still holds its output gets 10 s, then is killed.

Exit status: COMMAND's; 124 on timeout; 125 when preparing failed, the guest kernel panicked or
the guest never reported a status; 129/130/143 on HUP/INT/TERM.

Environment: HIKE_KERNEL_CACHE (default /var/cache/hike/kernels).
EOF
}

say() { [ "$quiet" = 1 ] || echo "$prog: $*" >&2; }
die() { echo "$prog: $*" >&2; exit 125; }

# ---------------------------------------------------------------------------------------------
# Arguments

kernel=6.12 mem=6G cpus=2 timeout=3600 quiet=0 accel=auto console_copy='' mode=run
cmd=()
while [ $# -gt 0 ]; do
  case "$1" in
    --kernel) kernel=${2:?--kernel needs a value}; shift 2 ;;
    --kernel=*) kernel=${1#*=}; shift ;;
    --mem) mem=${2:?--mem needs a value}; shift 2 ;;
    --mem=*) mem=${1#*=}; shift ;;
    --cpus) cpus=${2:?--cpus needs a value}; shift 2 ;;
    --cpus=*) cpus=${1#*=}; shift ;;
    --timeout) timeout=${2:?--timeout needs a value}; shift 2 ;;
    --timeout=*) timeout=${1#*=}; shift ;;
    --accel) accel=${2:?--accel needs a value}; shift 2 ;;
    --accel=*) accel=${1#*=}; shift ;;
    --console) console_copy=${2:?--console needs a file}; shift 2 ;;
    --console=*) console_copy=${1#*=}; shift ;;
    --quiet|-q) quiet=1; shift ;;
    --fetch-only) mode=fetch; shift ;;
    --list) mode=list; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; cmd=("$@"); break ;;
    -*) echo "$prog: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) cmd=("$@"); break ;;
  esac
done
[[ $mem =~ ^[0-9]+[KMGT]?$ ]] || { echo "$prog: --mem: not a size: $mem" >&2; exit 2; }
[[ $cpus =~ ^[1-9][0-9]*$ ]] || { echo "$prog: --cpus: not a count: $cpus" >&2; exit 2; }
[[ $timeout =~ ^[0-9]+$ ]] || { echo "$prog: --timeout: not seconds: $timeout" >&2; exit 2; }
case "$accel" in auto|kvm|tcg) ;; *) echo "$prog: --accel: auto, kvm or tcg" >&2; exit 2 ;; esac
if [ "$mode" = run ] && [ ${#cmd[@]} -eq 0 ]; then
  echo "$prog: no command given (… -- COMMAND [ARGS...]; see --help)" >&2; exit 2
fi

# ---------------------------------------------------------------------------------------------
# Cleanup: temp dirs, qemu and the output relays, on any exit (Ctrl-C and TERM included)

tmpdirs=() pids=()
# shellcheck disable=SC2317  # run by the trap
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ ${#tmpdirs[@]} -eq 0 ] || rm -rf "${tmpdirs[@]}"
}
trap cleanup EXIT
trap 'echo "$prog: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------------------------------------
# Host tools

ensure_tools() {
  local need=() bin
  for bin in qemu-system-x86_64:qemu-system-x86 depmod:kmod xz:xz-utils zstd:zstd cpio:cpio; do
    command -v "${bin%%:*}" >/dev/null || need+=("${bin#*:}")
  done
  # A static busybox for the initramfs (the dynamic busybox package would not run there).
  dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' ||
    need+=(busybox-static)
  [ ${#need[@]} -eq 0 ] && return
  [ "$(id -u)" = 0 ] || die "missing ${need[*]}; run as root or install them"
  echo "$prog: installing ${need[*]} (apt-get install --no-install-recommends)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
      die "apt-get install ${need[*]} failed"
  fi
}

# ---------------------------------------------------------------------------------------------
# Kernel package: resolve a name, download and prepare it once into the cache

# Prints the first of the given packages that apt can download (one apt-cache call for all).
first_available() {
  [ $# -gt 0 ] || return 1
  local have n
  have=$(apt-cache policy "$@" 2>/dev/null |
         awk '/^[^ ]/ {p = $1; sub(/:$/, "", p)} /Candidate:/ && $2 != "(none)" {print p}')
  for n; do grep -qxF -- "$n" <<<"$have" && { echo "$n"; return 0; }; done
  return 1
}

# Prints the package name for a --kernel value from apt's lists, or fails.
resolve_from_apt() {
  local k=$1 n
  local names=()
  case "$k" in
    6.12)
      # Newest 6.12.N first; the generic flavour (the cloud one has no 9p), unsigned or signed.
      for n in $(apt-cache pkgnames linux-image-6.12. 2>/dev/null |
                 sed -nE 's/^linux-image-6\.12\.([0-9]+)\+deb12-amd64(-unsigned)?$/\1/p' | sort -nru); do
        names+=("linux-image-6.12.$n+deb12-amd64-unsigned" "linux-image-6.12.$n+deb12-amd64")
      done ;;
    6.1)
      for n in $(apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
                 sed -nE 's/^linux-image-6\.1\.0-([0-9]+)-amd64(-unsigned)?$/\1/p' | sort -nru); do
        names+=("linux-image-6.1.0-$n-amd64" "linux-image-6.1.0-$n-amd64-unsigned")
      done
      # What the metapackage pulls in, in case the names above change shape.
      [ ${#names[@]} -gt 0 ] || names=("$(apt-cache depends linux-image-amd64 2>/dev/null |
                                           awk '/Depends: linux-image-/ {print $2; exit}')") ;;
    linux-image-*) names=("$k") ;;
    *) names=("linux-image-$k-unsigned" "linux-image-$k") ;;  # a release: 6.1.0-57-amd64
  esac
  first_available "${names[@]}"
}

# Newest prepared kernel in the cache for a --kernel value (used when apt cannot say).
resolve_from_cache() {
  local k=$1 pat d
  case "$k" in
    6.12) pat='linux-image-6.12.*+deb12-amd64*' ;;
    6.1) pat='linux-image-6.1.0-*-amd64*' ;;
    linux-image-*) pat=$k ;;
    *) pat="linux-image-$k*" ;;
  esac
  for d in "$cache"/$pat; do
    case "$d" in *cloud*|*-rt-*|*-dbg) continue ;; esac
    [ -f "$d/release" ] && basename "$d"
  done | sort -V | tail -n 1
}

# Prints the package for a --kernel value. Asking apt takes seconds, so the answer is remembered
# until apt's lists change.
resolve_kernel() {
  local k=$1 p='' m lists memo sibling
  lists=$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo 0)
  memo=$cache/.resolved-$(printf '%s' "$k" | tr -c 'A-Za-z0-9.+-' _)
  if [ -f "$memo" ] && read -r m p <"$memo" && [ "$m" = "$lists" ] && [ -n "$p" ]; then
    :
  elif p=$(resolve_from_apt "$k"); then
    if mkdir -p "$cache" && echo "$lists $p" >"$memo.$$"; then mv "$memo.$$" "$memo"; fi
  elif [ "$(id -u)" = 0 ] && say "no package for --kernel $k in apt's lists; apt-get update" &&
       { apt-get update -qq >/dev/null 2>&1 || true; } && p=$(resolve_from_apt "$k"); then
    :  # the lists were empty or stale
  else
    p=$(resolve_from_cache "$k")
    [ -n "$p" ] || die "no Debian kernel package for --kernel $k (apt-cache search linux-image-)"
    say "apt has no package for --kernel $k; using the cached $p"
  fi
  # The signed and unsigned packages of a version hold the same kernel: take the one we have.
  sibling=${p%-unsigned}; [ "$sibling" != "$p" ] || sibling=$p-unsigned
  [ -f "$cache/$p/release" ] || [ ! -f "$cache/$sibling/release" ] || p=$sibling
  echo "$p"
}

# Cache writes happen under a lock, in temp dirs renamed into place at the end, so that
# concurrent or interrupted runs never leave or use anything half-made.
lock_cache() { mkdir -p "$cache"; exec {lockfd}>"$cache/.lock"; flock "$lockfd"; }
unlock_cache() { flock -u "$lockfd"; exec {lockfd}>&-; }

# Downloads, extracts and depmods a package into $cache/$pkg (once).
prepare_kernel() {
  local pkg=$1 dir=$cache/$1 tmp deb rel
  [ -f "$dir/release" ] && return
  rm -rf "$cache"/.tmp.* "$cache"/.initrd.* "$dir"  # left by interrupted runs (we hold the lock)
  tmp=$(mktemp -d "$cache/.tmp.$pkg.XXXXXX")
  chmod 755 "$tmp"
  tmpdirs+=("$tmp")
  say "downloading $pkg (apt-get download, once)"
  if ! (cd "$tmp" && apt-get download -q "$pkg" >"$tmp/apt.log" 2>&1); then
    # The archive may have moved on since the last update.
    apt-get update -qq >/dev/null 2>&1 || true
    (cd "$tmp" && apt-get download -q "$pkg" >"$tmp/apt.log" 2>&1) ||
      { cat "$tmp/apt.log" >&2; die "apt-get download $pkg failed"; }
  fi
  deb=$(ls "$tmp"/*.deb)
  dpkg-deb -f "$deb" Version >"$tmp/version"
  dpkg-deb -x "$deb" "$tmp/root"
  rm -f "$deb" "$tmp/apt.log"
  rel=$(ls "$tmp/root/lib/modules")
  if [ -z "$rel" ] || [ ! -f "$tmp/root/boot/vmlinuz-$rel" ]; then die "$pkg: no kernel or modules inside"; fi
  depmod -b "$tmp/root" "$rel"
  echo "$rel" >"$tmp/release"  # last: marks the directory complete
  mv -T "$tmp" "$dir"
}

# The kernel to boot: the uncompressed ELF vmlinux out of the bzImage, entered through PVH, where
# the kernel has PVH; else the bzImage. Under TCG decompressing the kernel is slow: xz (6.1) takes
# ~5 s, zstd (6.12) ~1.5 s. Made once per kernel; a marker records that it cannot be.
prepare_vmlinux() {
  local dir=$1 rel bz off magic tmp unpack
  local LC_ALL=C  # bytes, not characters: read would swallow a newline after \xfd in UTF-8
  rel=$(cat "$dir/release")
  bz=$dir/root/boot/vmlinuz-$rel
  kernel_image=$bz
  [ -f "$dir/vmlinux" ] && { kernel_image=$dir/vmlinux; return; }
  [ -f "$dir/vmlinux.none" ] && return
  if grep -q '^CONFIG_PVH=y' "$dir/root/boot/config-$rel" 2>/dev/null; then
    tmp=$(mktemp "$cache/.tmp.vmlinux.XXXXXX"); tmpdirs+=("$tmp")
    # Like the kernel's scripts/extract-vmlinux: decompress from each xz or zstd signature until
    # an ELF file comes out.
    while IFS=: read -r off magic; do
      case "$magic" in *7zXZ*) unpack=(xz -dcq) ;; *) unpack=(zstd -dcq) ;; esac
      tail -c +$((off + 1)) "$bz" | "${unpack[@]}" >"$tmp" 2>/dev/null || true
      [ "$(head -c 4 "$tmp")" = $'\x7fELF' ] && break
    done < <(LC_ALL=C grep -obUaP '\xfd7zXZ\x00|\x28\xb5\x2f\xfd' "$bz")
    if [ "$(head -c 4 "$tmp")" = $'\x7fELF' ]; then
      chmod 644 "$tmp"; mv "$tmp" "$dir/vmlinux"; kernel_image=$dir/vmlinux; return
    fi
  fi
  : >"$dir/vmlinux.none"
}

# ---------------------------------------------------------------------------------------------
# initramfs: a static busybox, the modules 9p and the overlay need, and /init. Cached per kernel,
# keyed by the content of /init so that editing it here rebuilds it.
# /init does all the mounting with the in-memory busybox: under TCG every program started from the
# 9p root costs 0.1-0.5 s, so the guest's setup runs no dynamically linked program.

read -r -d '' initramfs_init <<'EOF' || true
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
fail() { echo "kernel-vm initramfs: $*"; poweroff -f; }
for m in $(cat /modules); do insmod "/lib/modules/$m" || fail "insmod $m"; done
# The accelerator probe only needs to get this far.
if grep -q kernel_vm_probe /proc/cmdline; then echo KERNEL-VM-PROBE-OK; poweroff -f; fi

# The new root: the host's root read-only over 9p under an in-memory upper layer.
n=/newroot
mkdir -p /lower /upper $n
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose root /lower ||
  fail "mount the host root over 9p"
mount -t tmpfs -o mode=755 upper /upper
mkdir /upper/data /upper/work
mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work overlay $n ||
  fail "mount the overlay"
# The run's share (stage 2, settings, exit status) on a fresh /run.
mount -t tmpfs -o mode=755,nosuid,nodev run $n/run
mkdir $n/run/kernel-vm
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out $n/run/kernel-vm ||
  fail "mount the run's share"
. $n/run/kernel-vm/env.sh

# Problems from here on are reported by stage 2 on the command's stderr.
warn() { echo "kernel-vm (guest): $*" | tee -a $n/run/kernel-vm.warnings; }
mnt() { eval "d=\${$#}"; mkdir -p "$d"; mount "$@" || warn "mount $* failed"; }
for d in dev proc sys; do mount --move /$d $n/$d; done
mnt -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $n/dev/pts
mnt -t tmpfs -o nosuid,nodev,mode=1777 shm $n/dev/shm
ln -sfn /proc/self/fd $n/dev/fd
ln -sfn /proc/self/fd/0 $n/dev/stdin
ln -sfn /proc/self/fd/1 $n/dev/stdout
ln -sfn /proc/self/fd/2 $n/dev/stderr
mnt -t bpf -o mode=700 bpf $n/sys/fs/bpf
mnt -t debugfs debugfs $n/sys/kernel/debug
mnt -t tracefs tracefs $n/sys/kernel/tracing
mnt -t cgroup2 cgroup2 $n/sys/fs/cgroup
# The cached modules as this kernel's (bound before /tmp's tmpfs in case the cache is under /tmp).
mnt --bind "$n$KVM_MODDIR" "$n/lib/modules/$KVM_REL"
[ "$KVM_TMPFS" = 1 ] && mnt -t tmpfs -o nosuid,nodev,mode=1777 tmp $n/tmp
hostname hike-vm
ip link set lo up || warn "ip link set lo up failed"
exec switch_root $n /bin/busybox sh /run/kernel-vm/stage2.sh
EOF

# Modules to load in the initramfs, dependencies first; built-in ones are skipped.
initramfs_modules() {
  local moddir=$1 m
  local -A seen=()
  local order=()
  visit() {
    local path=$1 dep
    [ -n "${seen[$path]:-}" ] && return
    seen[$path]=1
    # shellcheck disable=SC2013  # module paths have no spaces
    for dep in $(awk -v p="$path:" '$1 == p {$1 = ""; print; exit}' "$moddir/modules.dep"); do
      visit "$dep"
    done
    order+=("$path")
  }
  for m in 9p 9pnet_virtio overlay virtio_console virtio_pci; do
    local path
    path=$(awk -F: -v m="$m" '{n = $1; sub(/.*\//, "", n); sub(/\.ko.*/, "", n)} n == m {print $1; exit}' \
             "$moddir/modules.dep")
    if [ -n "$path" ]; then
      visit "$path"
    elif ! grep -q "/$m.ko" "$moddir/modules.builtin"; then
      die "module $m neither built in nor in $moddir"
    fi
  done
  printf '%s\n' "${order[@]}"
}

# Sets $initrd to the kernel's initramfs, building it if needed (under the cache lock).
prepare_initramfs() {
  local dir=$1 rel moddir key tmp m name mods
  rel=$(cat "$dir/release")
  moddir=$dir/root/lib/modules/$rel
  key=$(printf '%s' "$initramfs_init" | sha256sum | cut -c1-12)
  initrd=$dir/initrd-$key.img
  if [ ! -f "$initrd" ]; then
    mods=$(initramfs_modules "$moddir")
    tmp=$(mktemp -d "$cache/.initrd.XXXXXX")
    tmpdirs+=("$tmp")
    mkdir -p "$tmp/root/bin" "$tmp/root/lib/modules" "$tmp/root/dev" "$tmp/root/proc" "$tmp/root/sys"
    cp /bin/busybox "$tmp/root/bin/busybox"
    printf '%s\n' "$initramfs_init" >"$tmp/root/init"
    chmod 755 "$tmp/root/init"
    : >"$tmp/root/modules"
    for m in $mods; do
      name=$(basename "$m"); name=${name%%.ko*}.ko
      case "$m" in
        *.ko.xz) xz -dc "$moddir/$m" >"$tmp/root/lib/modules/$name" ;;
        *.ko.gz) gzip -dc "$moddir/$m" >"$tmp/root/lib/modules/$name" ;;
        *.ko.zst) zstd -qdc "$moddir/$m" >"$tmp/root/lib/modules/$name" ;;
        *) cp "$moddir/$m" "$tmp/root/lib/modules/$name" ;;
      esac
      echo "$name" >>"$tmp/root/modules"
    done
    (cd "$tmp/root" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp/initrd.img"
    rm -f "$dir"/initrd-*.img  # older /init versions
    mv "$tmp/initrd.img" "$initrd"
  fi
}

# ---------------------------------------------------------------------------------------------
# Accelerator: KVM if it really boots a Debian kernel (here /dev/kvm is kvm-pvm, which runs only
# PVM guests), else TCG. Tried once per host boot; the answer is cached.

accel_reason=
choose_accel() {
  local image=$1 initrd=$2 probe=$cache/.kvm-probe boot_id tmp rc
  [ "$accel" = tcg ] && { accel_reason="--accel tcg"; return; }
  # From here on accel_reason says why KVM is not used.
  if [ ! -w /dev/kvm ]; then
    [ "$accel" = kvm ] && die "--accel kvm: /dev/kvm missing or not writable"
    accel=tcg accel_reason="no usable /dev/kvm"; return
  fi
  boot_id=$(cat /proc/sys/kernel/random/boot_id)
  if [ "$accel" = auto ] && [ -f "$probe" ] && [ "$(sed -n 1p "$probe")" = "$boot_id" ]; then
    accel=$(sed -n 2p "$probe") accel_reason=$(sed -n 3p "$probe"); return
  fi
  [ "$accel" = kvm ] && return
  tmp=$(mktemp -d); tmpdirs+=("$tmp")
  # In a subshell with stderr closed: qemu aborts on kvm-pvm and bash would say so.
  rc=$( (timeout 60 qemu-system-x86_64 -accel kvm -cpu host -machine q35 -m 512M -smp 1 \
          -nodefaults -no-user-config -display none -monitor none -no-reboot \
          -serial "file:$tmp/console" -kernel "$image" -initrd "$initrd" \
          -append "console=ttyS0 quiet panic=-1 rdinit=/init kernel_vm_probe" \
          </dev/null >/dev/null 2>"$tmp/err" && echo 0 || echo $?) 2>/dev/null)
  if grep -q KERNEL-VM-PROBE-OK "$tmp/console" 2>/dev/null; then
    accel=kvm accel_reason=
  else
    accel=tcg
    accel_reason=$(grep -m1 -o 'error: .*' "$tmp/err" | cut -c8- || true)
    [ -n "$accel_reason" ] || accel_reason="a test boot under KVM failed (qemu status $rc)"
    [ -d /sys/module/kvm_pvm ] && accel_reason="kvm-pvm: $accel_reason"
  fi
  printf '%s\n%s\n%s\n' "$boot_id" "$accel" "$accel_reason" >"$probe.tmp" && mv "$probe.tmp" "$probe"
}

# ---------------------------------------------------------------------------------------------
# Stage 2: PID 1 on the new root, the host's static busybox (see /init for why). Written to the
# run's share each time; its settings come from env.sh next to it.

read -r -d '' stage2 <<'EOF' || true
#!/bin/busybox sh
# kernel-vm stage 2: PID 1 in the guest; its own stdout/stderr are the kernel console (a log).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
out=/run/kernel-vm io=/run/kernel-vm.io
. $out/env.sh
report() {  # the exit status for the host, then power off
  echo "$1" >$out/status.tmp && mv $out/status.tmp $out/status
  sync
  poweroff -f
  echo o >/proc/sysrq-trigger
}

# Output: two virtio consoles the host copies to its stdout (hvc0) and stderr (hvc1), raw (no
# \n -> \r\n), held open here so that the mode sticks.
exec 5>/dev/hvc0 6>/dev/hvc1 || report 125
stty -F /dev/hvc0 raw -echo; stty -F /dev/hvc1 raw -echo
[ -s /run/kernel-vm.warnings ] && cat /run/kernel-vm.warnings >&6
ulimit -l unlimited

# The command writes to the console itself where the host's side is a tty, else to a pipe into
# it (so that it buffers as it would on the host); to one channel where the host's stdout and
# stderr are the same file.
mkdir -p $io
relays=
o=/dev/hvc0 e=/dev/hvc1
if [ "$KVM_OUT_TTY" != 1 ]; then mkfifo $io/o; cat $io/o >&5 & relays="$relays $!"; o=$io/o; fi
if [ "$KVM_MERGE" != 1 ] && [ "$KVM_ERR_TTY" != 1 ]; then
  mkfifo $io/e; cat $io/e >&6 & relays="$relays $!"; e=$io/e
fi
(
  exec </dev/null >"$o" 5>&- 6>&-
  if [ "$KVM_MERGE" = 1 ]; then exec 2>&1; else exec 2>"$e"; fi
  cd -- "$KVM_CWD" 2>/dev/null || { echo "kernel-vm (guest): cannot cd to $KVM_CWD" >&2; exit 125; }
  : >$out/started  # from here on, a panic is the command's, not the boot's
  run_command
)
rc=$?
# The relays end when every writer is gone; background processes still holding the pipe get 10 s.
for _ in $(seq 100); do
  alive=
  for p in $relays; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ -z "$alive" ] && break
  sleep 0.1
done
[ -z "$alive" ] || { echo "kernel-vm (guest): processes still running after the command; killed" >&6; kill -KILL -1; }
wait
stty -F /dev/hvc0 raw; stty -F /dev/hvc1 raw  # tcsetattr(TCSADRAIN): the consoles are flushed
report "$rc"
EOF

# ---------------------------------------------------------------------------------------------
# Main

if [ "$mode" = list ]; then
  echo "# $cache: package, release (uname -r), version, size"
  found=0
  for d in "$cache"/linux-image-*/; do
    [ -f "$d/release" ] || continue
    found=1
    printf '%-44s %-22s %-20s %s\n' "$(basename "$d")" "$(cat "$d/release")" \
      "$(cat "$d/version" 2>/dev/null)" "$(du -sh "$d" | cut -f1)"
  done
  [ "$found" = 1 ] || echo "$prog: no kernel in $cache" >&2
  exit 0
fi

ensure_tools
pkg=$(resolve_kernel "$kernel")
kdir=$cache/$pkg
lock_cache
prepare_kernel "$pkg"
prepare_initramfs "$kdir"
prepare_vmlinux "$kdir"
unlock_cache
release=$(cat "$kdir/release")
if [ "$mode" = fetch ]; then echo "$release"; exit 0; fi

choose_accel "$kernel_image" "$initrd"
if [ "$accel" = kvm ]; then
  accel_args=(-accel kvm -cpu host) accel_text=KVM
else
  accel_args=(-accel 'tcg,thread=multi,tb-size=512' -cpu max)
  case "$accel_reason" in
    --accel*) accel_text="TCG ($accel_reason)" ;;
    *) accel_text="TCG (KVM unavailable: $accel_reason)" ;;
  esac
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/kernel-vm.XXXXXX")
tmpdirs+=("$work")

# The run's settings for /init and stage 2 (busybox sh), each value single-quoted.
sq() { local s=${1//\'/\'\\\'\'}; printf "'%s'" "$s"; }
out_tty=0 err_tty=0 merge=0 tmpfs=1
[ -t 1 ] && out_tty=1
[ -t 2 ] && err_tty=1
# stdout and stderr the same file (a terminal, `&> log`): one channel keeps their order.
# (/proc/$$: inside $(…) /dev/fd/1 would be the substitution's pipe.)
[ "$(stat -L -c %d:%i "/proc/$$/fd/1" 2>/dev/null)" = "$(stat -L -c %d:%i "/proc/$$/fd/2" 2>/dev/null)" ] && merge=1
# A tmpfs /tmp would hide a working directory under the host's /tmp: the overlay's /tmp then.
case "$PWD/" in /tmp/*) tmpfs=0 ;; esac
[ -n "${PATH:-}" ] || PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
{
  echo "KVM_REL=$(sq "$release")"
  echo "KVM_MODDIR=$(sq "$kdir/root/lib/modules/$release")"
  echo "KVM_CWD=$(sq "$PWD")"
  echo "KVM_TMPFS=$tmpfs KVM_OUT_TTY=$out_tty KVM_ERR_TTY=$err_tty KVM_MERGE=$merge"
  # coreutils env, not busybox's: that one would run its own applets (ip, mount…) by name.
  echo "run_command() {"
  printf '  exec /usr/bin/env -i -- %s %s' "$(sq "PWD=$PWD")" "$(sq "HIKE_KERNEL_VM=$release")"
  while read -r name; do
    case "$name" in
      PATH|HOME|TERM|CI|LANG|LC_*|HIKE_*|SWIFT_*) printf ' \\\n    %s' "$(sq "$name=${!name}")" ;;
    esac
  done < <(compgen -e)
  printf ' \\\n   '
  for a in "${cmd[@]}"; do printf ' %s' "$(sq "$a")"; done
  printf '\n}\n'
} >"$work/env.sh"
printf '%s\n' "$stage2" >"$work/stage2.sh"
chmod 755 "$work/stage2.sh"

# Relays for the guest's stdout and stderr: fifos qemu writes into, copied to ours by cat (ours
# keep their file offsets and types; qemu never touches our terminal).
mkfifo "$work/stdout" "$work/stderr"

say "Debian $release under $accel_text, $cpus CPUs, $mem"
[ "$tmpfs" = 1 ] || say "working directory under /tmp: the guest's /tmp is the host's plus an in-memory overlay, not a tmpfs"
qemu=(qemu-system-x86_64 "${accel_args[@]}" -machine q35 -m "$mem" -smp "$cpus"
  -nodefaults -no-user-config -display none -monitor none -no-reboot
  -chardev "file,id=console,path=$work/console" -serial chardev:console
  -kernel "$kernel_image" -initrd "$initrd"
  -append "console=ttyS0 quiet panic=-1 rdinit=/init mitigations=off"
  -fsdev 'local,id=root,path=/,security_model=none,readonly=on,multidevs=remap'
  -device 'virtio-9p-pci,fsdev=root,mount_tag=root'
  -fsdev "local,id=out,path=$work,security_model=none"
  -device 'virtio-9p-pci,fsdev=out,mount_tag=out'
  -device virtio-serial-pci
  -chardev "file,id=stdout,path=$work/stdout" -device 'virtconsole,chardev=stdout'
  -chardev "file,id=stderr,path=$work/stderr" -device 'virtconsole,chardev=stderr'
  -net none)
# Under TCG a guest kernel now and then panics while it boots (an int3 Oops in timer code):
# that boot is tried once more, never one in which the command had started.
for boot in 1 2; do
  rm -f "$work/console" "$work/started"
  cat "$work/stdout" & pids+=($!)
  relays=($!)
  cat "$work/stderr" >&2 & pids+=($!)
  relays+=($!)
  start=$SECONDS
  "${qemu[@]}" </dev/null >"$work/qemu.log" 2>&1 & qemu_pid=$!
  pids+=("$qemu_pid")
  # Wait for qemu or the timer, whichever ends first.
  timer_pid=
  if [ "$timeout" -gt 0 ]; then sleep "$timeout" & timer_pid=$!; pids+=("$timer_pid"); fi
  set +e
  wait -n -p ended "$qemu_pid" ${timer_pid:+"$timer_pid"}
  qemu_rc=$?
  set -e
  timed_out=0
  if [ "${ended:-}" != "$qemu_pid" ]; then
    timed_out=1
    kill "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
  fi
  [ -z "$timer_pid" ] || kill "$timer_pid" 2>/dev/null || true

  # Let the relays drain: a reader still waiting in open() (qemu never opened the fifo) gets EOF.
  for f in stdout stderr; do exec {fd}<>"$work/$f"; exec {fd}>&-; done
  for p in "${relays[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -z "$console_copy" ] || cp "$work/console" "$console_copy" 2>/dev/null || true
  if [ "$boot" = 1 ] && [ "$timed_out" = 0 ] && [ ! -f "$work/status" ] && [ ! -f "$work/started" ] &&
     grep -q 'Kernel panic' "$work/console" 2>/dev/null; then
    echo "$prog: the guest kernel panicked while booting ($(grep -m 1 -E 'Oops|BUG:' "$work/console" | sed 's/^\[[^]]*\] *//')): booting it again" >&2
    continue
  fi
  break
done

# On failure: the start of any oops or panic and the console's end; the whole log is kept.
show_logs() {
  local keep
  if [ -s "$work/console" ]; then
    grep -m 8 -E 'BUG:|Oops|RIP:|Kernel panic|initramfs:|kernel-vm' "$work/console" | sed 's/^/  ! /' >&2 || true
    echo "$prog: last lines of the guest console:" >&2
    tail -n 15 "$work/console" | sed 's/^/  | /' >&2
    keep=$(mktemp "${TMPDIR:-/tmp}/kernel-vm-console.XXXXXX.log")
    cp "$work/console" "$keep" && echo "$prog: whole console log: $keep" >&2
  fi
  if grep -qv "terminating on signal" "$work/qemu.log"; then
    echo "$prog: qemu said:" >&2
    grep -v "terminating on signal" "$work/qemu.log" | tail -n 10 | sed 's/^/  | /' >&2
  fi
}
if [ "$timed_out" = 1 ]; then
  echo "$prog: timed out after ${timeout}s; killed the guest" >&2
  show_logs; exit 124
fi
if [ -f "$work/status" ]; then
  rc=$(cat "$work/status")
  [[ $rc =~ ^[0-9]+$ ]] || die "the guest reported a bad status: $rc"
  [ "$quiet" = 1 ] || [ "$rc" = 0 ] || echo "$prog: command exited with $rc ($((SECONDS - start))s)" >&2
  exit "$rc"
fi
if grep -q 'Kernel panic' "$work/console" 2>/dev/null; then
  echo "$prog: the guest kernel panicked" >&2
else
  echo "$prog: the guest ended without reporting the command's status (qemu exit status $qemu_rc)" >&2
fi
show_logs
exit 125
