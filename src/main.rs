//! cella's entry point is the C `main`, not Rust's: the runtime set-up Rust
//! does before its `main` (the main thread's stack bounds read from
//! /proc/self/maps, an alternate signal stack for overflow reports) is ~50
//! µs and twenty system calls of every start, for nothing cella uses. The
//! two parts it relies on, SIGPIPE ignored and fds 0-2 never left closed,
//! are done by `cli::main`. Arguments still come through `std::env`.
#![no_main]

#[no_mangle]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    // std::process::exit flushes stdout on the way out.
    std::process::exit(cella::cli::main())
}
