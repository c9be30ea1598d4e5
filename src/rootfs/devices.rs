//! Device nodes in the container's /dev: the default set every container
//! gets, the config's `linux.devices`, and the customary symlinks.

use super::{resolve_in_root, touch_in_root};
use crate::error::{Context, Error, Result};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::path::Path;

/// (path, major, minor): null, zero, full, random, urandom, tty.
pub const DEFAULT_DEVICES: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

struct Node<'a> {
    path: &'a Path,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// Create the default devices (when /dev is a fresh tmpfs) and the
/// config's devices. In a user namespace mknod is refused, so the host's
/// node is bind-mounted instead.
pub fn create_devices(
    rootfs: &Path,
    defaults: bool,
    config: &[LinuxDevice],
    userns: bool,
) -> Result<()> {
    if defaults {
        for (path, major, minor) in DEFAULT_DEVICES {
            if config.iter().any(|d| d.path() == Path::new(path)) {
                continue;
            }
            let node = Node {
                path: Path::new(path),
                kind: SFlag::S_IFCHR,
                major: *major,
                minor: *minor,
                mode: 0o666,
                uid: 0,
                gid: 0,
            };
            make(rootfs, &node, userns)?;
        }
    }
    for d in config {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::Config(format!(
                    "linux.devices: {} has type \"a\", which is only valid in cgroup rules: use c, b, u or p",
                    d.path().display()
                )))
            }
        };
        let node = Node {
            path: d.path(),
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        make(rootfs, &node, userns)?;
    }
    Ok(())
}

fn make(rootfs: &Path, n: &Node, userns: bool) -> Result<()> {
    if !n.path.starts_with("/dev") {
        return Err(Error::Config(format!(
            "linux.devices: {} is not under /dev",
            n.path.display()
        )));
    }
    let dest = resolve_in_root(rootfs, n.path)?;
    if userns {
        touch_in_root(rootfs, &dest)?;
        return mount(
            Some(n.path),
            &dest,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .ctx_path("cannot bind device", n.path);
    }
    if let Some(parent) = dest.parent() {
        super::mkdir_in_root(rootfs, parent)?;
    }
    let _ = std::fs::remove_file(&dest);
    let perm = Mode::from_bits_truncate(n.mode & 0o7777);
    mknod(&dest, n.kind, perm, makedev(n.major, n.minor))
        .ctx_path("cannot create device", n.path)?;
    // mknod is subject to the umask; set the exact mode and owner.
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        &dest,
        perm,
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .ctx_path("cannot chmod device", n.path)?;
    nix::unistd::chown(&dest, Some(n.uid.into()), Some(n.gid.into()))
        .ctx_path("cannot chown device", n.path)
}

/// /dev/fd, /dev/std{in,out,err}, /dev/ptmx and, when the host has it,
/// /dev/core.
pub fn dev_symlinks(rootfs: &Path) -> Result<()> {
    let mut links = vec![
        ("/proc/self/fd", "/dev/fd"),
        ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"),
        ("/proc/self/fd/2", "/dev/stderr"),
        ("pts/ptmx", "/dev/ptmx"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "/dev/core"));
    }
    for (target, link) in links {
        let dest = resolve_in_root(rootfs, Path::new(link))?;
        match std::os::unix::fs::symlink(target, &dest) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("cannot create symlink", link, e)),
        }
    }
    Ok(())
}
