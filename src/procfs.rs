//! A procfs the container cannot tamper with, for the runtime's own writes
//! (sysctls, oom_score_adj, reopening the exec fifo).
//!
//! The container's /proc is a path inside a root filesystem that someone
//! else may share; a mount placed over /proc/sys/... or /proc/self/attr/...
//! could redirect a write meant for one procfs file to another (the
//! CVE-2019-16884 / CVE-2025-52881 class). Instead cella mounts a private
//! procfs with the new mount API (`fsopen`/`fsmount`): a detached mount
//! that no path leads to, so nothing can be mounted over it, and every open
//! goes through `openat2` with `RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS |
//! RESOLVE_BENEATH` and is checked to be on procfs.

use crate::error::{Error, Result};
use rustix::fs::{fstatfs, openat2, Mode, OFlags, ResolveFlags, PROC_SUPER_MAGIC};
use rustix::mount::{fsconfig_create, fsmount, fsopen, FsMountFlags, FsOpenFlags, MountAttrFlags};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

pub struct ProcFs {
    root: OwnedFd,
}

impl ProcFs {
    /// A fresh procfs of the calling process's pid namespace. Falls back to
    /// the mounted /proc (checked to be procfs) where a new instance may not
    /// be mounted, e.g. in a user namespace without a pid namespace of its
    /// own.
    pub fn open_private() -> Result<ProcFs> {
        let fresh = fsopen("proc", FsOpenFlags::FSOPEN_CLOEXEC).and_then(|fs| {
            fsconfig_create(&fs)?;
            fsmount(
                &fs,
                FsMountFlags::FSMOUNT_CLOEXEC,
                MountAttrFlags::MOUNT_ATTR_NOSUID
                    | MountAttrFlags::MOUNT_ATTR_NODEV
                    | MountAttrFlags::MOUNT_ATTR_NOEXEC,
            )
        });
        let root = match fresh {
            Ok(fd) => fd,
            Err(e) => {
                tracing::debug!("private procfs unavailable ({e}); using /proc");
                rustix::fs::open(
                    "/proc",
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| Error::io("cannot open", "/proc", e.into()))?
            }
        };
        check_proc(&root, "/proc")?;
        Ok(ProcFs { root })
    }

    /// Open `rel` (e.g. "sys/net/ipv4/ip_forward") without following any
    /// link or crossing any mount. A leading "self/" is replaced by this
    /// process's pid as this procfs numbers it.
    pub fn open(&self, rel: &str, flags: OFlags) -> Result<OwnedFd> {
        let rel = match rel.strip_prefix("self/") {
            Some(rest) => format!("{}/{rest}", self.own_pid()?),
            None => rel.to_string(),
        };
        let rel = rel.as_str();
        let resolve = ResolveFlags::NO_XDEV
            | ResolveFlags::NO_SYMLINKS
            | ResolveFlags::NO_MAGICLINKS
            | ResolveFlags::BENEATH;
        let fd = openat2(
            &self.root,
            rel,
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            resolve,
        )
        .map_err(|e| Error::io("cannot open", format!("/proc/{rel}"), e.into()))?;
        check_proc(&fd, rel)?;
        Ok(fd)
    }

    /// Our pid in this procfs's pid namespace: the target of its `self`.
    fn own_pid(&self) -> Result<String> {
        let link = rustix::fs::readlinkat(&self.root, "self", Vec::new())
            .map_err(|e| Error::io("cannot read", "/proc/self", e.into()))?;
        Ok(link.to_string_lossy().into_owned())
    }

    pub fn write(&self, rel: &str, data: &str) -> Result<()> {
        let fd = self.open(rel, OFlags::WRONLY)?;
        std::fs::File::from(fd)
            .write_all(data.as_bytes())
            .map_err(|e| Error::io("cannot write", format!("/proc/{rel}"), e))
    }

    /// Reopen one of our own fds (`self/fd/N` is a magic link, followed on
    /// purpose, inside a procfs nobody else can reach).
    pub fn reopen_fd(&self, fd: &impl AsRawFd, flags: OFlags) -> Result<OwnedFd> {
        let rel = format!("self/fd/{}", fd.as_raw_fd());
        rustix::fs::openat(
            &self.root,
            rel.as_str(),
            flags | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("cannot reopen", format!("/proc/{rel}"), e.into()))
    }
}

fn check_proc(fd: &impl AsFd, what: &str) -> Result<()> {
    let st = fstatfs(fd).map_err(|e| Error::io("cannot statfs", what, e.into()))?;
    if st.f_type != PROC_SUPER_MAGIC {
        return Err(Error::Other(format!(
            "{what} is not on procfs: refusing to write through it"
        )));
    }
    Ok(())
}
