//! Device nodes in the container's /dev: the default set every container
//! gets, the config's `linux.devices`, and the customary symlinks.

use super::{resolve_in_root, touch_in_root};
use crate::error::{Context, Error, Result};
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::os::fd::OwnedFd;
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

/// Create the default devices and symlinks (when /dev is a fresh tmpfs)
/// and the config's devices. In a user namespace mknod is refused, so the
/// host's node is bind-mounted instead.
pub fn create_devices(
    rootfs: &Path,
    defaults: bool,
    config: &[LinuxDevice],
    userns: bool,
) -> Result<()> {
    let fresh = if defaults && !userns {
        FreshDev::open(rootfs)
    } else {
        None
    };
    if defaults {
        let wanted = DEFAULT_DEVICES
            .iter()
            .filter(|(path, _, _)| !config.iter().any(|d| d.path() == Path::new(path)));
        let left: Vec<_> = match &fresh {
            Some(dev) => dev.mknod_all(wanted),
            None => wanted.collect(),
        };
        for (path, major, minor) in left {
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
    if defaults {
        dev_symlinks(rootfs, fresh.as_ref())?;
    }
    Ok(())
}

/// Fill a fresh /dev tmpfs that is not mounted anywhere yet (the runtime
/// builds it detached, see `prebuilt`) with what [`create_devices`] would
/// put in a fresh /dev: the default nodes not in `config`, and the
/// symlinks not named there. The config's own devices are left to init.
pub fn populate_detached(dev: std::os::fd::BorrowedFd<'_>, config: &[LinuxDevice]) -> Result<()> {
    let dev = FreshDev(
        dev.try_clone_to_owned()
            .map_err(|e| Error::io("cannot duplicate", "/dev", e))?,
    );
    let listed = |p: &str| config.iter().any(|d| d.path() == Path::new(p));
    let wanted = DEFAULT_DEVICES.iter().filter(|(path, _, _)| !listed(path));
    if let Some((path, _, _)) = dev.mknod_all(wanted).first() {
        return Err(Error::Other(format!(
            "cannot create {path} in the new /dev"
        )));
    }
    for (target, link) in symlinks() {
        if listed(link) {
            continue;
        }
        let name = link.strip_prefix("/dev/").unwrap_or(link);
        nix::unistd::symlinkat(target, &dev.0, name).ctx_path("cannot create symlink", link)?;
    }
    Ok(())
}

/// The container's /dev when it is the tmpfs the runtime just mounted and
/// filled with nothing but directories: the default nodes go straight in
/// through one directory fd, with no path to resolve, no node to replace,
/// and (umask cleared, the runtime being root) the right mode and owner
/// from mknod alone. Anything unexpected takes the general path.
struct FreshDev(OwnedFd);

impl FreshDev {
    fn open(rootfs: &Path) -> Option<FreshDev> {
        if !nix::unistd::geteuid().is_root() || nix::unistd::getegid().as_raw() != 0 {
            return None;
        }
        let dir = resolve_in_root(rootfs, Path::new("/dev")).ok()?;
        let fd = nix::fcntl::open(
            &dir,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let fs = nix::sys::statfs::fstatfs(&fd).ok()?;
        (fs.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC).then_some(FreshDev(fd))
    }

    /// Make each /dev/NAME a 0666 root-owned character device (the umask
    /// cleared once for all); returns those it could not make (they exist
    /// already, say), for the general path to handle.
    fn mknod_all<'a>(
        &self,
        nodes: impl Iterator<Item = &'a (&'static str, u64, u64)>,
    ) -> Vec<&'a (&'static str, u64, u64)> {
        let old = crate::sys::umask(0);
        let left = nodes
            .filter(|(path, major, minor)| {
                let Some(name) = path.strip_prefix("/dev/") else {
                    return true;
                };
                nix::sys::stat::mknodat(
                    &self.0,
                    name,
                    SFlag::S_IFCHR,
                    Mode::from_bits_truncate(0o666),
                    makedev(*major, *minor),
                )
                .is_err()
            })
            .collect();
        crate::sys::umask(old);
        left
    }
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
fn dev_symlinks(rootfs: &Path, fresh: Option<&FreshDev>) -> Result<()> {
    for (target, link) in symlinks() {
        if let Some(dev) = fresh {
            let name = link.strip_prefix("/dev/").unwrap_or(link);
            match nix::unistd::symlinkat(target, &dev.0, name) {
                Ok(()) | Err(nix::errno::Errno::EEXIST) => continue,
                Err(_) => {}
            }
        }
        let dest = resolve_in_root(rootfs, Path::new(link))?;
        match std::os::unix::fs::symlink(target, &dest) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("cannot create symlink", link, e)),
        }
    }
    Ok(())
}

/// (target, link) of the customary /dev symlinks.
fn symlinks() -> Vec<(&'static str, &'static str)> {
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
    links
}
