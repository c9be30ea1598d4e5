#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2013  # single quotes are for the container shell; paths have no spaces
# End-to-end test: real OCI clients drive cella in runc's place.
#
#   scripts/e2e-clients.sh [CELLA_BINARY]      (default: target/debug/cella)
#
# Run as root on Debian 12. Installs Debian's podman, conmon, containerd and
# tmux when absent (nothing is built here), makes a busybox root filesystem
# from /bin/busybox (busybox-static), and then:
#   - podman 4.3 (through conmon) with cella as its OCI runtime: run with an
#     exit code, run -d + exec, logs, stop, kill, pause/unpause, top, stats,
#     update --memory, rm -f, run -it on a terminal;
#   - containerd 1.6 (ctr, containerd-shim-runc-v2 with BinaryName = cella):
#     run with an exit code and -d, task exec, kill, pause/resume, ps,
#     metrics, task/container delete, run --tty.
# Every step checks what the client shows (output, exit code, status, the
# container's cgroup files), prints `PASS name` or `FAIL name: why`, and the
# script ends with `N passed, M failed` (exit 1 when any failed).
#
# Everything lives in one temp dir (podman storage and config, containerd
# root/state/config/socket, the rootfs); containerd runs from there (setsid,
# stopped by its pid). Cgroups go under /cella-e2e-<pid> (podman
# --cgroup-parent) and /<containerd namespace>. The EXIT trap removes all of
# it, even when a step fails. Every runtime call the clients make is logged
# to $T/runtime-calls.log (through a wrapper that execs cella) and printed
# next to a failing step. Set KEEP_TMP=1 to keep the temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."

CELLA=${1:-target/debug/cella}
if [ "$(id -u)" -ne 0 ]; then
    echo "e2e-clients.sh: run as root: the clients create namespaces, cgroups and mounts" >&2
    exit 2
fi
if [ ! -x "$CELLA" ]; then
    echo "e2e-clients.sh: cella binary $CELLA not found: build it first ('cargo build') or pass its path" >&2
    exit 2
fi
CELLA=$(realpath "$CELLA")

# --- packages ------------------------------------------------------------
PACKAGES="podman conmon containerd tmux strace busybox-static util-linux"
missing=""
for pkg in $PACKAGES; do
    case "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" in
        *" installed") ;;
        *) missing="$missing $pkg" ;;
    esac
done
if [ -n "$missing" ]; then
    echo "e2e-clients.sh: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    if ! apt-get install -y -q --no-install-recommends $missing; then
        apt-get update -q
        # shellcheck disable=SC2086
        apt-get install -y -q --no-install-recommends $missing
    fi
fi
for tool in podman conmon containerd ctr tmux strace timeout; do
    command -v "$tool" >/dev/null || { echo "e2e-clients.sh: $tool missing after install" >&2; exit 2; }
done
[ -x /bin/busybox ] || { echo "e2e-clients.sh: /bin/busybox missing (busybox-static)" >&2; exit 2; }

# --- the world under one temp dir ------------------------------------------
STARTED=$(date +%s)
T=$(mktemp -d /tmp/cella-e2e.XXXXXX)
chmod 755 "$T"
CGP="cella-e2e-pm-$$"      # podman --cgroup-parent (absolute: /$CGP)
NS="cella-e2e-ctr-$$"      # containerd namespace: cgroups go to /$NS/<id>
CTRD_PID=""
TMUX_SOCK="$T/tmux.sock"
CALLS="$T/runtime-calls.log"
# Things outside $T that the clients create when missing; removed at the
# end only when they did not exist before.
pre_run_containerd=0; [ -e /run/containerd ] && pre_run_containerd=1
pre_var_lib_containers=0; [ -e /var/lib/containers ] && pre_var_lib_containers=1

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    # podman: remove every container of this run (cella delete --force
    # through conmon/podman), then whatever podman left to cella itself.
    if [ -n "${CONTAINERS_CONF:-}" ] && [ -f "$CONTAINERS_CONF" ]; then
        timeout -k 5 60 podman rm -a -f -t 0 >/dev/null 2>&1
    fi
    local id
    if [ -f "$T/podman-ids" ]; then
        while read -r id; do
            "$CELLA" delete --force "$id" >/dev/null 2>&1
        done < "$T/podman-ids"
    fi
    # containerd: kill and delete the namespace's tasks and containers, stop
    # the daemon by pid, then any shim still serving this daemon's socket.
    if [ -n "$CTRD_PID" ]; then
        local c
        for c in $(timeout 20 ctr -a "$T/ctrd/containerd.sock" -n "$NS" task ls -q 2>/dev/null); do
            timeout 20 ctr -a "$T/ctrd/containerd.sock" -n "$NS" task kill -a -s KILL "$c" >/dev/null 2>&1
            sleep 0.5
            timeout 20 ctr -a "$T/ctrd/containerd.sock" -n "$NS" task delete -f "$c" >/dev/null 2>&1
        done
        for c in $(timeout 20 ctr -a "$T/ctrd/containerd.sock" -n "$NS" container ls -q 2>/dev/null); do
            timeout 20 ctr -a "$T/ctrd/containerd.sock" -n "$NS" container delete "$c" >/dev/null 2>&1
        done
        kill "$CTRD_PID" 2>/dev/null
        local i
        for i in $(seq 50); do kill -0 "$CTRD_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$CTRD_PID" 2>/dev/null
        local p
        for p in $(grep -lsF -- "$T/ctrd/containerd.sock" /proc/[0-9]*/cmdline | cut -d/ -f3); do
            kill -KILL "$p" 2>/dev/null
        done
    fi
    [ -S "$TMUX_SOCK" ] && tmux -S "$TMUX_SOCK" kill-server 2>/dev/null
    # Container processes left in this run's cgroups, then the cgroups.
    local d
    for d in /sys/fs/cgroup/*/"$CGP" /sys/fs/cgroup/*/"$NS" /sys/fs/cgroup/"$CGP" /sys/fs/cgroup/"$NS"; do
        [ -d "$d" ] || continue
        find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u | while read -r p; do
            kill -KILL "$p" 2>/dev/null
        done
    done
    sleep 0.3
    for d in /sys/fs/cgroup/*/"$CGP" /sys/fs/cgroup/*/"$NS" /sys/fs/cgroup/"$CGP" /sys/fs/cgroup/"$NS"; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    # Mounts under the temp dir (overlay roots, shm), deepest first.
    local m
    for m in $(awk -v t="$T" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null
    done
    if [ "$pre_run_containerd" = 0 ] && [ -d /run/containerd ]; then
        find /run/containerd -depth -type d -empty -delete 2>/dev/null
    fi
    if [ "$pre_var_lib_containers" = 0 ] && [ -d /var/lib/containers ]; then
        rm -rf /var/lib/containers
    fi
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        echo "kept $T"
    else
        rm -rf "$T"
    fi
    echo "wall time: $(( $(date +%s) - STARTED ))s"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The runtime as the clients see it: a wrapper that logs the call and execs
# cella (same pid, same stdio). Named `cella`.
mkdir -p "$T/bin" "$T/tmp"
cat > "$T/bin/cella" <<EOF
#!/bin/sh
printf '%s\n' "cella \$*" >> "$CALLS"
exec "$CELLA" "\$@"
EOF
chmod 755 "$T/bin/cella"
RUNTIME="$T/bin/cella"
# The same, but `start` runs under strace with pidfd_open delayed by 100 ms:
# a container that exits at once is then gone (and reaped by the shim)
# before `start` returns, which runc answers with success.
mkdir -p "$T/bin-slow"
cat > "$T/bin-slow/cella" <<EOF
#!/bin/sh
printf '%s\n' "cella \$*" >> "$CALLS"
case " \$* " in
*" start "*) exec strace -o /dev/null -e trace=pidfd_open -e inject=pidfd_open:delay_enter=100000 "$CELLA" "\$@" ;;
esac
exec "$CELLA" "\$@"
EOF
chmod 755 "$T/bin-slow/cella"
: > "$CALLS"

# A busybox root filesystem.
ROOTFS="$T/rootfs"
mkdir -p "$ROOTFS"/{bin,dev,etc,proc,sys,tmp,root}
cp /bin/busybox "$ROOTFS/bin/busybox"
for applet in $("$ROOTFS/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$ROOTFS/bin/$applet"
done
tar -C "$ROOTFS" -cf "$T/busybox.tar" .

# podman: its own config and storage in $T.
mkdir -p "$T/podman"/{run,graph,tmp}
cat > "$T/containers.conf" <<EOF
[containers]
netns = "none"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$T/podman/events.log"
lock_type = "file"
tmp_dir = "$T/podman/tmp"
image_copy_tmp_dir = "$T/tmp"
runtime = "cella"
# podman passes --log-format=json --log FILE only to runtimes named here.
runtime_supports_json = ["crun", "runc", "cella"]

[engine.runtimes]
cella = ["$RUNTIME"]
EOF
cat > "$T/storage.conf" <<EOF
[storage]
driver = "overlay"
runroot = "$T/podman/run"
graphroot = "$T/podman/graph"
EOF
export CONTAINERS_CONF="$T/containers.conf" CONTAINERS_STORAGE_CONF="$T/storage.conf"
export TMPDIR="$T/tmp"

# containerd: config, root, state and sockets in $T.
mkdir -p "$T/ctrd"/{root,state,opt}
cat > "$T/ctrd/config.toml" <<EOF
version = 2
root = "$T/ctrd/root"
state = "$T/ctrd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$T/ctrd/containerd.sock"
[ttrpc]
  address = "$T/ctrd/containerd.sock.ttrpc"
[debug]
  address = "$T/ctrd/debug.sock"
  level = "info"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$T/ctrd/opt"
EOF

# --- helpers -------------------------------------------------------------
PASSED=0
FAILED=0
FAILED_NAMES=()

fail() { echo "$*" >&2; exit 1; }

# step NAME FUNCTION: run FUNCTION in a subshell with errexit; print PASS or
# FAIL with the reason (the last line it printed) and, on failure, its output
# and the runtime calls it caused.
step() {
    local name=$1; shift
    local out="$T/step.out" before rc
    before=$(wc -l < "$CALLS")
    set +e
    ( set -e; "$@" ) > "$out" 2>&1
    rc=$?
    set -e
    if [ "$rc" = 0 ]; then
        echo "PASS $name"
        PASSED=$((PASSED + 1))
    else
        local why
        why=$(grep -v '^[[:space:]]*$' "$out" | tail -n 1)
        echo "FAIL $name: ${why:-exit status $rc}"
        sed 's/^/    | /' "$out" | tail -n 40
        echo "    runtime calls during the step:"
        tail -n "+$((before + 1))" "$CALLS" | cut -c1-400 | sed 's/^/    > /' | tail -n 30
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$name")
    fi
}

pm() { timeout -k 5 90 podman "$@"; }
CTR=(ctr -a "$T/ctrd/containerd.sock" -n "$NS")
RUNC_OPTS=(--runc-binary "$RUNTIME" --runc-root "$T/ctrd/cella-root")
ct() { timeout -k 5 60 "${CTR[@]}" "$@"; }
# ctr run ... ID CMD...: --rootfs comes last before the positional arguments.
ctr_run() {
    local args=()
    while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do args+=("$1"); shift; done
    timeout -k 5 60 "${CTR[@]}" run "${args[@]}" "${RUNC_OPTS[@]}" --env PATH=/bin --rootfs "$ROOTFS" "$@"
}

# expect_rc WANT CMD...: run CMD, fail unless it exits WANT; its output is in $OUT.
expect_rc() {
    local want=$1; shift
    local rc=0
    OUT=$("$@" 2>&1) || rc=$?
    [ "$rc" = "$want" ] || fail "'$*' exited $rc, want $want; output: $(printf '%s' "$OUT" | tail -n 3 | tr '\n' ' ')"
}
contains() { # contains HAYSTACK NEEDLE WHAT
    case "$1" in *"$2"*) ;; *) fail "$3: '$2' not in: $(printf '%s' "$1" | tail -n 5 | tr '\n' ' ')" ;; esac
}

# cgroup_file PID CONTROLLER V1FILE V2FILE: the file of PID's cgroup.
cgroup_file() {
    local pid=$1 ctl=$2 f1=$3 f2=$4 rel
    if [ -d "/sys/fs/cgroup/$ctl" ]; then
        rel=$(awk -F: -v c="$ctl" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' "/proc/$pid/cgroup")
        echo "/sys/fs/cgroup/$ctl$rel/$f1"
    else
        rel=$(awk -F: '$1 == "0" { print $3 }' "/proc/$pid/cgroup")
        echo "/sys/fs/cgroup$rel/$f2"
    fi
}

wait_for() { # wait_for SECONDS CMD...: until CMD succeeds
    local end=$(( $(date +%s) + $1 )); shift
    until "$@"; do
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 0.2
    done
}

# tmux_session NAME COMMAND: run COMMAND on a fresh 100x30 terminal; the
# pane shows `EXIT=<status>` when it ends.
tmux_session() {
    tmux -S "$TMUX_SOCK" new-session -d -s "$1" -x 100 -y 30 "$2; echo EXIT=\$?; sleep 600"
}
pane() { tmux -S "$TMUX_SOCK" capture-pane -p -t "$1"; }
pane_has() { pane "$1" | grep -qF -- "$2"; }
# interactive_shell NAME COMMAND: COMMAND starts a busybox sh on a terminal;
# type into it, check tty, window size, output and the exit status.
interactive_shell() {
    local s=$1
    tmux_session "$s" "$2"
    wait_for 60 pane_has "$s" '/ #' || fail "no shell prompt on the terminal: $(pane "$s" | tr '\n' ' ')"
    tmux -S "$TMUX_SOCK" send-keys -t "$s" 'tty; stty size; echo got-$((6*7))' Enter
    wait_for 20 pane_has "$s" 'got-42' || fail "typed command gave no output: $(pane "$s" | tr '\n' ' ')"
    tmux -S "$TMUX_SOCK" send-keys -t "$s" 'exit 4' Enter
    wait_for 30 pane_has "$s" 'EXIT=' || fail "shell did not exit: $(pane "$s" | tr '\n' ' ')"
    local p; p=$(pane "$s")
    tmux -S "$TMUX_SOCK" kill-session -t "$s"
    echo "$p"
    echo "$p" | grep -qE '/dev/pts/[0-9]+ *$' || fail "tty inside printed no /dev/pts path: $(echo "$p" | tr '\n' ' ')"
    echo "$p" | grep -qx '30 100' || fail "stty size inside is not the terminal's 30 100: $(echo "$p" | tr '\n' ' ')"
    echo "$p" | grep -qx 'EXIT=4' || fail "exit status through the terminal is not 4: $(echo "$p" | tr '\n' ' ')"
}

# --- podman --------------------------------------------------------------
LOOP='echo started; trap "echo got-term; exit 0" TERM; trap "echo got-usr1; exit 10" USR1; while :; do sleep 0.2; done'

pm_id() { pm inspect -f '{{.Id}}' "$1"; }
pm_status() { pm inspect -f '{{.State.Status}}' "$1"; }
pm_pid() { pm inspect -f '{{.State.Pid}}' "$1"; }
pm_run_d() { # pm_run_d NAME CMD...: detached container, its id remembered
    local name=$1 id; shift
    id=$(pm run -d --cgroup-parent "/$CGP" --name "$name" localhost/bb "$@") || fail "podman run -d $name failed: $id"
    echo "$id" >> "$T/podman-ids"
}

podman_import() {
    pm import --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' "$T/busybox.tar" localhost/bb
    pm images --format '{{.Repository}}' | grep -qx localhost/bb || fail "image localhost/bb not listed"
    pm info --format '{{.Host.OCIRuntime.Path}}' | grep -qxF "$RUNTIME" || fail "podman info does not show cella as the OCI runtime"
}

podman_run_exit_code() {
    expect_rc 3 pm run --rm --cgroup-parent "/$CGP" localhost/bb sh -c 'echo out-$((6*7)); exit 3'
    contains "$OUT" out-42 "container output"
    grep -q -- "--log-format=json" "$CALLS" || fail "podman did not pass --log-format=json to the runtime"
    pm ps -a --format '{{.Names}}' | grep -q . && fail "--rm left a container: $(pm ps -a)"
    true
}

podman_run_exits_during_start() {
    local i
    for i in 1 2 3; do
        expect_rc 3 pm run --runtime "$T/bin-slow/cella" --rm --cgroup-parent "/$CGP" localhost/bb sh -c 'echo out-$((6*7)); exit 3'
        contains "$OUT" out-42 "container output"
    done
}

podman_errors() {
    # podman maps the runtime's error message: "not found" -> 127, "permission denied" -> 126.
    expect_rc 127 pm run --rm --cgroup-parent "/$CGP" localhost/bb /nonexistent
    contains "$OUT" 'stat /nonexistent: no such file or directory' "podman run of a missing program"
    pm_run_d err1 sleep 600
    pm exec err1 touch /tmp/not-executable
    expect_rc 127 pm exec err1 /nonexistent
    expect_rc 126 pm exec err1 /tmp/not-executable
    contains "$OUT" 'permission denied' "podman exec of a non-executable file"
    expect_rc 126 pm exec err1 /etc
    contains "$OUT" 'permission denied' "podman exec of a directory"
}

podman_run_d_exec() {
    pm_run_d d1 sh -c "$LOOP"
    [ "$(pm_status d1)" = running ] || fail "status after run -d is $(pm_status d1), not running"
    expect_rc 0 pm exec d1 sh -c 'echo exec-$((2+3)) $$; cat /proc/1/cmdline'
    contains "$OUT" exec-5 "exec output"
    contains "$OUT" "trap" "init's cmdline seen from the exec"
    expect_rc 7 pm exec d1 sh -c 'exit 7'
    expect_rc 0 pm exec -e FOO=bar -w /tmp d1 sh -c 'echo $FOO $(pwd)'
    contains "$OUT" "bar /tmp" "exec env and workdir"
}

podman_logs() {
    expect_rc 0 pm exec d1 sh -c 'echo from-exec'
    local out; out=$(pm logs d1 2>&1)
    contains "$out" started "podman logs"
}

podman_pause_unpause() {
    local pid f; pid=$(pm_pid d1)
    f=$(cgroup_file "$pid" freezer freezer.state cgroup.freeze)
    pm pause d1
    [ "$(pm_status d1)" = paused ] || fail "status after pause is $(pm_status d1)"
    grep -qE 'FROZEN|^1$' "$f" || fail "$f reads $(cat "$f") after pause"
    pm unpause d1
    [ "$(pm_status d1)" = running ] || fail "status after unpause is $(pm_status d1)"
    grep -qE 'THAWED|^0$' "$f" || fail "$f reads $(cat "$f") after unpause"
    expect_rc 0 pm exec d1 echo alive-after-unpause
}

podman_top() {
    local out; out=$(pm top d1 pid args)
    echo "$out"
    echo "$out" | grep -qE '^1 +sh -c echo started' || fail "podman top does not show init as pid 1: $out"
}

podman_stats() {
    local out; out=$(pm stats --no-stream --format '{{.Name}}|{{.PIDs}}|{{.MemUsage}}' d1)
    echo "$out"
    echo "$out" | grep -qE '^d1\|[1-9][0-9]*\|[0-9.]+[kMG]?B / ' || fail "unexpected podman stats line: $out"
}

podman_update_memory() {
    local pid f; pid=$(pm_pid d1)
    f=$(cgroup_file "$pid" memory memory.limit_in_bytes memory.max)
    pm update --memory 64m d1
    [ "$(cat "$f")" = 67108864 ] || fail "$f reads $(cat "$f") after update --memory 64m, want 67108864"
}

podman_stop() {
    pm stop -t 20 d1
    [ "$(pm_status d1)" = exited ] || fail "status after stop is $(pm_status d1)"
    local code; code=$(pm inspect -f '{{.State.ExitCode}}' d1)
    [ "$code" = 0 ] || fail "exit code after stop is $code, want 0 (the TERM trap)"
    contains "$(pm logs d1 2>&1)" got-term "logs after stop"
}

podman_kill() {
    pm_run_d k1 sh -c "$LOOP"
    pm kill --signal USR1 k1
    wait_for 20 sh -c "[ \"\$(podman inspect -f '{{.State.Status}}' k1)\" = exited ]" || fail "k1 still $(pm_status k1) after kill USR1"
    local code; code=$(pm inspect -f '{{.State.ExitCode}}' k1)
    [ "$code" = 10 ] || fail "exit code after kill USR1 is $code, want 10"
    contains "$(pm logs k1 2>&1)" got-usr1 "logs after kill USR1"
    pm_run_d k2 sleep 600
    pm kill k2
    wait_for 20 sh -c "[ \"\$(podman inspect -f '{{.State.Status}}' k2)\" = exited ]" || fail "k2 still $(pm_status k2) after kill"
    code=$(pm inspect -f '{{.State.ExitCode}}' k2)
    [ "$code" = 137 ] || fail "exit code after kill (SIGKILL) is $code, want 137"
}

podman_rm_f() {
    pm_run_d r1 sleep 600
    local id pid f; id=$(pm_id r1); pid=$(pm_pid r1)
    f=$(cgroup_file "$pid" pids cgroup.procs cgroup.procs)
    pm rm -f -t 2 r1
    pm ps -a --format '{{.Names}}' | grep -qx r1 && fail "r1 still listed after rm -f"
    [ -e "/proc/$pid" ] && fail "init $pid still alive after rm -f"
    [ -e "$f" ] && fail "cgroup $(dirname "$f") left after rm -f"
    "$CELLA" state "$id" >/dev/null 2>&1 && fail "cella still has state for $id after rm -f"
    true
}

podman_run_it() {
    interactive_shell pit "podman run -it --rm --cgroup-parent /$CGP localhost/bb sh"
    grep -q -- "--console-socket" "$CALLS" || fail "podman passed no --console-socket"
}

# --- containerd ----------------------------------------------------------
ctr_task_status() { ct task ls | awk -v id="$1" '$1 == id { print $3 }'; }
ctr_task_pid() { ct task ls | awk -v id="$1" '$1 == id { print $2 }'; }

containerd_start() {
    setsid containerd --config "$T/ctrd/config.toml" > "$T/ctrd/containerd.log" 2>&1 < /dev/null &
    CTRD_PID=$!
    echo "$CTRD_PID" > "$T/ctrd/pid"
    wait_for 30 "${CTR[@]}" version >/dev/null 2>&1 || fail "containerd did not answer: $(tail -n 5 "$T/ctrd/containerd.log")"
}

ctr_run_exit_code() {
    expect_rc 3 ctr_run --rm c1 sh -c 'echo out-$((6*7)); exit 3'
    contains "$OUT" out-42 "container output"
    [ -z "$(ct container ls -q)" ] || fail "--rm left a container: $(ct container ls -q)"
}

ctr_run_short_lived() {
    # Twenty containers that exit at once: the shim reaps init immediately,
    # possibly before `start` has returned.
    local i
    for i in $(seq 1 20); do
        expect_rc 5 ctr_run --rm "s$i" sh -c 'exit 5'
    done
}

ctr_run_exits_during_start() {
    local i
    for i in 1 2 3; do
        expect_rc 5 timeout -k 5 60 "${CTR[@]}" run --rm --runc-binary "$T/bin-slow/cella" \
            --runc-root "$T/ctrd/cella-root" --env PATH=/bin --rootfs "$ROOTFS" "x$i" sh -c 'exit 5'
    done
}

ctr_run_d() {
    ctr_run -d d1 sh -c "$LOOP" >/dev/null
    [ "$(ctr_task_status d1)" = RUNNING ] || fail "task status after run -d is '$(ctr_task_status d1)'"
    local pid; pid=$(ctr_task_pid d1)
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q 'sh -c echo started' || fail "pid $pid is not the container's init"
    [ "$(tr -d '\n' < "$T/ctrd/state/io.containerd.runtime.v2.task/$NS/d1/init.pid")" = "$pid" ] || fail "init.pid does not match the task's pid"
}

ctr_task_exec() {
    expect_rc 0 ct task exec --exec-id e1 d1 sh -c 'echo exec-$((2+3)); cat /proc/1/cmdline'
    contains "$OUT" exec-5 "exec output"
    contains "$OUT" "trap" "init's cmdline seen from the exec"
    expect_rc 6 ct task exec --exec-id e2 d1 sh -c 'exit 6'
}

ctr_task_ps() {
    ct task exec --exec-id bg d1 sleep 600 >/dev/null 2>&1 &
    local pid; pid=$(ctr_task_pid d1)
    wait_for 20 sh -c "[ \$(${CTR[*]} task ps d1 | tail -n +2 | wc -l) -ge 3 ]" || fail "task ps did not list init, sleep and the exec: $(ct task ps d1)"
    local out; out=$(ct task ps d1)
    echo "$out"
    echo "$out" | awk 'NR > 1 { print $1 }' | grep -qx "$pid" || fail "task ps does not list init $pid"
    grep -q -- "ps --format json" "$CALLS" || fail "the shim did not call ps --format json"
    ct task kill --exec-id bg -s KILL d1 >/dev/null 2>&1 || true
}

ctr_pause_resume() {
    local pid f; pid=$(ctr_task_pid d1)
    f=$(cgroup_file "$pid" freezer freezer.state cgroup.freeze)
    ct task pause d1
    [ "$(ctr_task_status d1)" = PAUSED ] || fail "task status after pause is '$(ctr_task_status d1)'"
    grep -qE 'FROZEN|^1$' "$f" || fail "$f reads $(cat "$f") after pause"
    ct task resume d1
    [ "$(ctr_task_status d1)" = RUNNING ] || fail "task status after resume is '$(ctr_task_status d1)'"
    grep -qE 'THAWED|^0$' "$f" || fail "$f reads $(cat "$f") after resume"
}

ctr_metrics() {
    local out; out=$(ct task metrics d1)
    echo "$out"
    echo "$out" | grep -qE '^pids\.current[[:space:]]+[1-9]' || fail "no pids.current >= 1 in the metrics"
    echo "$out" | grep -qE '^memory\.usage(_in_bytes)?[[:space:]]+[1-9]' || fail "no memory usage in the metrics"
}

ctr_task_kill() {
    ct task kill d1
    wait_for 20 sh -c "[ \"\$(${CTR[*]} task ls | awk '\$1 == \"d1\" { print \$3 }')\" = STOPPED ]" || fail "task status after kill is '$(ctr_task_status d1)'"
    ctr_run -d k2 sleep 600 >/dev/null
    ct task kill -s KILL k2
    wait_for 20 sh -c "[ \"\$(${CTR[*]} task ls | awk '\$1 == \"k2\" { print \$3 }')\" = STOPPED ]" || fail "k2 status after kill -s KILL is '$(ctr_task_status k2)'"
}

ctr_delete() {
    local out
    out=$(ct task delete k2 2>&1) || fail "task delete k2: $out"
    contains "$out" "exit code 137" "ctr task delete of the SIGKILLed task"
    ct container delete k2
    ct task delete d1
    ct container delete d1
    [ -z "$(ct task ls -q)" ] || fail "tasks left: $(ct task ls -q)"
    [ -z "$(ct container ls -q)" ] || fail "containers left: $(ct container ls -q)"
    local left
    left=$(find /sys/fs/cgroup/*/"$NS" /sys/fs/cgroup/"$NS" -mindepth 1 -type d 2>/dev/null || true)
    [ -z "$left" ] || fail "cgroups left after delete: $left"
    left=$(ls "$T/ctrd/cella-root/$NS" 2>/dev/null || true)
    [ -z "$left" ] || fail "cella state left after delete: $left"
}

ctr_run_tty() {
    interactive_shell ctt "${CTR[*]} run --rm --tty ${RUNC_OPTS[*]} --env PATH=/bin --rootfs $ROOTFS t1 sh"
    grep -q -- "--console-socket" "$CALLS" || fail "the shim passed no --console-socket"
}

# --- run -----------------------------------------------------------------
echo "e2e-clients: runtime $CELLA; temp dir $T"
echo "podman $(podman version --format '{{.Client.Version}}'), conmon $(conmon --version | head -n 1 | awk '{ print $3 }'), $(containerd --version | awk '{ print $1, $3 }')"

step "podman import" podman_import
step "podman run exit code" podman_run_exit_code
step "podman run: init exits before start returns" podman_run_exits_during_start
step "podman error exit codes" podman_errors
step "podman run -d + exec" podman_run_d_exec
step "podman logs" podman_logs
step "podman pause/unpause" podman_pause_unpause
step "podman top" podman_top
step "podman stats --no-stream" podman_stats
step "podman update --memory" podman_update_memory
step "podman stop" podman_stop
step "podman kill" podman_kill
step "podman rm -f" podman_rm_f
step "podman run -it" podman_run_it

if ( set -e; containerd_start ) > "$T/step.out" 2>&1; then
    CTRD_PID=$(cat "$T/ctrd/pid")
    echo "PASS containerd start"
    PASSED=$((PASSED + 1))
    step "ctr run exit code" ctr_run_exit_code
    step "ctr run short-lived x20" ctr_run_short_lived
    step "ctr run: init exits before start returns" ctr_run_exits_during_start
    step "ctr run -d" ctr_run_d
    step "ctr task exec" ctr_task_exec
    step "ctr task ps" ctr_task_ps
    step "ctr task pause/resume" ctr_pause_resume
    step "ctr task metrics" ctr_metrics
    step "ctr task kill" ctr_task_kill
    step "ctr task/container delete" ctr_delete
    step "ctr run --tty" ctr_run_tty
else
    [ -f "$T/ctrd/pid" ] && CTRD_PID=$(cat "$T/ctrd/pid")
    echo "FAIL containerd start: $(tail -n 1 "$T/step.out")"
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("containerd start")
fi

echo "$PASSED passed, $FAILED failed"
if [ "$FAILED" -gt 0 ]; then
    printf 'failed: %s\n' "${FAILED_NAMES[*]}"
    exit 1
fi
