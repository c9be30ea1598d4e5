//! Keeping the container in: seccomp here; capabilities, no_new_privs and
//! the user switch in `process.rs`; the refusal of LSM labels this build
//! cannot apply in `config`.

pub mod seccomp;
