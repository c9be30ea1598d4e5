#!/usr/bin/env bash
# Two or more cella binaries against each other, on the benchmark's busybox
# bundle: `run` of /bin/true, the binaries taken in turn run after run
# (A B, then B A, ...), so this VM's drift over seconds cannot favour one.
# Prints each binary's median, quartiles and fastest run, and its median's
# difference from the first binary's. Run as root:
#   ./scripts/compare.sh [-n RUNS] BIN_A BIN_B [BIN...]
# RUNS (default 1000) per binary; a difference under ~0.02 ms is within
# what two copies of the same binary show here.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "compare: run as root" >&2; exit 1; }
runs=1000
if [ "${1:-}" = -n ]; then runs=$2; shift 2; fi
[ $# -ge 2 ] || { echo "usage: $0 [-n RUNS] BIN_A BIN_B [BIN...]" >&2; exit 2; }
bins=()
for b in "$@"; do
  [ -x "$b" ] || { echo "compare: $b is not an executable; build one with scripts/build-release.sh and copy it aside" >&2; exit 2; }
  bins+=("$(realpath "$b")")
done
for p in runc busybox-static python3; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
    || { echo "compare: $p is missing (apt-get install $p, or run scripts/bench.sh once)" >&2; exit 2; }
done
work=$(mktemp -d /tmp/cella-compare.XXXXXX)
cleanup() {
  for b in "${bins[@]}"; do
    for id in $(ls "$work/root" 2>/dev/null); do "$b" --root "$work/root" delete --force "$id" >/dev/null 2>&1 || true; done
  done
  rm -rf "$work"
}
trap cleanup EXIT
./scripts/bench-bundle.sh "$work"
# Each binary is timed from a fresh copy: on this VM a binary's age
# changes its speed (an hour-old file ran 0.1 ms slower than a fresh copy
# of itself, with as many page faults; docs/performance.md, "Comparing two
# builds"), which would favour whichever build was written last.
copies=()
for i in "${!bins[@]}"; do
  cp "${bins[$i]}" "$work/bin$i"
  copies+=("$work/bin$i")
done
python3 - "$work" "$runs" "${#bins[@]}" "${copies[@]}" "${bins[@]}" <<'PY'
import os, statistics, sys, time
work, runs, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bins, names = sys.argv[4:4 + n], sys.argv[4 + n:]
root, bundle = f"{work}/root", f"{work}/bundle"
times = {b: [] for b in bins}
def run(b, i):
    t = time.perf_counter()
    pid = os.posix_spawn(b, [b, "--root", root, "run", "-b", bundle, f"c{i}"], os.environ)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        sys.exit(f"compare: {b} run failed (status {status})")
    return (time.perf_counter() - t) * 1000
for i in range(5):  # warm-up: page cache, the spare state directory
    for b in bins:
        run(b, i)
for i in range(runs):
    for b in (bins if i % 2 == 0 else bins[::-1]):
        times[b].append(run(b, i))
first = statistics.median(times[bins[0]])
print(f"run /bin/true, {runs} runs each, in turn (ms):")
for b, name in zip(bins, names):
    v = sorted(times[b])
    med = statistics.median(v)
    print(f"{name}: median {med:.3f}  p25 {v[len(v)//4]:.3f}  p75 {v[3*len(v)//4]:.3f}  min {v[0]:.3f}  vs first {med - first:+.3f}")
PY
