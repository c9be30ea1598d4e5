#!/usr/bin/env bash
# Builds (or reuses) the kernel and initramfs of the cgroup v2 test guest.
#
#   scripts/vm/build-guest.sh OUT_DIR [BINARY...]
#
# Prints `KERNEL=<path>` and `INITRAMFS=<path>` on stdout. The kernel is the
# one Debian's linux-image-amd64 depends on, decompressed to a plain vmlinux
# (it boots ~3 s faster under TCG). The initramfs holds the static busybox,
# guest-init.sh as /init, the virtio/9p modules in load order and the shared
# libraries that the BINARY arguments need (the test binaries themselves
# reach the guest over a 9p share). Both are cached in OUT_DIR under a name
# keyed on everything they are made from, so a second run only checks keys.
set -euo pipefail

KEY_VERSION=1 # bump when the initramfs layout changes
MODULES="virtio_pci virtio_blk 9pnet_virtio 9p"

die() {
    echo "build-guest.sh: $*" >&2
    exit 1
}

[ $# -ge 1 ] || die "usage: $0 OUT_DIR [BINARY...]"
out=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
hint="run scripts/install-test-deps.sh (as root) to install it"
for tool in cpio gzip xz sha256sum dpkg-query; do
    command -v "$tool" >/dev/null || die "$tool is missing: $hint"
done
[ -x /bin/busybox ] || die "/bin/busybox is missing (package busybox-static): $hint"
mkdir -p "$out"

# The kernel package linux-image-amd64 points at, e.g. linux-image-6.1.0-56-amd64.
pkg=$({ dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null || true; } |
    sed -n 's/^\(linux-image-[^ ,]*\).*/\1/p')
[ -n "$pkg" ] || die "the package linux-image-amd64 is not installed: $hint"
kver=${pkg#linux-image-}
pkgver=$(dpkg-query -W -f='${Version}' "$pkg" | tr -c 'A-Za-z0-9.+~\n-' '_')
vmlinuz=/boot/vmlinuz-$kver
moddir=/lib/modules/$kver
[ -f "$vmlinuz" ] || die "$vmlinuz is missing (package $pkg): $hint"
[ -f "$moddir/modules.dep" ] || die "$moddir/modules.dep is missing (package $pkg): $hint"

# --- kernel: vmlinuz is a boot stub followed by an xz stream of vmlinux.
kernel=$out/vmlinux-$kver-$pkgver
if [ ! -s "$kernel" ]; then
    echo "build-guest.sh: decompressing $vmlinuz" >&2
    off=$(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$vmlinuz" | head -n 1 | cut -d: -f1 || true)
    tmp=$out/.kernel.tmp.$$
    # xz stops at the end of its stream, so tail may die of SIGPIPE.
    if [ -n "$off" ] &&
        { tail -c "+$((off + 1))" "$vmlinuz" || true; } | xz -dc --single-stream >"$tmp" 2>/dev/null &&
        [ "$(head -c 4 "$tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
        :
    else
        echo "build-guest.sh: no xz-compressed vmlinux inside; booting $vmlinuz as is" >&2
        cp "$vmlinuz" "$tmp"
    fi
    rm -f "$out"/vmlinux-*
    mv "$tmp" "$kernel"
fi

# --- modules in load order (dependencies first), from modules.dep.
declare -A seen=()
order=()
visit() {
    local path=$1 dep
    [ -z "${seen[$path]:-}" ] || return 0
    seen[$path]=1
    while read -r dep; do
        visit "$dep"
    done < <(awk -v p="$path:" '$1 == p { for (i = 2; i <= NF; i++) print $i }' "$moddir/modules.dep")
    order+=("$path")
}
for m in $MODULES; do
    path=$(awk -F: -v m="$m" '{ n = $1; sub(/.*\//, "", n); sub(/\.ko(\..*)?$/, "", n); if (n == m) { print $1; exit } }' \
        "$moddir/modules.dep")
    if [ -z "$path" ]; then
        grep -qE "/$m\.ko$" "$moddir/modules.builtin" 2>/dev/null && continue
        die "kernel module $m is neither in $moddir/modules.dep nor built in"
    fi
    visit "$path"
done

# --- shared libraries of the binaries (and their dynamic loader).
libs=()
for bin in "$@"; do
    [ -x "$bin" ] || die "$bin is not an executable"
    while read -r lib; do
        libs+=("$lib")
    done < <(ldd "$bin" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) (.*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p')
done
mapfile -t libs < <(printf '%s\n' "${libs[@]}" | sort -u | sed '/^$/d')

# --- the cache key: every input's name, size and modification time.
key=$(
    {
        echo "v$KEY_VERSION $kver $pkgver $MODULES"
        sha256sum "$here/guest-init.sh"
        for f in /bin/busybox "${order[@]/#/$moddir/}" "${libs[@]}"; do
            stat -L -c '%n %s %Y' "$f"
        done
    } | sha256sum | cut -c1-16
)
initramfs=$out/initramfs-$key.cpio.gz
if [ ! -s "$initramfs" ]; then
    echo "build-guest.sh: packing $initramfs" >&2
    stage=$(mktemp -d "$out/stage.XXXXXX")
    trap 'rm -rf "$stage"' EXIT
    mkdir -p "$stage"/{bin,etc,lib/modules,proc,sys,dev,tmp,run,host,root}
    cp /bin/busybox "$stage/bin/busybox"
    install -m 0755 "$here/guest-init.sh" "$stage/init"
    for path in "${order[@]}"; do
        name=$(basename "$path")
        case $name in
        *.ko) cp "$moddir/$path" "$stage/lib/modules/$name" ;;
        *.ko.xz) xz -dc "$moddir/$path" >"$stage/lib/modules/${name%.xz}" ;;
        *.ko.zst) zstd -qdc "$moddir/$path" >"$stage/lib/modules/${name%.zst}" ||
            die "cannot decompress $name (is zstd installed?)" ;;
        *) die "unexpected module file $path" ;;
        esac
        echo "${name%%.ko*}" >>"$stage/etc/modules.load"
    done
    for lib in "${libs[@]}"; do
        mkdir -p "$stage$(dirname "$lib")"
        cp -L "$lib" "$stage$lib"
    done
    (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
        gzip -1 >"$stage.cpio.gz"
    rm -f "$out"/initramfs-*.cpio.gz
    mv "$stage.cpio.gz" "$initramfs"
fi

echo "KERNEL=$kernel"
echo "INITRAMFS=$initramfs"
