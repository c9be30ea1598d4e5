//! The state store under `--root`: one directory per container holding
//! `state.json` (written atomically) and, between `create` and `start`, the
//! exec fifo. A container's status is derived from the live system every time
//! it is read, so it is always truthful, even after an unexpected death.

use crate::cgroups::CgroupPaths;
use crate::error::{Context, Error, Result};
use crate::sys;
use nix::fcntl::{Flock, FlockArg};
use oci_spec::runtime::{Hook, LinuxSeccomp, Process};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";
/// Where the record is written before it is made visible (see
/// [`Store::stage`]). A removed container's record is moved back here and
/// kept with the spare directory, so the next start writes an inode that
/// exists: making and freeing one costs an ext4 inode allocation and an
/// eviction, ~20 µs of a start's teardown on this project's test machine.
const STAGED_FILE: &str = ".state.json.tmp";
pub const EXEC_FIFO: &str = "exec.fifo";
/// A removed container's directory kept in the root for the next
/// container, holding at most its staged record ([`STAGED_FILE`]):
/// claimed and given back by `rename`, it spares a start the `mkdir` and
/// the `rmdir` of a directory. On ext4 with online discard (/run on some
/// hosts) those allocate, zero and discard a block with synchronous I/O:
/// 0.1-0.25 ms of every start on this project's test machine. Not a valid
/// id (ids do not start with a dot), and never listed (it has no
/// `state.json`).
pub const SPARE: &str = ".spare";
pub const OCI_VERSION: &str = "1.2.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is kept on disk about one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// Host pid of the container's init; 0 while it is being created.
    pub pid: i32,
    /// Start time of init (clock ticks since boot), to detect pid reuse.
    pub init_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    pub cgroup: CgroupPaths,
    /// The container shares the host's (or another) pid namespace, so its
    /// processes do not die with init and must be killed one by one.
    pub shared_pid_ns: bool,
    #[serde(default)]
    pub poststop: Vec<Hook>,
    /// Run by `start`, after the container's program has started.
    #[serde(default)]
    pub poststart: Vec<Hook>,
    /// The container's process, the base of what `exec` runs.
    #[serde(default)]
    pub process: Option<Process>,
    /// The container's seccomp profile, applied to `exec`'d processes too.
    #[serde(default)]
    pub seccomp: Option<LinuxSeccomp>,
}

/// The store: the `--root` directory.
pub struct Store {
    root: PathBuf,
}

/// A state record written but not yet visible (see `Store::stage`).
#[must_use = "a staged record is not saved until committed"]
pub struct Staged {
    tmp: PathBuf,
    dst: PathBuf,
}

impl Staged {
    pub fn commit(self) -> Result<()> {
        fs::rename(&self.tmp, &self.dst).map_err(|e| Error::io("cannot write state", self.dst, e))
    }
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Store { root: root.into() }
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Claim `id`: take the spare directory or create one, failing if `id`
    /// exists.
    pub fn claim(&self, id: &str) -> Result<PathBuf> {
        validate_id(id)?;
        let dir = self.dir(id);
        match rename_noreplace(&self.root.join(SPARE), &dir) {
            Ok(()) => return Ok(dir),
            Err(rustix::io::Errno::EXIST) => return Err(Error::Exists(id.to_string())),
            // No spare (or no root yet, or no RENAME_NOREPLACE here).
            Err(_) => {}
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&self.root)
            .map_err(|e| Error::io("cannot create state root", &self.root, e))?;
        match fs::DirBuilder::new().mode(0o711).create(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::Exists(id.to_string()))
            }
            Err(e) => Err(Error::io("cannot create state directory", dir, e)),
        }
    }

    /// Take the container's lock: commands that change a container hold it
    /// so two of them never interleave.
    pub fn lock(&self, id: &str) -> Result<Flock<File>> {
        validate_id(id)?;
        let dir = self.dir(id);
        let f = File::open(&dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound(id.to_string()),
            _ => Error::io("cannot open state directory", &dir, e),
        })?;
        Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .ctx_path("cannot lock", dir)
    }

    /// Write the record beside its final name, where no reader looks: a
    /// start writes it while init sets itself up and commits it (one
    /// rename) once init is ready.
    pub fn stage(&self, rec: &Record) -> Result<Staged> {
        let dir = self.dir(&rec.id);
        let tmp = dir.join(STAGED_FILE);
        let data = serde_json::to_vec(rec).map_err(|e| Error::Other(e.to_string()))?;
        // Not truncated on open: a kept record (see STAGED_FILE) is
        // overwritten and cut to the new length, its blocks kept.
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::io("cannot write state", &tmp, e))?;
        f.write_all(&data)
            .and_then(|_| f.set_len(data.len() as u64))
            .map_err(|e| Error::io("cannot write state", &tmp, e))?;
        Ok(Staged {
            dst: dir.join(STATE_FILE),
            tmp,
        })
    }

    pub fn load(&self, id: &str) -> Result<Record> {
        validate_id(id)?;
        let path = self.dir(id).join(STATE_FILE);
        let data = fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound(id.to_string()),
            _ => Error::io("cannot read state", &path, e),
        })?;
        serde_json::from_slice(&data).map_err(|e| {
            Error::Other(format!(
                "state of container \"{id}\" is corrupt ({e}): remove it with 'cella delete --force {id}'"
            ))
        })
    }

    /// Ids of all containers in the store, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let rd = match fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(Error::io("cannot read state root", &self.root, e)),
        };
        for ent in rd.flatten() {
            if ent.path().join(STATE_FILE).exists() {
                ids.push(ent.file_name().to_string_lossy().into_owned());
            }
        }
        ids.sort();
        Ok(ids)
    }

    pub fn remove(&self, id: &str) -> Result<()> {
        let dir = self.dir(id);
        // Usually holding the staged record alone (see remove_locked): one
        // unlink and one rmdir, no listing.
        let _ = fs::remove_file(dir.join(STAGED_FILE));
        if fs::remove_dir(&dir).is_ok() {
            return Ok(());
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("cannot remove state directory", dir, e)),
        }
    }

    /// Remove a container whose lock we hold. The record goes first (back
    /// to its staging name, [`STAGED_FILE`]), so whoever takes the lock
    /// next finds no container; then the directory, holding nothing else,
    /// becomes the spare ([`SPARE`]), or, when there is one already, the
    /// lock is dropped and the directory removed. (A directory removed
    /// while open goes on ext4's orphan list and is freed at the last
    /// close: twice the cost, ~0.15 ms.)
    pub fn remove_locked(&self, id: &str, lock: Flock<File>) -> Result<()> {
        let dir = self.dir(id);
        let (rec, staged) = (dir.join(STATE_FILE), dir.join(STAGED_FILE));
        match fs::rename(&rec, &staged) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot remove state", rec, e)),
        }
        if holds_only_staged(&lock) && rename_noreplace(&dir, &self.root.join(SPARE)).is_ok() {
            return Ok(());
        }
        drop(lock);
        self.remove(id)
    }

    /// The status of a container, read from the live system.
    pub fn status(&self, rec: &Record) -> Status {
        if rec.pid <= 0 {
            return Status::Creating;
        }
        if !init_alive(rec) {
            return Status::Stopped;
        }
        if self.dir(&rec.id).join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if rec.cgroup.is_frozen() {
            return Status::Paused;
        }
        Status::Running
    }
}

/// Whether the recorded init still runs (not a zombie, not a new process that
/// reused its pid).
pub fn init_alive(rec: &Record) -> bool {
    match sys::proc_start_time(rec.pid) {
        Some((start, state)) => start == rec.init_start && state != 'Z' && state != 'X',
        None => false,
    }
}

/// The OCI state document for a container, with runc's extra fields.
pub fn oci_state(rec: &Record, status: Status) -> serde_json::Value {
    let pid = if matches!(status, Status::Stopped | Status::Creating) {
        0
    } else {
        rec.pid
    };
    serde_json::json!({
        "ociVersion": OCI_VERSION,
        "id": rec.id,
        "pid": pid,
        "status": status.as_str(),
        "bundle": rec.bundle,
        "rootfs": rec.rootfs,
        "created": rec.created,
        "annotations": rec.annotations,
        "owner": rec.owner,
    })
}

/// Whether the directory open as `dir` (read from its start) holds nothing
/// but "." and ".." and the staged record: the lock's own fd, so no second
/// open.
fn holds_only_staged(dir: &File) -> bool {
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1024];
    let mut entries = rustix::fs::RawDir::new(dir, &mut buf);
    while let Some(entry) = entries.next() {
        match entry {
            Ok(e) if matches!(e.file_name().to_bytes(), b"." | b"..") => {}
            Ok(e) if e.file_name().to_bytes() == STAGED_FILE.as_bytes() => {}
            _ => return false,
        }
    }
    true
}

/// `rename` that fails with EEXIST instead of replacing `to`.
fn rename_noreplace(from: &Path, to: &Path) -> rustix::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE)
}

/// Container ids become directory and cgroup names: keep them to a safe set.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-+.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "abc-1", "x_y.z+1", "A9"] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "a b", ".hidden", "é"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }
}
