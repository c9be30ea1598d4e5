#!/usr/bin/env bash
# Regenerate scripts/symbol-order.txt: the functions a container start
# calls, in the order it first calls them. build-release.sh hands the file
# to the linker, which lays those functions out first and together, so a
# start faults in a few hundred KiB of code instead of pages spread over
# the whole 3 MB text (docs/performance.md, "Memory").
#
# Run as root after changes to the start path; a stale file costs memory,
# not correctness (tests/release_build.rs says when most of it no longer
# matches). Needs busybox-static and python3, as the benchmark does.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "symbol-order: run as root" >&2; exit 1; }

# The same build as the release one, with its symbols kept and no order.
target=$PWD/target/symbol-order
CARGO_TARGET_DIR=$target CELLA_SYMBOLS=1 ./scripts/build-release.sh --quiet
cella=$target/release/cella

work=$(mktemp -d /tmp/cella-order.XXXXXX)
root=$work/state
cleanup() {
  for id in order-run order-run-hostcg order-cycle; do "$cella" --root "$root" delete --force "$id" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Busybox bundles on the default spec: one runs true, one sleeps; and one
# runs true without a cgroup namespace, as runc's spec has it (the runtime
# then builds the cgroup view, a path of its own).
mk_bundle() { # dir, args as a JSON list[, namespace to drop]
  mkdir -p "$1/rootfs/bin"
  cp /bin/busybox "$1/rootfs/bin/"
  for a in $("$1/rootfs/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$1/rootfs/bin/$a"; done
  (cd "$1" && "$cella" spec)
  python3 - "$1/config.json" "$2" ${3:+"$3"} <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
c["process"]["args"] = json.loads(sys.argv[2])
if len(sys.argv) > 3:
    ns = c["linux"]["namespaces"]
    c["linux"]["namespaces"] = [n for n in ns if n["type"] != sys.argv[3]]
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
}
mk_bundle "$work/true" '["/bin/true"]'
mk_bundle "$work/sleep" '["sleep", "1000"]'
mk_bundle "$work/hostcg" '["/bin/true"]' cgroup

out=$work/order
touch "$out"
trace() { python3 scripts/first-touch.py "$out" "$cella" --root "$root" "$@" </dev/null >/dev/null; }
trace run --bundle "$work/true" order-run
trace run --bundle "$work/hostcg" order-run-hostcg
trace create --bundle "$work/sleep" order-cycle
trace start order-cycle
trace state order-cycle
trace kill order-cycle KILL
trace delete --force order-cycle

# First call wins; a name seen again later adds nothing.
awk '!seen[$0]++' "$out" > scripts/symbol-order.txt
echo "symbol-order: $(wc -l < scripts/symbol-order.txt) symbols in scripts/symbol-order.txt"
