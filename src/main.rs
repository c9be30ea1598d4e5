//! cella's entry point is the C `main`, not Rust's: the runtime set-up Rust
//! does before its `main` (the main thread's stack bounds read from
//! /proc/self/maps, an alternate signal stack for overflow reports) is ~50
//! µs and twenty system calls of every start, for nothing cella uses. The
//! two parts it relies on, SIGPIPE ignored and fds 0-2 never left closed,
//! are done by `cli::main`. The arguments come from `main`'s own `argv`:
//! the release build links musl, which does not hand them to Rust's
//! standard library the way glibc does.
#![no_main]

#[cfg(cella_musl)]
mod musl_compat;

/// musl's allocator maps and unmaps pages for a start's small allocations
/// (fifty system calls and ~55 page faults more a `run`); dlmalloc takes
/// one 64 KiB mapping and keeps what is freed.
#[cfg(cella_musl)]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

#[no_mangle]
extern "C" fn main(argc: std::ffi::c_int, argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    // SAFETY: these are the arguments the C start code passes to `main`:
    // `argc` NUL-terminated strings that live as long as the process.
    let args = unsafe { cella::sys::args_from_main(argc, argv) };
    // std::process::exit flushes stdout on the way out.
    std::process::exit(cella::cli::main(args))
}
