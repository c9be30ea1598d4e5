#!/bin/sh
# Installs the Debian packages the integration tests need, when absent.
# Idempotent: does nothing (not even `apt-get update`) when all are present.
set -eu

# musl-dev: the release build links musl (scripts/build-release.sh), and
# tests/release_build.rs checks that it did.
PACKAGES="busybox-static libseccomp-dev musl-dev pkg-config runc iproute2 podman conmon containerd tmux strace"
# The cgroup v2 guest (tests/cgroup_v2_vm.rs, scripts/vm/): an emulator, a
# Debian kernel with its modules, and the tools that pack the initramfs.
PACKAGES="$PACKAGES qemu-system-x86 linux-image-amd64 cpio xz-utils gzip coreutils binutils"

if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-deps.sh: must be run as root (try: sudo $0)" >&2
    exit 1
fi

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        *" installed") ;;
        *) missing="$missing $pkg" ;;
    esac
done

if [ -z "$missing" ]; then
    echo "install-test-deps.sh: all test dependencies are installed"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-test-deps.sh: installing:$missing"
# Refresh the package lists only when they are missing or older than a day,
# or when a first install attempt fails because of stale lists.
lists=/var/lib/apt/lists
if [ -z "$(find "$lists" -maxdepth 1 -name '*_Packages' -mtime -1 2>/dev/null | head -n 1)" ]; then
    apt-get update -q
fi
# shellcheck disable=SC2086
if ! apt-get install -y -q --no-install-recommends $missing; then
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
fi

if [ ! -x /bin/busybox ]; then
    echo "install-test-deps.sh: /bin/busybox is missing after installing busybox-static" >&2
    exit 1
fi
