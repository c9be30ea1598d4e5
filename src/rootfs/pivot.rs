//! Making the rootfs the root, and getting rid of the old one.
//!
//! `pivot_root(".", ".")` mounts the old root on top of the new one; it
//! must then be detached, or the host's mounts stay in the container's
//! mount namespace. Detaching it waits for an RCU grace period (the
//! kernel's `namespace_unlock`), ~40 µs in which init can do nothing. In
//! the plain start (see `Launch::runtime_detaches`) the runtime, idle by
//! then, does it instead ([`OldRootDetacher`]): init sends it the old root
//! and goes on with its last steps, and waits for `Detached` only before
//! it reports ready, so no program of the container's ever runs with the
//! old root in reach.

use crate::error::{Context as _, Error, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::CloneFlags;
use std::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

const NONE: Option<&str> = None;

/// Make `rootfs` the root: pivot_root(2), then detach the old root. With
/// `no_pivot` (a ramdisk root, where pivot_root is refused), move the mount
/// and chroot instead.
pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<()> {
    if no_pivot {
        nix::unistd::chdir(rootfs).ctx_path("cannot chdir to", rootfs)?;
        mount(Some(rootfs), "/", NONE, MsFlags::MS_MOVE, NONE)
            .ctx_path("cannot move rootfs", rootfs)?;
        nix::unistd::chroot(".").ctx_path("cannot chroot to", rootfs)?;
        return nix::unistd::chdir("/").ctx("cannot chdir to /");
    }
    let old = pivot_keeping_old_root(rootfs)?;
    detach(old.as_fd())?;
    nix::unistd::chdir("/").ctx("cannot chdir to /")
}

/// pivot_root(2) into `rootfs`, leaving the old root stacked on the new
/// one; returns it, for [`OldRootDetacher`]. Until then it is out of reach
/// of path lookups (they start at the new root's top directory and never
/// cross into what is mounted on it), but it is still mounted in this
/// mount namespace.
pub fn pivot_keeping_old_root(rootfs: &Path) -> Result<OwnedFd> {
    let old = fs::File::open("/").map_err(|e| Error::io("cannot open", "/", e))?;
    let new = fs::File::open(rootfs).map_err(|e| Error::io("cannot open", rootfs, e))?;
    nix::unistd::fchdir(&new).ctx_path("cannot chdir to", rootfs)?;
    nix::unistd::pivot_root(".", ".").ctx_path("cannot pivot_root to", rootfs)?;
    Ok(old.into())
}

/// Detach the old root `old` (its fd) from the mount namespace we are in,
/// without letting the unmount propagate back to the host. Leaves the
/// working directory on it.
fn detach(old: std::os::fd::BorrowedFd<'_>) -> Result<()> {
    nix::unistd::fchdir(old).ctx("cannot chdir to old root")?;
    mount(NONE, ".", NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE)
        .ctx("cannot make old root a slave")?;
    umount2(".", MntFlags::MNT_DETACH).ctx("cannot unmount old root")
}

/// Runtime side: what it takes to work in init's mount namespace (the
/// read-only paths under /proc, see `procpaths`, then the detach of the
/// old root init pivoted away from) and to come back. Opened once the
/// runtime has sent its last prebuilt mount.
pub struct OldRootDetacher {
    own_root: OwnedFd,
    own_cwd: OwnedFd,
    own_ns: OwnedFd,
    pid: i32,
    init: OwnedFd,
}

impl OldRootDetacher {
    /// For init `pid`, from the runtime's own namespace, root and working
    /// directory.
    pub fn new(pid: i32) -> Result<Self> {
        use rustix::fs::{open, Mode, OFlags};
        let dir = |p: &str| {
            open(
                p,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::io("cannot open", p, e.into()))
        };
        Ok(OldRootDetacher {
            own_root: dir("/")?,
            own_cwd: dir(".")?,
            own_ns: open_ns("/proc/self/ns/mnt")?,
            pid,
            // Not init's namespace file: init may not have made its mount
            // namespace yet. A pidfd names init, and setns(2) finds the
            // namespace init has when it is called.
            init: crate::sys::pidfd_open(pid).ctx("cannot open container init")?,
        })
    }

    /// Init's pidfd: readable once init has exited.
    pub fn init(&self) -> BorrowedFd<'_> {
        self.init.as_fd()
    }

    /// Enter init's mount namespace, run `inside` (given init's pidfd, and
    /// returning the old root init pivoted away from, sent with
    /// `Pivoted`), detach that old root there, and return to the
    /// runtime's own namespace, root and working directory, whatever
    /// happened. Init may pivot while `inside` runs: the kernel then moves
    /// the runtime's root and working directory, which point at init's
    /// old root, to the new one; nothing here resolves a path meanwhile.
    pub fn detach_with(self, inside: impl FnOnce(BorrowedFd<'_>) -> Result<OwnedFd>) -> Result<()> {
        let entered = match nix::sched::setns(self.init.as_fd(), CloneFlags::CLONE_NEWNS) {
            // setns(2) takes pidfds from Linux 5.8; before, init's
            // namespace file (init is our child, not yet reaped: its pid is
            // its own, and it made its mount namespace before it sent
            // anything).
            Err(nix::errno::Errno::EINVAL) => open_ns(&format!("/proc/{}/ns/mnt", self.pid))
                .and_then(|ns| {
                    nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWNS)
                        .ctx("cannot enter the container's mount namespace")
                }),
            r => r.ctx("cannot enter the container's mount namespace"),
        };
        entered?;
        let detached = inside(self.init.as_fd()).and_then(|old| detach(old.as_fd()));
        // Back home whatever happened: the rest of the runtime's work
        // (state, cgroups) is done from here.
        nix::sched::setns(self.own_ns.as_fd(), CloneFlags::CLONE_NEWNS)
            .ctx("cannot return to the runtime's mount namespace")?;
        nix::unistd::fchdir(&self.own_root).ctx("cannot return to the runtime's root")?;
        nix::unistd::chroot(".").ctx("cannot return to the runtime's root")?;
        nix::unistd::fchdir(&self.own_cwd)
            .ctx("cannot return to the runtime's working directory")?;
        detached
    }
}

fn open_ns(path: &str) -> Result<OwnedFd> {
    use rustix::fs::{open, Mode, OFlags};
    open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::io("cannot open", path, e.into()))
}
