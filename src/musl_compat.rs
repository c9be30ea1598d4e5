//! The glibc symbols a musl-linked cella still asks for, answered for
//! musl. Compiled only into the release build that links musl
//! (`scripts/build-release.sh` sets `--cfg cella_musl`).
//!
//! That build is Rust's glibc target (the only standard library on this
//! machine) linked with Debian's musl instead of glibc: musl's start code
//! does not probe the CPU, where glibc's runs ~70 `cpuid` instructions
//! before `main`, each a trap to the hypervisor in a VM
//! (docs/performance.md, "CPU feature detection"). Rust's standard library,
//! libseccomp and libgcc's unwinder were built against glibc; on x86_64 the
//! structures they share with musl have the same layout, and these three
//! names are all they need that musl lacks (the link fails on any other).

use std::ffi::{c_char, c_int, c_void};

/// Rust's standard library asks for glibc's version before it uses
/// `posix_spawn` (glibc before 2.24 could not report a failed exec through
/// it) and before `res_init`. A string that is no version makes it treat the
/// C library as not glibc: `Command` then forks and execs, which works with
/// any C library.
#[no_mangle]
extern "C" fn gnu_get_libc_version() -> *const c_char {
    c"musl".as_ptr()
}

/// libgcc's unwinder, built for glibc 2.35 and later, asks the dynamic
/// loader which object holds a code address. This binary has one object,
/// and its unwind tables are registered with the unwinder at start (gcc's
/// `crtbeginT.o`), which it searches first; any other address is in no
/// object: -1, as glibc answers.
#[no_mangle]
extern "C" fn _dl_find_object(_pc: *mut c_void, _result: *mut c_void) -> c_int {
    -1
}

/// libseccomp prints a filter as text (`seccomp_export_pfc`) with glibc's
/// fortified `fprintf`. cella never exports a filter as text, and stable
/// Rust cannot define a variadic function to forward the call to musl's
/// `vfprintf`: a call would be a bug, so it aborts.
#[no_mangle]
extern "C" fn __fprintf_chk() -> c_int {
    std::process::abort()
}
