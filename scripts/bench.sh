#!/usr/bin/env bash
# Startup and memory benchmark: cella beside runc, in one run, on the same
# busybox bundle. Prints a table (median, min, max, cella/runc ratio) and
# writes it to bench/out/results.md. Run as root: ./scripts/bench.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
RUNS=${1:-30}

need=""
for p in runc hyperfine busybox-static time python3 libseccomp-dev pkg-config; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
  echo "bench: installing$need"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >/dev/null; }
fi
./scripts/build-release.sh --quiet
OUT=$PWD/bench/out
mkdir -p "$OUT"
work=$(mktemp -d /tmp/cella-bench.XXXXXX)
cleanup() {
  for r in "$work/cella-root" "$work/runc-root"; do
    [ -d "$r" ] || continue
    for id in $(ls "$r" 2>/dev/null); do
      "$CELLA" --root "$work/cella-root" delete --force "$id" >/dev/null 2>&1 || true
      "$RUNC" --root "$work/runc-root" delete --force "$id" >/dev/null 2>&1 || true
    done
  done
  rm -rf "$work"
}
trap cleanup EXIT
# Both runtimes run from fresh copies. On a host that pages out memory
# not used for a while (this VM runs DAMON), a binary file's age changes
# its speed: an hour-old cella ran 0.1 ms slower than a fresh copy of
# itself (docs/performance.md, "Comparing two builds"). Fresh copies make
# runs hours apart comparable, and treat both runtimes alike.
cp target/release/cella "$work/cella"
cp "$(command -v runc)" "$work/runc"
CELLA=$work/cella
RUNC=$work/runc

# A busybox bundle with runc's default config, not a terminal, running
# true; and the same running sleep.
./scripts/bench-bundle.sh "$work"
b=$work/bundle
sleep_bundle=$work/bundle-sleep

C="$CELLA --root $work/cella-root"
R="$RUNC --root $work/runc-root"
export C R b sleep_bundle

# Each command's block starts after a one-second pause and five warm-up
# runs. A container's teardown ends in kernel workers after the runtime
# has exited (the network namespace above all): the pause lets the last
# command's leftovers finish, the warm-up brings each command to its own
# steady state, where every run pays for its predecessor's. Without them
# the floor, timed after runc, read 3.0 ms instead of 2.0.
hf() { # name, runs, command...
  local name=$1 runs=$2; shift 2
  hyperfine -N --style none --setup "sleep 1" --warmup 5 --runs "$runs" \
    --export-json "$work/$name.json" "$@" >/dev/null
}

# One block of 30 runs lasts 0.1 s for cella and the floor, and this
# shared VM's speed drifts over seconds: the same binary's median moved by
# 20% from one block to the next. So the run row is ten rounds of blocks
# (cella, the floor right after it, runc, and a bare exec: below), RUNS
# runs each, and a command's median is taken over all its rounds: every
# command is sampled across the same minute. With five rounds, cella/floor read from 1.30 to 1.60 in
# runs minutes apart while its rounds' own ratios mostly sat at 1.36-1.41.
#
# A fourth block times busybox's `true` run alone, no container: one exec
# and one start of a static glibc program. On this VM that is most of a
# program's cost (glibc's start probes the CPU with ~70 `cpuid`, each a
# trap to the hypervisor). The floor pays it twice (unshare and its true),
# `run` once (the container's true): cella's release build links musl,
# whose start does not probe.
ROUNDS=10
echo "bench: run /bin/true"
for round in $(seq 1 $ROUNDS); do
  hf "run$round" "$RUNS" "$C run --bundle $b bc" "unshare -fmpiun --mount-proc /bin/true" "$R run --bundle $b br" \
    "$b/rootfs/bin/busybox true"
done

echo "bench: create + start + delete"
cat > "$work/cycle.sh" <<'SH'
#!/bin/sh
# $1: runtime command, $2: id
$1 create --bundle "$sleep_bundle" "$2" && $1 start "$2" && $1 delete --force "$2"
SH
chmod +x "$work/cycle.sh"
hf cycle "$RUNS" "$work/cycle.sh '$C' cc" "$work/cycle.sh '$R' rc"

echo "bench: 100 containers one after another"
cat > "$work/seq.sh" <<'SH'
#!/bin/sh
i=0; while [ $i -lt 100 ]; do $1 run --bundle "$b" "s$i" || exit 1; i=$((i+1)); done
SH
chmod +x "$work/seq.sh"
hf seq100 3 "$work/seq.sh '$C'" "$work/seq.sh '$R'"

echo "bench: 20 containers at once"
cat > "$work/par.sh" <<'SH'
#!/bin/sh
i=0; while [ $i -lt 20 ]; do $1 run --bundle "$b" "p$i" & i=$((i+1)); done; wait
SH
chmod +x "$work/par.sh"
hf par20 5 "$work/par.sh '$C'" "$work/par.sh '$R'"

echo "bench: peak RSS"
# The container inherits the runtime's stdio: keep it off any pipe, or the
# command substitution would wait for the container to exit.
rss() { /usr/bin/time -f %M -o "$work/rss" "$@" </dev/null >/dev/null 2>&1; cat "$work/rss"; }
rss_run_c=$(rss $C run --bundle "$b" m1); rss_run_r=$(rss $R run --bundle "$b" m2)
rss_create_c=$(rss $C create --bundle "$sleep_bundle" m3); rss_create_r=$(rss $R create --bundle "$sleep_bundle" m4)
$C delete --force m3; $R delete --force m4
size_c=$(stat -c %s "$CELLA"); size_r=$(stat -c %s "$RUNC")

python3 - "$work" "$OUT/results.md" "$rss_run_c" "$rss_run_r" "$rss_create_c" "$rss_create_r" "$size_c" "$size_r" "$ROUNDS" <<'PY'
import json, sys, statistics, platform, datetime
work, out = sys.argv[1], sys.argv[2]
rss_run_c, rss_run_r, rss_cr_c, rss_cr_r, size_c, size_r, ROUNDS = map(int, sys.argv[3:10])
def load(name):
    if name == "run":
        # The rounds' times, command by command.
        rounds = [json.load(open(f"{work}/run{i}.json"))["results"] for i in range(1, ROUNDS + 1)]
        return [{"times": [t for r in rounds for t in r[k]["times"]]} for k in range(4)]
    return json.load(open(f"{work}/{name}.json"))["results"]
def ms(r):
    t = r["times"]
    return statistics.median(t) * 1000, min(t) * 1000, max(t) * 1000
rows = []
def pair(label, name, per=1, floor=False):
    res = load(name)
    # With the floor, the block's commands are cella, floor, runc and
    # the exec of a static program alone.
    c, r = ms(res[0]), ms(res[2 if floor else 1])
    c = tuple(v / per for v in c); r = tuple(v / per for v in r)
    rows.append((label, c, r, c[0] / r[0]))
    if floor:
        f = ms(res[1])
        rows.append(("unshare -fmpiun true (floor)", f, None, f[0] / r[0]))
        e = ms(res[3])
        rows.append(("busybox true alone, no container (one exec)", e, None, e[0] / r[0]))
pair("run /bin/true (ms)", "run", floor=True)
pair("create+start+delete (ms)", "cycle")
pair("100 sequential runs, total (ms)", "seq100")
pair("100 sequential runs, per container (ms)", "seq100", per=100)
pair("20 concurrent runs, total (ms)", "par20")
pair("20 concurrent runs, per container (ms)", "par20", per=20)
lines = []
lines.append(f"cella vs runc, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, {platform.node()}, kernel {platform.release()}")
lines.append("")
lines.append("| measure | cella median (min-max) | runc median (min-max) | cella/runc |")
lines.append("|---|---|---|---|")
for label, c, r, ratio in rows:
    cs = f"{c[0]:.2f} ({c[1]:.2f}-{c[2]:.2f})"
    rs = "-" if r is None else f"{r[0]:.2f} ({r[1]:.2f}-{r[2]:.2f})"
    lines.append(f"| {label} | {cs} | {rs} | {ratio:.2f} |")
lines.append(f"| peak RSS of `run` (KiB) | {rss_run_c} | {rss_run_r} | {rss_run_c/rss_run_r:.2f} |")
lines.append(f"| peak RSS of `create` (KiB) | {rss_cr_c} | {rss_cr_r} | {rss_cr_c/rss_cr_r:.2f} |")
lines.append(f"| binary size (KiB) | {size_c//1024} | {size_r//1024} | {size_c/size_r:.2f} |")
run_c, floor = rows[0][1][0], rows[1][1][0]
lines.append("")
lines.append(f"cella run / unshare floor: {run_c / floor:.2f} ({run_c:.2f} / {floor:.2f} ms medians)")
lines.append(f"each of them execs two programs, the floor two glibc ones, cella one (its own start is musl's); one exec of a static glibc program alone: {rows[2][1][0]:.2f} ms")
# The same ratios round by round: how far one round's blocks can stray.
by_round = []
for i in range(1, ROUNDS + 1):
    res = json.load(open(f"{work}/run{i}.json"))["results"]
    c, f, r = (statistics.median(x["times"]) for x in res[:3])
    by_round.append((c / f, c / r))
for k, name in ((0, "floor"), (1, "runc")):
    v = sorted(x[k] for x in by_round)
    lines.append(f"cella run / {name}, round by round: {v[0]:.2f}-{v[-1]:.2f}, median {statistics.median(v):.2f}")
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text)
PY
echo "bench: written to $OUT/results.md"
