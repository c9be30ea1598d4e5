#!/usr/bin/env bash
# The benchmark's bundles, in DIR: DIR/bundle (busybox, runc's default
# config, not a terminal, running /bin/true) and DIR/bundle-sleep (the same
# rootfs, hard-linked, running sleep 1000). Needs runc (for `runc spec`)
# and busybox-static. Used by bench.sh and compare.sh.
set -euo pipefail
dir=$1
b=$dir/bundle
mkdir -p "$b/rootfs/bin" "$b/rootfs/proc" "$b/rootfs/dev" "$b/rootfs/sys" "$b/rootfs/tmp"
cp /bin/busybox "$b/rootfs/bin/"
for a in $("$b/rootfs/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$b/rootfs/bin/$a"; done
(cd "$b" && runc spec)
python3 - "$b/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
json.dump(c, open(p, "w"), indent=1)
PY
s=$dir/bundle-sleep
mkdir -p "$s"
cp -al "$b/rootfs" "$s/rootfs"
python3 - "$b/config.json" "$s/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["sleep", "1000"]
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY
