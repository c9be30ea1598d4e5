//! cella: a Linux container runtime.
//!
//! The library holds the engine; `src/main.rs` and [`cli`] are the faces.
//! Read [`engine`] top to bottom to follow how a container is started.

pub mod cgroups;
pub mod cli;
pub mod config;
pub mod console;
pub mod engine;
pub mod error;
pub mod features;
pub mod hooks;
pub mod kfile;
pub mod logging;
pub mod monitor;
pub mod namespaces;
pub mod process;
pub mod procfs;
pub mod rootfs;
pub mod security;
pub mod signals;
pub mod state;
pub mod sys;
pub mod timefmt;

pub use error::{Error, Result};
