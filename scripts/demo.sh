#!/usr/bin/env bash
# Build cella and run one real container on an embedded default: a fresh
# root directory with the host's /usr and /etc bind-mounted read-only (and
# /bin, /lib... as on the host), no image download. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (cella creates namespaces, cgroups and mounts)" >&2; exit 1; }
command -v cargo >/dev/null || { echo "demo: cargo not found: install Rust (rustup or Debian's cargo)" >&2; exit 1; }
# The C libraries cella links: libseccomp, and musl (the release build's C
# library; without it the build falls back to glibc, slower to start).
missing=""
for p in libseccomp-dev musl-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "demo: installing$missing (needed to build cella)"
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing pkg-config >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing pkg-config >/dev/null; }
fi
./scripts/build-release.sh --quiet
cella=$PWD/target/release/cella

bundle=$(mktemp -d /tmp/cella-demo.XXXXXX)
root=$(mktemp -d /tmp/cella-demo-state.XXXXXX)
cleanup() { "$cella" --root "$root" delete --force demo >/dev/null 2>&1 || true; rm -rf "$bundle" "$root"; }
trap cleanup EXIT
mkdir -p "$bundle/rootfs"/{usr,etc,proc,dev,sys,tmp}

binds=""
for d in bin sbin lib lib32 lib64 libx32; do
  if [ -L "/$d" ]; then
    ln -s "$(readlink "/$d")" "$bundle/rootfs/$d"
  elif [ -d "/$d" ]; then
    mkdir -p "$bundle/rootfs/$d"
    binds="$binds,{\"destination\":\"/$d\",\"type\":\"bind\",\"source\":\"/$d\",\"options\":[\"rbind\",\"ro\",\"nosuid\",\"nodev\"]}"
  fi
done

cat > "$bundle/config.json" <<JSON
{
  "ociVersion": "1.2.0",
  "process": {
    "user": {"uid": 0, "gid": 0},
    "args": ["sh", "-c", "echo \"hostname: \$(hostname)\"; id; ps -o pid,user,args 2>/dev/null || ps"],
    "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "cella-demo",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]},
    {"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro", "nosuid", "nodev"]},
    {"destination": "/etc", "type": "bind", "source": "/etc", "options": ["rbind", "ro", "nosuid", "nodev"]}
    $binds
  ],
  "linux": {
    "resources": {"devices": [{"allow": false, "access": "rwm"}]},
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
    "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}
JSON

echo "cella run: a container on the host's /usr and /etc, read-only"
"$cella" --root "$root" run --bundle "$bundle" demo
