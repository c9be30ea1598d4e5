#!/bin/busybox sh
# /init of the cgroup v2 test guest (built by build-guest.sh, booted by
# tests/cgroup_v2_vm.rs). Mounts a pure cgroup v2 hierarchy, runs the test
# binaries listed in /host/plan from the host's 9p share, prints one
# `CELLA-VM-TEST: <suite> test <name> ... ok|FAILED` line per test and a last
# `CELLA-VM-RESULT: PASS|FAIL passed=N failed=M` line, then powers off.
#
# /host/plan: one suite a line, `<binary> <timeout-seconds> <libtest args...>`;
# the binaries are /host/bin/<binary>, the runtime is /host/bin/cella; they
# are copied to /run/bin first.

# pivot_root(2), which the runtime uses, refuses to move away from the
# initramfs itself: first copy it to a tmpfs and make that the root.
if [ -z "${CELLA_VM_ROOT:-}" ]; then
    bb=/bin/busybox
    $bb mkdir -p /newroot
    $bb mount -t tmpfs -o mode=0755 root /newroot || exec $bb echo "CELLA-VM: ERROR: tmpfs root"
    for d in /bin /etc /lib /lib64 /init; do
        [ -e "$d" ] && $bb cp -a "$d" /newroot/
    done
    CELLA_VM_ROOT=tmpfs exec $bb switch_root /newroot /init
fi

/bin/busybox mkdir -p /proc /sys /dev /tmp /run /host /root /sbin /usr/bin /usr/sbin
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TERM=dumb
umask 022

echo # end the firmware's last line
say() { echo "CELLA-VM: $*"; }
fail() {
    say "ERROR: $*"
    echo "CELLA-VM-RESULT: FAIL passed=0 failed=1"
    sync
    poweroff -f
    exit 1
}

mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t tmpfs -o mode=1777 tmp /tmp
mount -t tmpfs -o mode=0755 run /run
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
# Only emergencies on the console: OOM kills must not split result lines.
echo 3 >/proc/sys/kernel/printk
hostname cella-vm
ip link set lo up
if [ ! -x /bin/ps ] || [ ! -x /sbin/poweroff ]; then fail "busybox --install made no applet links"; fi

while read -r m; do
    insmod "/lib/modules/$m.ko" || fail "insmod $m"
done </etc/modules.load
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro host /host ||
    fail "cannot mount the host's 9p share"
mount -t cgroup2 cgroup2 /sys/fs/cgroup || fail "cannot mount cgroup2"
# shellcheck disable=SC2013 # one line of space-separated names
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
    echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || say "cannot enable the $c controller"
done
[ -b /dev/vda ] || fail "no /dev/vda (the io.max test disk)"
say "kernel $(uname -r) up $(cut -d' ' -f1 /proc/uptime)s, cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
[ -f /host/plan ] || fail "no /host/plan"

# Run from memory: executing from 9p costs seconds per start under TCG.
mkdir -p /run/bin
cp /host/bin/* /run/bin/ || fail "cannot copy /host/bin"
export CELLA_TEST_RUNTIME=/run/bin/cella
cd /tmp || fail "cd /tmp"
# shellcheck disable=SC3040 # busybox ash has pipefail
set -o pipefail
passed=0
failed=0
while read -r suite limit args; do
    [ -n "$suite" ] || continue
    say "suite $suite: $args"
    log=/tmp/suite-$suite.log
    # shellcheck disable=SC2086 # args are libtest arguments, split on purpose
    timeout -s KILL "$limit" "/run/bin/$suite" --test-threads=1 $args 2>&1 | tee "$log"
    rc=$?
    p=$(grep -cE '^test .* \.\.\. ok$' "$log")
    f=$(grep -cE '^test .* \.\.\. FAILED$' "$log")
    grep -E '^test .* \.\.\. (ok|FAILED)$' "$log" | sed "s/^/CELLA-VM-TEST: $suite /"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        say "suite $suite exited with status $rc (137: killed after ${limit}s)"
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    say "suite $suite: $p passed, $f failed"
done </host/plan

# Containers must leave no cgroup behind (the suites' own leftover checks
# do not look at the top of a v2 hierarchy).
left=$(find /sys/fs/cgroup -mindepth 1 -type d)
if [ -n "$left" ]; then
    say "cgroups left behind: $(echo "$left" | tr '\n' ' ')"
    failed=$((failed + 1))
fi

say "done after $(cut -d' ' -f1 /proc/uptime)s"
if [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; then
    echo "CELLA-VM-RESULT: PASS passed=$passed failed=0"
else
    echo "CELLA-VM-RESULT: FAIL passed=$passed failed=$failed"
fi
sync
poweroff -f
