//! Mounts the runtime builds for init. Between the clone and `Ready` the
//! runtime has nothing to do while init mounts the rootfs, one step after
//! another. Two parts of a usual rootfs need none of the container's
//! namespaces: the /dev tmpfs (with /dev/pts, /dev/shm, the default device
//! nodes and symlinks) and the v1 cgroup view. The runtime builds those as
//! detached mount trees (`fsmount`, `open_tree`, `move_mount` onto a
//! detached mount: Linux 6.15) and sends each to init, which attaches it in
//! one `move_mount` when it gets to that mount in the config's order.
//!
//! Both sides call [`plan`] on the same config, so init knows which mounts
//! to wait for. When the runtime cannot build one (an older kernel), the
//! message carries no tree and init mounts it itself as usual.

use super::options::{self, Parsed};
use crate::cgroups::CgroupPaths;
use crate::error::{Error, Result};
use nix::mount::MsFlags;
use oci_spec::runtime::{Mount, Spec};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path};

/// One mount (by its index in the config) the runtime builds.
#[derive(Debug, PartialEq)]
pub struct Item {
    pub mount: usize,
    pub kind: Kind,
}

#[derive(Debug, PartialEq)]
pub enum Kind {
    /// The v1 cgroup view, with the flags of the cgroup mount and the
    /// rootfs's propagation.
    CgroupView {
        flags: MsFlags,
        propagation: MsFlags,
    },
    /// The /dev tmpfs, with these following mounts (/dev/pts, /dev/shm) on
    /// it, and the default device nodes and symlinks in it.
    Dev { parts: Vec<usize> },
}

/// The mounts of `spec` the runtime builds, in config order. The caller has
/// checked what the rest of the start needs (no user or cgroup namespace,
/// a mount namespace of its own, no hook messages in between).
pub fn plan(spec: &Spec, cgroup: &CgroupPaths) -> Vec<Item> {
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    let mut items = Vec::new();
    if let Some(item) = dev_plan(mounts) {
        items.push(item);
    }
    if let Some(item) = cgroup_view_plan(spec, mounts, cgroup) {
        items.push(item);
    }
    items.sort_by_key(|i| i.mount);
    items
}

/// Mount flags a fresh mount takes from `fsmount`/`mount_setattr` exactly
/// as from mount(2): the per-mount ones. Anything else (ro, which mount(2)
/// also puts on the superblock; sync; ...) leaves the mount to init.
const PER_MOUNT: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC)
    .union(MsFlags::MS_NOATIME)
    .union(MsFlags::MS_NODIRATIME)
    .union(MsFlags::MS_RELATIME)
    .union(MsFlags::MS_STRICTATIME);

/// The options of a fresh tmpfs or devpts mount the runtime can make.
fn fresh_options(m: &Mount, types: &[&str]) -> Option<Parsed> {
    if !types.contains(&m.typ().as_deref()?) {
        return None;
    }
    let opts = options::parse(m.options().as_deref().unwrap_or(&[])).ok()?;
    (!opts.is_bind() && opts.propagation.is_empty() && PER_MOUNT.contains(opts.flags))
        .then_some(opts)
}

fn dev_plan(mounts: &[Mount]) -> Option<Item> {
    if !nix::unistd::geteuid().is_root() || nix::unistd::getegid().as_raw() != 0 {
        return None;
    }
    let dev = mounts
        .iter()
        .position(|m| m.destination() == Path::new("/dev"))?;
    fresh_options(&mounts[dev], &["tmpfs"])?;
    // The mounts right after it on /dev/NAME, tmpfs or devpts.
    let parts: Vec<usize> = (dev + 1..mounts.len())
        .take_while(|&j| {
            dev_child(&mounts[j]).is_some()
                && fresh_options(&mounts[j], &["tmpfs", "devpts"]).is_some()
        })
        .collect();
    // Nothing else may go into /dev but an mqueue (mounted by init, on
    // the attached tree, in its IPC namespace): the nodes are made before
    // the later mounts instead of after, which only they could tell.
    let others = mounts.iter().enumerate().any(|(j, m)| {
        j != dev
            && !parts.contains(&j)
            && m.destination().starts_with("/dev")
            && m.typ().as_deref() != Some("mqueue")
    });
    if others {
        return None;
    }
    Some(Item {
        mount: dev,
        kind: Kind::Dev { parts },
    })
}

/// NAME of a mount on /dev/NAME.
fn dev_child(m: &Mount) -> Option<&std::ffi::OsStr> {
    let rel = m.destination().strip_prefix("/dev").ok()?;
    let mut c = rel.components();
    match (c.next(), c.next()) {
        (Some(Component::Normal(name)), None) => Some(name),
        _ => None,
    }
}

fn cgroup_view_plan(spec: &Spec, mounts: &[Mount], cgroup: &CgroupPaths) -> Option<Item> {
    if cgroup.unified_only() {
        return None;
    }
    let propagation = match spec.linux().as_ref()?.rootfs_propagation().as_deref() {
        None | Some("rslave") => MsFlags::MS_SLAVE,
        Some("rprivate") => MsFlags::MS_PRIVATE,
        Some(_) => return None,
    };
    let mut cgroup_mounts = mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")));
    let (index, m) = cgroup_mounts.next()?;
    if cgroup_mounts.next().is_some() {
        return None;
    }
    let opts = options::parse(m.options().as_deref().unwrap_or(&[])).ok()?;
    Some(Item {
        mount: index,
        kind: Kind::CgroupView {
            flags: super::cgroupfs::view_flags(&opts),
            propagation,
        },
    })
}

/// Build one item, in the runtime's own mount namespace.
pub fn build(item: &Item, spec: &Spec, cgroup: &CgroupPaths) -> Result<OwnedFd> {
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    match &item.kind {
        Kind::CgroupView { flags, propagation } => {
            super::cgroupfs::build_detached(cgroup, *flags, *propagation)
        }
        Kind::Dev { parts } => {
            let dev = fresh_mount(&mounts[item.mount])?;
            for &j in parts {
                let m = &mounts[j];
                let name = dev_child(m).ok_or_else(|| Error::Other("not on /dev".into()))?;
                let part = fresh_mount(m)?;
                rustix::fs::mkdirat(&dev, name, rustix::fs::Mode::from_raw_mode(0o777)).map_err(
                    |e| Error::io("cannot create mount point", m.destination(), e.into()),
                )?;
                rustix::mount::move_mount(
                    &part,
                    "",
                    &dev,
                    name,
                    rustix::mount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
                )
                .map_err(|e| Error::io("cannot mount on", m.destination(), e.into()))?;
            }
            let devices = spec
                .linux()
                .as_ref()
                .and_then(|l| l.devices().as_deref())
                .unwrap_or(&[]);
            super::devices::populate_detached(dev.as_fd(), devices)?;
            Ok(dev)
        }
    }
}

/// A new tmpfs or devpts as mount(2) would make it from this config entry
/// (the same source, the same options through the same parser), detached.
fn fresh_mount(m: &Mount) -> Result<OwnedFd> {
    use rustix::mount::{
        fsconfig_create, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, FsMountFlags,
        FsOpenFlags, MountAttrFlags,
    };
    let typ = m.typ().as_deref().unwrap_or("tmpfs");
    let dest = m.destination();
    let io = |e: rustix::io::Errno| Error::io("cannot make the filesystem for", dest, e.into());
    let opts = options::parse(m.options().as_deref().unwrap_or(&[]))?;
    let (set, _) = options::mount_attrs(opts.flags, MsFlags::empty())
        .ok_or_else(|| Error::Other(format!("{:?} has no mount attribute", opts.flags)))?;
    let fs = fsopen(typ, FsOpenFlags::FSOPEN_CLOEXEC).map_err(io)?;
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| typ.to_string());
    fsconfig_set_string(&fs, "source", source.as_str()).map_err(io)?;
    for d in &opts.data {
        match d.split_once('=') {
            Some((k, v)) => fsconfig_set_string(&fs, k, v),
            None => fsconfig_set_flag(&fs, d.as_str()),
        }
        .map_err(io)?;
    }
    fsconfig_create(&fs).map_err(io)?;
    fsmount(
        &fs,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::from_bits_retain(set as u32),
    )
    .map_err(io)
}
