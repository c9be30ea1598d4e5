#!/usr/bin/env bash
# Build the release binary, target/release/cella: static (glibc and
# libseccomp linked in) and non-PIE. A start is mostly short-lived process
# work, so this saves the dynamic loader, the relocation of a PIE binary
# and the pages both touch: ~0.8 ms and ~0.9 MB of peak RSS per start
# (docs/performance.md). Only the final binary gets these flags; proc
# macros and build scripts are built as usual.
# Usage: scripts/build-release.sh [extra cargo arguments, e.g. --quiet]
set -euo pipefail
cd "$(dirname "$0")/.."
libdir=$(pkg-config --variable=libdir libseccomp 2>/dev/null || echo /usr/lib/x86_64-linux-gnu)
if [ ! -f "$libdir/libseccomp.a" ]; then
  echo "build-release: $libdir/libseccomp.a not found: install libseccomp-dev" >&2
  exit 1
fi
export LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH="$libdir"
exec cargo rustc --release --bin cella "$@" -- \
  -C target-feature=+crt-static -C relocation-model=static
