//! The container's root filesystem, built by the child inside its new mount
//! namespace: propagation, the rootfs bind, every configured mount, devices,
//! then `pivot_root`, and last the read-only and masked paths.

mod cgroupfs;
mod devices;
mod options;
mod paths;
mod pivot;
pub mod prebuilt;
pub mod procpaths;

pub use devices::{create_devices, DEFAULT_DEVICES};
pub use options::{parse as parse_options, propagation};
pub use paths::resolve_in_root;
pub use pivot::{pivot, pivot_keeping_old_root, OldRootDetacher};

use crate::cgroups::CgroupPaths;
use crate::error::{Context as _, Error, Result};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::SFlag;
use nix::sys::statvfs::{statvfs, FsFlags};
use oci_spec::runtime::{Mount, Spec};
use std::fs;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

const NONE: Option<&str> = None;

/// What building the rootfs needs to know besides the config.
pub struct Context<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub cgroup: &'a CgroupPaths,
    pub new_userns: bool,
    pub new_cgroupns: bool,
    /// The mounts the runtime builds (see [`prebuilt`]), in config order.
    pub prebuilt: &'a [prebuilt::Item],
    /// Called at each of those mounts, in order: the detached tree the
    /// runtime sent for it, or `None` when it could not build it (then
    /// init mounts it itself).
    pub receive: &'a dyn Fn(usize) -> Result<Option<OwnedFd>>,
    /// The config's /proc mount, when the runtime makes the read-only paths
    /// under it (see [`procpaths`]), and what hands it the mount once made.
    pub proc_to_runtime: Option<(usize, &'a SendMount<'a>)>,
}

/// Hands a mount init made (its root, opened) to the runtime.
pub type SendMount<'a> = dyn Fn(BorrowedFd<'_>) -> Result<()> + 'a;

/// Everything before `pivot_root`.
pub fn prepare(ctx: &Context) -> Result<()> {
    let linux = ctx.spec.linux().as_ref();
    let prop = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        Some(p) => propagation(p).ok_or_else(|| {
            Error::Config(format!(
                "linux.rootfsPropagation {p:?} is not one of private, rprivate, shared, rshared, slave, rslave, unbindable, runbindable"
            ))
        })?,
        None => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    // Nothing mounted from here on may propagate back to the host.
    mount(NONE, "/", NONE, prop, NONE).ctx("cannot set propagation of /")?;
    // A recursive change that shares nothing leaves no shared mount to
    // look for (the default, rslave, among them).
    if !prop.contains(MsFlags::MS_REC) || prop.contains(MsFlags::MS_SHARED) {
        make_parent_private(ctx.rootfs)?;
    }
    mount(
        Some(ctx.rootfs),
        ctx.rootfs,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    )
    .ctx_path("cannot bind-mount rootfs", ctx.rootfs)?;
    // Opened after the bind, so lookups from it see the mounts made on it.
    let root: OwnedFd = rustix::fs::open(
        ctx.rootfs,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| Error::io("cannot open rootfs", ctx.rootfs, e.into()))?;

    let mounts = ctx.spec.mounts().as_deref().unwrap_or(&[]);
    // Mounts inside a tree the runtime built, and whether that made /dev.
    let mut contained = Vec::new();
    let mut dev_made = false;
    for (i, m) in mounts.iter().enumerate() {
        if contained.contains(&i) {
            continue;
        }
        if let Some(item) = ctx.prebuilt.iter().find(|p| p.mount == i) {
            if let Some(tree) = (ctx.receive)(i)? {
                attach(ctx.rootfs, &root, m.destination(), tree)?;
                if let prebuilt::Kind::Dev { parts } = &item.kind {
                    contained.extend_from_slice(parts);
                    dev_made = true;
                }
                continue;
            }
        }
        mount_one(ctx, &root, m)?;
        if let Some((_, send)) = ctx.proc_to_runtime.filter(|(p, _)| *p == i) {
            send(Target::open(&root, m.destination())?.fd())?;
        }
    }
    let dev_is_tmpfs = mounts
        .iter()
        .any(|m| m.destination() == Path::new("/dev") && m.typ().as_deref() != Some("bind"));
    let config_devices = linux.and_then(|l| l.devices().as_deref()).unwrap_or(&[]);
    if dev_made {
        // The runtime made the default nodes and symlinks; the config's
        // devices are made here as always.
        return create_devices(ctx.rootfs, false, config_devices, ctx.new_userns);
    }
    create_devices(ctx.rootfs, dev_is_tmpfs, config_devices, ctx.new_userns)
}

/// Attach a tree the runtime built on its mount point, made if missing.
fn attach(rootfs: &Path, root: &OwnedFd, dest: &Path, tree: OwnedFd) -> Result<()> {
    use rustix::mount::{move_mount, MoveMountFlags};
    let target = Target::prepare(rootfs, root, dest, MakeAs::Dir)?;
    move_mount(
        &tree,
        "",
        target.fd(),
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(|e| {
        Error::io(
            "cannot attach the mount the runtime made on",
            dest,
            e.into(),
        )
    })
}

/// pivot_root(2) needs the new root's parent mount not to be shared.
fn make_parent_private(rootfs: &Path) -> Result<()> {
    let info = crate::kfile::read("/proc/self/mountinfo")
        .map_err(|e| Error::io("cannot read", "/proc/self/mountinfo", e))?;
    let mut best: Option<(PathBuf, bool)> = None;
    for line in info.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() < 7 {
            continue;
        }
        let mp = PathBuf::from(crate::cgroups::unescape_mountinfo(fields[4]));
        if rootfs.starts_with(&mp)
            && best
                .as_ref()
                .is_none_or(|(b, _)| mp.components().count() >= b.components().count())
        {
            let shared = fields[6..]
                .iter()
                .take_while(|f| **f != "-")
                .any(|f| f.starts_with("shared:"));
            best = Some((mp, shared));
        }
    }
    if let Some((mp, true)) = best {
        mount(NONE, &mp, NONE, MsFlags::MS_PRIVATE, NONE).ctx_path("cannot make private", mp)?;
    }
    Ok(())
}

fn mount_one(ctx: &Context, root: &OwnedFd, m: &Mount) -> Result<()> {
    let opts = options::parse(m.options().as_deref().unwrap_or(&[]))?;
    let typ = m.typ().as_deref().unwrap_or("none");
    let dest = m.destination();
    if typ == "cgroup" || typ == "cgroup2" {
        let target = Target::prepare(ctx.rootfs, root, dest, MakeAs::Dir)?;
        return cgroupfs::mount_cgroups(ctx, root, &target, dest, &opts);
    }
    if opts.is_bind() || typ == "bind" {
        bind(ctx, root, m, &opts)?;
    } else {
        let target = Target::prepare(ctx.rootfs, root, dest, MakeAs::Dir)?;
        let source = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
        let data = opts.data();
        let res = mount(
            Some(&source),
            target.path(),
            Some(typ),
            opts.flags,
            data.as_deref(),
        );
        match res {
            Ok(()) => {}
            // Without a network namespace of its own, a user namespace may
            // not mount sysfs: give it the host's, read-only.
            Err(nix::errno::Errno::EPERM) if typ == "sysfs" && ctx.new_userns => {
                let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
                mount(Some("/sys"), target.path(), NONE, flags, NONE)
                    .ctx_path("cannot bind /sys onto", dest)?;
                let top = Target::open(root, dest)?;
                remount_bind(top.path(), opts.flags | MsFlags::MS_RDONLY, opts.cleared)?;
            }
            Err(e) => return Err(mount_error(typ, &source, dest, e)),
        }
    }
    if !opts.propagation.is_empty() {
        let top = Target::open(root, dest)?;
        for p in &opts.propagation {
            mount(NONE, top.path(), NONE, *p, NONE).ctx_path("cannot set propagation of", dest)?;
        }
    }
    Ok(())
}

/// What a missing mount target is made as.
#[derive(Clone, Copy, PartialEq)]
enum MakeAs {
    Dir,
    File,
}

/// A mount target opened inside the rootfs with `openat2(RESOLVE_IN_ROOT)`
/// and used through its fd (`/proc/self/fd/N`), so a symlink swapped in
/// after the target was found cannot send the mount outside the rootfs
/// (CVE-2015-1335 class): whatever the path resolves to at open time is
/// inside the rootfs, and the mount lands on exactly that.
struct Target {
    fd: OwnedFd,
    path: String,
}

impl Target {
    /// `root`: the rootfs, opened once its bind mount is in place.
    fn open(root: &OwnedFd, in_container: &Path) -> Result<Target> {
        Self::try_open(root, in_container)
            .map_err(|e| Error::io("cannot open mount target", in_container, e.into()))
    }

    fn try_open(root: &OwnedFd, in_container: &Path) -> rustix::io::Result<Target> {
        use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
        let rel = in_container.strip_prefix("/").unwrap_or(in_container);
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let fd = openat2(
            root,
            rel,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )?;
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        Ok(Target { fd, path })
    }

    /// Open the target, first making it (and its parents) when it does
    /// not exist: most exist, so the common case is one `openat2`.
    fn prepare(rootfs: &Path, root: &OwnedFd, in_container: &Path, make: MakeAs) -> Result<Target> {
        match Self::try_open(root, in_container) {
            Ok(t) => return Ok(t),
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => {
                return Err(Error::io(
                    "cannot open mount target",
                    in_container,
                    e.into(),
                ))
            }
        }
        if Self::make_in_parent(root, in_container, make) {
            if let Ok(t) = Self::try_open(root, in_container) {
                return Ok(t);
            }
        }
        // Made where the same resolution leads, then opened again by the
        // kernel's resolution: the mount still lands inside the rootfs
        // whatever changed in between.
        let dest = resolve_in_root(rootfs, in_container)?;
        match make {
            MakeAs::Dir => mkdir_in_root(rootfs, &dest)?,
            MakeAs::File => touch_in_root(rootfs, &dest)?,
        }
        Self::open(root, in_container)
    }

    /// Make a missing target in its directory, when that exists: the
    /// usual case, a mount point on a tmpfs mounted just before. False when
    /// it cannot (no such directory, or something by that name exists, a
    /// dangling symlink say), for the general path to handle.
    fn make_in_parent(root: &OwnedFd, in_container: &Path, make: MakeAs) -> bool {
        use rustix::fs::{mkdirat, openat, Mode, OFlags};
        let (Some(parent), Some(name)) = (in_container.parent(), in_container.file_name()) else {
            return false;
        };
        let Ok(dir) = Self::try_open(root, parent) else {
            return false;
        };
        match make {
            MakeAs::Dir => mkdirat(&dir.fd, name, Mode::from_raw_mode(0o777)).is_ok(),
            MakeAs::File => openat(
                &dir.fd,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o666),
            )
            .is_ok(),
        }
    }

    fn path(&self) -> &str {
        &self.path
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn mount_error(typ: &str, source: &Path, dest: &Path, e: nix::errno::Errno) -> Error {
    Error::Other(format!(
        "cannot mount {typ} {} on {}: {e}",
        source.display(),
        dest.display()
    ))
}

fn bind(ctx: &Context, root: &OwnedFd, m: &Mount, opts: &options::Parsed) -> Result<()> {
    let dest = m.destination();
    let source = m
        .source()
        .as_ref()
        .ok_or_else(|| Error::Config(format!("bind mount on {} has no source", dest.display())))?;
    let source = if source.is_absolute() {
        source.clone()
    } else {
        ctx.bundle.join(source)
    };
    let meta = fs::metadata(&source).map_err(|e| {
        Error::Config(format!(
            "bind mount source {} for {}: {}",
            source.display(),
            dest.display(),
            crate::error::io_text(&e)
        ))
    })?;
    let make = if meta.is_dir() {
        MakeAs::Dir
    } else {
        MakeAs::File
    };
    let target = Target::prepare(ctx.rootfs, root, dest, make)?;
    let flags = MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC);
    mount(Some(&source), target.path(), NONE, flags, NONE)
        .map_err(|e| mount_error("bind", &source, dest, e))?;
    let extra = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    if !extra.is_empty() {
        let top = Target::open(root, dest)?;
        remount_bind(top.path(), opts.flags, opts.cleared)?;
    }
    Ok(())
}

/// Change the flags of a bind mount. Flags the kernel locks on the source
/// (nosuid, nodev, noexec, atime) must be repeated or a user namespace gets
/// EPERM, unless the options clear them on purpose.
pub fn remount_bind(dest: impl AsRef<Path>, flags: MsFlags, cleared: MsFlags) -> Result<()> {
    let dest = dest.as_ref();
    // mount_setattr changes only what it is told to: no need to read the
    // mount's flags first to keep them.
    if let Some((set, clear)) = options::mount_attrs(flags, cleared) {
        match crate::sys::mount_setattr(dest, false, set, clear) {
            Ok(()) => return Ok(()),
            Err(nix::errno::Errno::ENOSYS) => {}
            Err(e) => return Err(Error::path("cannot remount", dest, e)),
        }
    }
    let kept = statvfs(dest)
        .map(|s| {
            let f = s.flags();
            let mut k = MsFlags::empty();
            for (fs, ms) in [
                (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
                (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
                (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
                (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
                (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
                (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
            ] {
                if f.contains(fs) {
                    k |= ms;
                }
            }
            k
        })
        .unwrap_or(MsFlags::empty());
    let want =
        (flags | (kept - cleared)) - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    mount(
        NONE,
        dest,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | want,
        NONE,
    )
    .ctx_path("cannot remount", dest)
}

/// Create a directory (and its parents) at an already-resolved path.
pub fn mkdir_in_root(root: &Path, dest: &Path) -> Result<()> {
    if !dest.starts_with(root) {
        return Err(Error::Other(format!(
            "{} escapes the rootfs",
            dest.display()
        )));
    }
    // Most mount points exist: one stat instead of a failing mkdir + stat.
    if fs::symlink_metadata(dest).is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    fs::create_dir_all(dest).map_err(|e| Error::io("cannot create mount point", dest, e))
}

/// Create an empty file (and its parent directories) at a resolved path.
pub fn touch_in_root(root: &Path, dest: &Path) -> Result<()> {
    if let Some(parent) = dest.parent() {
        mkdir_in_root(root, parent)?;
    }
    match fs::OpenOptions::new()
        .write(true)
        .create(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dest)
    {
        Ok(_) => Ok(()),
        // A mount point that exists as something else (an existing file or
        // a directory) is used as it is.
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => Ok(()),
        Err(e) => Err(Error::io("cannot create mount point", dest, e)),
    }
}

/// After pivot_root: read-only paths, then masked paths, then the root
/// itself read-only, so no earlier mount can undo them. With
/// `proc_ro_done`, the runtime has made the read-only paths under /proc
/// (see [`procpaths`]).
pub fn finish(spec: &Spec, proc_ro_done: bool) -> Result<()> {
    let linux = spec.linux().as_ref();
    for p in linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or(&[])
        .iter()
        .filter(|p| !(proc_ro_done && procpaths::is_mine(Path::new(p))))
    {
        readonly_path(Path::new(p))?;
    }
    let masked = linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or(&[]);
    if !masked.is_empty() {
        let null = verified_dev_null()?;
        let mut empty_dir = None;
        for p in masked {
            mask_path(Path::new(p), &null, &mut empty_dir)?;
        }
    }
    if spec
        .root()
        .as_ref()
        .is_some_and(|r| r.readonly() == Some(true))
    {
        remount_bind(Path::new("/"), MsFlags::MS_RDONLY, MsFlags::empty())?;
    }
    Ok(())
}

/// Bind `p` on itself and make it read-only, with every mount beneath it
/// (one `mount_setattr`; before Linux 5.12, a remount of the top one).
fn readonly_path(p: &Path) -> Result<()> {
    match mount(Some(p), p, NONE, MsFlags::MS_BIND | MsFlags::MS_REC, NONE) {
        Ok(()) => {}
        Err(nix::errno::Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(Error::path("cannot make read-only", p, e)),
    }
    match crate::sys::mount_setattr(p, true, crate::sys::mount_attr::RDONLY, 0) {
        Err(nix::errno::Errno::ENOSYS) => remount_bind(p, MsFlags::MS_RDONLY, MsFlags::empty()),
        r => r.map_err(|e| Error::path("cannot make read-only", p, e)),
    }
}

/// /dev/null opened without following links and checked to be the real
/// character device 1:3, so a masked-path bind can never turn into a bind
/// of something the container planted (CVE-2025-31133).
fn verified_dev_null() -> Result<fs::File> {
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open("/dev/null")
        .map_err(|e| Error::io("cannot open", "/dev/null", e))?;
    let st = nix::sys::stat::fstat(&f).ctx_path("cannot stat", "/dev/null")?;
    let is_chr = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    if !is_chr || nix::sys::stat::major(st.st_rdev) != 1 || nix::sys::stat::minor(st.st_rdev) != 3 {
        return Err(Error::Other(
            "/dev/null in the container is not the null device: refusing to use it to mask paths"
                .into(),
        ));
    }
    Ok(f)
}

/// Hide `p`: a file under /dev/null, a directory under an empty read-only
/// tmpfs. The directories share one tmpfs (`empty_dir`, the first one's
/// root once made): a superblock costs its making and its teardown at
/// exit, and an empty read-only one shows the same in every place.
fn mask_path(p: &Path, null: &fs::File, empty_dir: &mut Option<OwnedFd>) -> Result<()> {
    // A path that does not exist needs no mask.
    let Ok(target) = open_nofollow(p) else {
        return Ok(());
    };
    let st = nix::sys::stat::fstat(&target).ctx_path("cannot stat", p)?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR {
        return bind_fd(null.as_fd(), target.as_fd()).map_err(|e| Error::path("cannot mask", p, e));
    }
    if let Some(empty) = empty_dir {
        return bind_fd(empty.as_fd(), target.as_fd())
            .map_err(|e| Error::path("cannot mask", p, e));
    }
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("tmpfs"), p, Some("tmpfs"), flags, Some("size=0")).ctx_path("cannot mask", p)?;
    *empty_dir = Some(open_nofollow(p)?);
    Ok(())
}

/// An O_PATH handle on `p` itself (a symlink is not followed).
pub fn open_nofollow(p: &Path) -> Result<OwnedFd> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(p)
        .map(OwnedFd::from)
        .map_err(|e| Error::io("cannot open", p, e))
}

/// Bind-mount what `src` refers to onto what `target` refers to, fd to fd
/// (`open_tree` + `move_mount`): no path is resolved in between, so nothing
/// can be swapped under the runtime.
pub fn bind_fd(src: BorrowedFd<'_>, target: BorrowedFd<'_>) -> nix::Result<()> {
    bind_tree(src, target, false, 0)
}

/// [`bind_fd`], with every mount beneath `src` too when `recursive`, and the
/// mount attributes `set` (`sys::mount_attr`) on all of the copy before it
/// is attached.
pub fn bind_tree(
    src: BorrowedFd<'_>,
    target: BorrowedFd<'_>,
    recursive: bool,
    set: u64,
) -> nix::Result<()> {
    use rustix::mount::{move_mount, open_tree, MoveMountFlags, OpenTreeFlags};
    let errno = |e: rustix::io::Errno| nix::errno::Errno::from_raw(e.raw_os_error());
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE
        | OpenTreeFlags::OPEN_TREE_CLOEXEC
        | OpenTreeFlags::AT_EMPTY_PATH;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    let tree = open_tree(src, "", flags).map_err(errno)?;
    if set != 0 {
        crate::sys::mount_setattr_tree(tree.as_fd(), set, 0, 0)?;
    }
    move_mount(
        &tree,
        "",
        target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(errno)
}
