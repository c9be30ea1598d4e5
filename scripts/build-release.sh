#!/usr/bin/env bash
# Build the release binary, target/release/cella: static and non-PIE, with
# musl as its C library (libseccomp linked in). A start is mostly
# short-lived process work, so this saves the dynamic loader, the
# relocation of a PIE binary and the pages both touch (~0.8 ms and ~0.9 MB
# of peak RSS per start), and glibc's start, which probes the CPU with ~70
# `cpuid` instructions, each a trap to the hypervisor in a VM (~0.3-0.5 ms
# per start; docs/performance.md). Only the final binary gets these flags;
# proc macros and build scripts are built as usual.
#
# musl: Rust's glibc target (its only standard library here) linked with
# Debian's musl (package musl-dev) in place of glibc: musl's start files and
# libc.a, gcc's libgcc, and src/musl_compat.rs for the three glibc names
# musl lacks. CELLA_LIBC=glibc links glibc instead (also the fallback, with
# a notice, when musl-dev is not installed).
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
target=${CARGO_TARGET_DIR:-$PWD/target}
out=$target/release
flags=(-C target-feature=+crt-static -C relocation-model=static -C "link-arg=-Wl,-Map=$out/cella.map")

musl=/usr/lib/x86_64-linux-musl
libc=${CELLA_LIBC:-}
if [ -z "$libc" ]; then
  if [ -f "$musl/libc.a" ]; then
    libc=musl
  else
    echo "build-release: $musl/libc.a not found, linking glibc: install musl-dev for a faster start" >&2
    libc=glibc
  fi
fi
case $libc in
  musl)
    [ -f "$musl/libc.a" ] || { echo "build-release: CELLA_LIBC=musl but $musl/libc.a is missing: install musl-dev" >&2; exit 1; }
    # libseccomp.a from a directory of its own: the linker searches the
    # directories it is given in order, and glibc's libc.a sits beside
    # Debian's libseccomp.a.
    mkdir -p "$target/libseccomp"
    cp -p "$libdir/libseccomp.a" "$target/libseccomp/"
    libdir=$target/libseccomp
    crtbegin=$(cc -print-file-name=crtbeginT.o)
    crtend=$(cc -print-file-name=crtend.o)
    # musl's start files (glibc's are left out with -nostartfiles), gcc's
    # crtbeginT.o to register the unwind tables, musl's libc.a found before
    # glibc's for the -lc the Rust libraries ask for. libgcc's unwinder
    # refers to the pthread locks weakly, which would leave them null
    # (glibc has them in libc.a's core objects): -u pulls in musl's.
    flags+=(--cfg cella_musl -C link-arg=-nostartfiles -C "link-arg=-L$musl"
            -C "link-arg=$musl/crt1.o" -C "link-arg=$musl/crti.o" -C "link-arg=$crtbegin"
            -C "link-arg=$crtend" -C "link-arg=$musl/crtn.o"
            -C link-arg=-Wl,-u,pthread_mutex_lock,-u,pthread_mutex_unlock,-u,pthread_once)
    ;;
  glibc) ;;
  *) echo "build-release: CELLA_LIBC is '$libc': use musl or glibc" >&2; exit 1 ;;
esac
export LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH="$libdir"
if [ "${CELLA_SYMBOLS:-}" = 1 ]; then
  flags+=(-C strip=none)
else
  # Rust 1.90 and later link with their own lld, which reads an ordering
  # file; older ones use the system's GNU ld, which cannot.
  minor=$(rustc --version | sed -n 's/^rustc 1\.\([0-9]*\)\..*/\1/p')
  if [ "${minor:-0}" -ge 90 ]; then
    # Cargo relinks when the arguments change, not when a file they name
    # does: name the file by its contents.
    order=$target/symbol-order-$(sha256sum scripts/symbol-order.txt | cut -c1-16).txt
    mkdir -p "$(dirname "$order")"
    cp scripts/symbol-order.txt "$order"
    flags+=(-C "link-arg=-Wl,--symbol-ordering-file=$order"
            -C link-arg=-Wl,--no-warn-symbol-ordering)
  fi
fi
exec cargo rustc --release --bin cella "$@" -- "${flags[@]}"
