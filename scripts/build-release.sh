#!/usr/bin/env bash
# Build the release binary, target/release/cella: static (glibc and
# libseccomp linked in) and non-PIE. A start is mostly short-lived process
# work, so this saves the dynamic loader, the relocation of a PIE binary
# and the pages both touch: ~0.8 ms and ~0.9 MB of peak RSS per start
# (docs/performance.md). Only the final binary gets these flags; proc
# macros and build scripts are built as usual.
#
# The linker lays out the functions in scripts/symbol-order.txt first, in
# that order: the code a start runs, packed into a few pages
# (scripts/symbol-order.sh makes the file). It writes a map of the layout
# to cella.map beside the binary. CELLA_SYMBOLS=1 keeps the symbols and
# leaves the order out, for scripts/symbol-order.sh.
# Usage: scripts/build-release.sh [extra cargo arguments, e.g. --quiet]
set -euo pipefail
cd "$(dirname "$0")/.."
libdir=$(pkg-config --variable=libdir libseccomp 2>/dev/null || echo /usr/lib/x86_64-linux-gnu)
if [ ! -f "$libdir/libseccomp.a" ]; then
  echo "build-release: $libdir/libseccomp.a not found: install libseccomp-dev" >&2
  exit 1
fi
export LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH="$libdir"
out=${CARGO_TARGET_DIR:-$PWD/target}/release
flags=(-C target-feature=+crt-static -C relocation-model=static -C "link-arg=-Wl,-Map=$out/cella.map")
if [ "${CELLA_SYMBOLS:-}" = 1 ]; then
  flags+=(-C strip=none)
else
  # Rust 1.90 and later link with their own lld, which reads an ordering
  # file; older ones use the system's GNU ld, which cannot.
  minor=$(rustc --version | sed -n 's/^rustc 1\.\([0-9]*\)\..*/\1/p')
  if [ "${minor:-0}" -ge 90 ]; then
    # Cargo relinks when the arguments change, not when a file they name
    # does: name the file by its contents.
    order=${CARGO_TARGET_DIR:-$PWD/target}/symbol-order-$(sha256sum scripts/symbol-order.txt | cut -c1-16).txt
    mkdir -p "$(dirname "$order")"
    cp scripts/symbol-order.txt "$order"
    flags+=(-C "link-arg=-Wl,--symbol-ordering-file=$order"
            -C link-arg=-Wl,--no-warn-symbol-ordering)
  fi
fi
exec cargo rustc --release --bin cella "$@" -- "${flags[@]}"
