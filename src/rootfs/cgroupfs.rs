//! The container's view of /sys/fs/cgroup. With a cgroup namespace of its
//! own the container gets fresh cgroup mounts rooted at its cgroup; without
//! one, its cgroup directories are bind-mounted. On v1 and hybrid hosts a
//! tmpfs holds one directory per hierarchy, as on the host.

use super::{mkdir_in_root, options::Parsed, remount_bind, Context};
use crate::error::{Context as _, Result};
use nix::mount::{mount, MsFlags};
use std::path::Path;

const NONE: Option<&str> = None;

pub fn mount_cgroups(ctx: &Context, dest: &Path, opts: &Parsed) -> Result<()> {
    mkdir_in_root(ctx.rootfs, dest)?;
    let flags = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
    if ctx.cgroup.unified_only() {
        if let Some(h) = ctx.cgroup.hierarchies.first() {
            if one(ctx, &h.dir, dest, "cgroup2", None, flags)? == Mounted::Bind && !flags.is_empty()
            {
                remount_bind(dest, flags, MsFlags::empty())?;
            }
        }
        return Ok(());
    }
    let tmpfs_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    nix::mount::mount(
        Some("tmpfs"),
        dest,
        Some("tmpfs"),
        tmpfs_flags,
        Some("mode=755"),
    )
    .ctx_path("cannot mount tmpfs on", dest)?;
    let mut binds = Vec::new();
    for h in &ctx.cgroup.hierarchies {
        let name = if h.v2 {
            "unified".to_string()
        } else {
            h.controllers
                .iter()
                .map(|c| c.strip_prefix("name=").unwrap_or(c))
                .collect::<Vec<_>>()
                .join(",")
        };
        // On the tmpfs just mounted: nothing is there yet.
        let sub = dest.join(&name);
        std::fs::create_dir(&sub)
            .map_err(|e| crate::Error::io("cannot create mount point", &sub, e))?;
        let (fstype, data) = if h.v2 {
            ("cgroup2", None)
        } else {
            ("cgroup", Some(h.controllers.join(",")))
        };
        if one(ctx, &h.dir, &sub, fstype, data.as_deref(), flags)? == Mounted::Bind {
            binds.push(sub);
        }
        // "cpu,cpuacct" is also reachable as "cpu" and "cpuacct".
        if h.controllers.len() > 1 {
            for c in &h.controllers {
                let link = dest.join(c.strip_prefix("name=").unwrap_or(c));
                let _ = std::os::unix::fs::symlink(&name, link);
            }
        }
    }
    if flags.is_empty() {
        return Ok(());
    }
    // A bind mount takes its flags only from a remount: one call for the
    // tmpfs and every bind on it (Linux 5.12), else one remount each.
    if let Some((set, clear)) = super::options::mount_attrs(flags | tmpfs_flags, MsFlags::empty()) {
        match crate::sys::mount_setattr(dest, true, set, clear) {
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
            dest,
            NONE,
            MsFlags::MS_REMOUNT | tmpfs_flags | MsFlags::MS_RDONLY,
            Some("mode=755"),
        )
        .ctx_path("cannot remount read-only", dest)?;
    }
    Ok(())
}

#[derive(PartialEq)]
enum Mounted {
    /// A cgroup filesystem of the container's own cgroup namespace, with
    /// its flags.
    Fresh,
    /// The host's cgroup directory, bound without its flags yet.
    Bind,
}

fn one(
    ctx: &Context,
    host_dir: &Path,
    dest: &Path,
    fstype: &str,
    data: Option<&str>,
    flags: MsFlags,
) -> Result<Mounted> {
    if ctx.new_cgroupns {
        match mount(Some("cgroup"), dest, Some(fstype), flags, data) {
            Ok(()) => return Ok(Mounted::Fresh),
            // Some kernels refuse a v1 mount from a user namespace: fall
            // back to the bind below.
            Err(nix::errno::Errno::EPERM) if ctx.new_userns => {}
            Err(e) => return Err(crate::Error::path("cannot mount cgroup on", dest, e)),
        }
    }
    mount(
        Some(host_dir),
        dest,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    )
    .ctx_path("cannot bind cgroup onto", dest)?;
    Ok(Mounted::Bind)
}
