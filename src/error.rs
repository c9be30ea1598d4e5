//! The library's error type. Every variant names the thing that failed so the
//! CLI can print one line a user can act on.

use nix::errno::Errno;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call on a named resource failed.
    #[error("{what} {}: {errno}", path.display())]
    Path {
        what: &'static str,
        path: PathBuf,
        errno: Errno,
    },
    /// A system call with no path attached failed.
    #[error("{what}: {errno}")]
    Sys { what: String, errno: Errno },
    /// An I/O error on a named file (reading configs, writing state).
    #[error("{what} {}: {}", path.display(), io_text(error))]
    Io {
        what: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    /// The bundle's config.json is missing, malformed or asks for something
    /// cella cannot do.
    #[error("{0}")]
    Config(String),
    #[error("container \"{0}\" does not exist (see 'cella list')")]
    NotFound(String),
    #[error("container \"{0}\" already exists: pick another id or 'cella delete {0}' first")]
    Exists(String),
    #[error("invalid container id {0:?}: use letters, digits, '_', '-', '+' and '.' (not starting with '.')")]
    InvalidId(String),
    /// The container is not in a state that allows the operation.
    #[error("{0}")]
    State(String),
    /// The container's init reported a failure from inside the start sequence.
    #[error("cannot start container process: {}{msg}", if step == "exec" { String::new() } else { format!("{step}: ") })]
    Child {
        step: String,
        path: Option<String>,
        msg: String,
        errno: i32,
    },
    /// A hook failed.
    #[error("{hook} hook {path} {reason}")]
    Hook {
        hook: &'static str,
        path: String,
        reason: String,
    },
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn path(what: &'static str, path: impl Into<PathBuf>, errno: Errno) -> Self {
        Error::Path {
            what,
            path: path.into(),
            errno,
        }
    }

    pub fn sys(what: impl Into<String>, errno: Errno) -> Self {
        Error::Sys {
            what: what.into(),
            errno,
        }
    }

    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            error: source,
        }
    }

    /// The errno behind this error, when there is one (the child sends it
    /// back across the sync channel).
    pub fn errno(&self) -> i32 {
        match self {
            Error::Path { errno, .. } | Error::Sys { errno, .. } => *errno as i32,
            Error::Io { error, .. } => error.raw_os_error().unwrap_or(0),
            Error::Child { errno, .. } => *errno,
            _ => 0,
        }
    }
}

/// An io::Error as the C library words it, without Rust's "(os error N)".
pub fn io_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}

/// Attach a description to a nix result.
pub trait Context<T> {
    fn ctx(self, what: impl Into<String>) -> Result<T>;
    fn ctx_path(self, what: &'static str, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> Context<T> for nix::Result<T> {
    fn ctx(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::sys(what, e))
    }
    fn ctx_path(self, what: &'static str, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| Error::path(what, path, e))
    }
}
