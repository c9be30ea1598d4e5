//! The container's view of /sys/fs/cgroup. With a cgroup namespace of its
//! own the container gets fresh cgroup mounts rooted at its cgroup; without
//! one, its cgroup directories are bind-mounted. On v1 and hybrid hosts a
//! tmpfs holds one directory per hierarchy, as on the host.
//!
//! That v1 view needs nothing of the container's namespaces, so in the
//! common case the runtime builds it as a detached mount tree while init
//! mounts the rest of the rootfs ([`build_detached`], see `prebuilt`), and
//! init attaches it with one `move_mount`: twelve mounts and ten
//! directories off init's path.

use super::{remount_bind, Context, Target};
use crate::cgroups::{CgroupPaths, Hierarchy};
use crate::error::{Context as _, Error, Result};
use nix::mount::{mount, MsFlags};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

const NONE: Option<&str> = None;

/// The tmpfs under the hierarchies always has these.
const TMPFS_FLAGS: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

/// The flags the view's mounts get from a cgroup mount's options.
pub fn view_flags(opts: &super::options::Parsed) -> MsFlags {
    opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC)
}

pub fn mount_cgroups(
    ctx: &Context,
    root: &OwnedFd,
    target: &Target,
    dest: &Path,
    opts: &super::options::Parsed,
) -> Result<()> {
    let flags = view_flags(opts);
    if ctx.cgroup.unified_only() {
        if let Some(h) = ctx.cgroup.hierarchies.first() {
            if one(ctx, &h.dir, target.path(), dest, "cgroup2", None, flags)? == Mounted::Bind
                && !flags.is_empty()
            {
                let top = Target::open(root, dest)?;
                remount_bind(top.path(), flags, MsFlags::empty())?;
            }
        }
        return Ok(());
    }
    nix::mount::mount(
        Some("tmpfs"),
        target.path(),
        Some("tmpfs"),
        TMPFS_FLAGS,
        Some("mode=755"),
    )
    .ctx_path("cannot mount tmpfs on", dest)?;
    // The target's fd is the directory under the tmpfs: the tmpfs itself is
    // reached by a fresh lookup.
    let top = Target::open(root, dest)?;
    let mut binds = Vec::new();
    for h in &ctx.cgroup.hierarchies {
        let name = view_name(h);
        // On the tmpfs just mounted: nothing is there yet.
        let sub = Path::new(top.path()).join(&name);
        std::fs::create_dir(&sub)
            .map_err(|e| crate::Error::io("cannot create mount point", dest.join(&name), e))?;
        let (fstype, data) = if h.v2 {
            ("cgroup2", None)
        } else {
            ("cgroup", Some(h.controllers.join(",")))
        };
        let shown = dest.join(&name);
        if one(ctx, &h.dir, &sub, &shown, fstype, data.as_deref(), flags)? == Mounted::Bind {
            binds.push(sub);
        }
        for link in co_mounted(h) {
            let _ = std::os::unix::fs::symlink(&name, Path::new(top.path()).join(link));
        }
    }
    if flags.is_empty() {
        return Ok(());
    }
    // A bind mount takes its flags only from a remount: one call for the
    // tmpfs and every bind on it (Linux 5.12), else one remount each.
    if let Some((set, clear)) = super::options::mount_attrs(flags | TMPFS_FLAGS, MsFlags::empty()) {
        match crate::sys::mount_setattr(Path::new(top.path()), true, set, clear) {
            Ok(()) => return Ok(()),
            Err(nix::errno::Errno::ENOSYS) => {}
            Err(e) => return Err(crate::Error::path("cannot set mount flags on", dest, e)),
        }
    }
    for sub in &binds {
        remount_bind(sub, flags, MsFlags::empty())?;
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        nix::mount::mount(
            NONE,
            top.path(),
            NONE,
            MsFlags::MS_REMOUNT | TMPFS_FLAGS | MsFlags::MS_RDONLY,
            Some("mode=755"),
        )
        .ctx_path("cannot remount read-only", dest)?;
    }
    Ok(())
}

/// The directory a hierarchy gets in the view: its controllers, as the
/// host names it ("cpu,cpuacct", "systemd"), or "unified" for v2.
fn view_name(h: &Hierarchy) -> String {
    if h.v2 {
        return "unified".to_string();
    }
    h.controllers
        .iter()
        .map(|c| c.strip_prefix("name=").unwrap_or(c))
        .collect::<Vec<_>>()
        .join(",")
}

/// "cpu,cpuacct" is also reachable as "cpu" and "cpuacct": the names that
/// get a symlink to the hierarchy's directory.
fn co_mounted(h: &Hierarchy) -> impl Iterator<Item = &str> {
    let several = h.controllers.len() > 1;
    h.controllers
        .iter()
        .filter(move |_| several)
        .map(|c| c.strip_prefix("name=").unwrap_or(c))
}

/// Build the v1 view as a detached mount tree, in the runtime's own mount
/// namespace: a tmpfs (`fsmount`), each hierarchy's cgroup directory cloned
/// onto it (`open_tree` + `move_mount`, which needs Linux 6.15 to mount on
/// a detached mount), its symlinks, and then `flags` and `propagation` for
/// the whole tree in one `mount_setattr`. The propagation is the one the
/// rootfs gets (slave or private), so the view relates to the host's
/// cgroup mounts exactly as binds made inside the container would.
///
/// Any failure (an older kernel, say) is the caller's cue to let init
/// build the view itself, which reports a real problem properly.
pub fn build_detached(
    cgroup: &CgroupPaths,
    flags: MsFlags,
    propagation: MsFlags,
) -> Result<OwnedFd> {
    use rustix::fs::{mkdirat, symlinkat, Mode, CWD};
    use rustix::mount::{
        fsconfig_create, fsconfig_set_string, fsmount, fsopen, move_mount, open_tree, FsMountFlags,
        FsOpenFlags, MountAttrFlags, MoveMountFlags, OpenTreeFlags,
    };
    let io =
        |what: &'static str, path: &Path, e: rustix::io::Errno| Error::io(what, path, e.into());
    let (set, clear) = super::options::mount_attrs(flags | TMPFS_FLAGS, MsFlags::empty())
        .ok_or_else(|| Error::Other(format!("{flags:?} cannot be set by mount_setattr")))?;
    let tmpfs = Path::new("tmpfs");
    let fs = fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC).map_err(|e| io("fsopen", tmpfs, e))?;
    fsconfig_set_string(&fs, "source", "tmpfs").map_err(|e| io("fsconfig", tmpfs, e))?;
    fsconfig_set_string(&fs, "mode", "755").map_err(|e| io("fsconfig", tmpfs, e))?;
    fsconfig_create(&fs).map_err(|e| io("fsconfig", tmpfs, e))?;
    let view = fsmount(
        &fs,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_NOSUID
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOEXEC,
    )
    .map_err(|e| io("fsmount", tmpfs, e))?;
    for h in &cgroup.hierarchies {
        let name = view_name(h);
        mkdirat(&view, &name, Mode::from_raw_mode(0o777))
            .map_err(|e| io("cannot create mount point", Path::new(&name), e))?;
        let flags = OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_RECURSIVE;
        let tree = match cgroup.parent_of(&h.dir) {
            Some((parent, leaf)) => open_tree(parent, leaf, flags),
            None => open_tree(CWD, &h.dir, flags),
        }
        .map_err(|e| io("cannot clone", &h.dir, e))?;
        move_mount(
            &tree,
            "",
            &view,
            &name,
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )
        .map_err(|e| io("cannot mount on the detached view", &h.dir, e))?;
        for link in co_mounted(h) {
            let _ = symlinkat(&name, &view, link);
        }
    }
    crate::sys::mount_setattr_tree(view.as_fd(), set, clear, propagation.bits())
        .map_err(|e| Error::path("cannot set mount flags on", "the detached cgroup view", e))?;
    Ok(view)
}

#[derive(PartialEq)]
enum Mounted {
    /// A cgroup filesystem of the container's own cgroup namespace, with
    /// its flags.
    Fresh,
    /// The host's cgroup directory, bound without its flags yet.
    Bind,
}

/// Mount one hierarchy on `at` (a path through a target's fd); `shown` is
/// where that is in the container, for messages.
fn one(
    ctx: &Context,
    host_dir: &Path,
    at: impl AsRef<Path>,
    shown: &Path,
    fstype: &str,
    data: Option<&str>,
    flags: MsFlags,
) -> Result<Mounted> {
    let at = at.as_ref();
    if ctx.new_cgroupns {
        match mount(Some("cgroup"), at, Some(fstype), flags, data) {
            Ok(()) => return Ok(Mounted::Fresh),
            // Some kernels refuse a v1 mount from a user namespace: fall
            // back to the bind below.
            Err(nix::errno::Errno::EPERM) if ctx.new_userns => {}
            Err(e) => return Err(crate::Error::path("cannot mount cgroup on", shown, e)),
        }
    }
    mount(
        Some(host_dir),
        at,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    )
    .ctx_path("cannot bind cgroup onto", shown)?;
    Ok(Mounted::Bind)
}
