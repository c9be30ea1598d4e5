//! The container's cgroup: where it lives on each mounted hierarchy, creating
//! it, moving processes in, freezing, listing and removing it.
//!
//! One code path serves all three layouts: pure v1 (a hierarchy per
//! controller), hybrid (v1 controllers plus a cgroup2 mount, as on Debian
//! hosts without systemd's unified mode) and pure v2. Each mounted hierarchy
//! is one [`Hierarchy`]; a pure v2 host simply has one of them.

mod convert;
pub mod devices_bpf;
mod resources;
pub mod stats;

pub use convert::{blkio_weight_to_io_weight, shares_to_weight, swap_v1_to_v2};
pub use resources::apply as apply_resources;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{ErrorKind, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// One mounted cgroup hierarchy and the container's directory in it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Hierarchy {
    /// The v1 controllers (or `name=...`) of this hierarchy; empty for v2.
    pub controllers: Vec<String>,
    pub v2: bool,
    /// The container's cgroup directory on this hierarchy.
    pub dir: PathBuf,
}

impl Hierarchy {
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// The container's cgroup on every hierarchy, plus the directories that
/// creating it made (so removal takes away exactly those).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CgroupPaths {
    pub hierarchies: Vec<Hierarchy>,
    #[serde(default)]
    pub created: Vec<PathBuf>,
    /// The process that made the directories keeps their parents open, to
    /// reach them (set up, join, remove) without walking
    /// `/sys/fs/cgroup/...` again (~4-6 µs a walk here); never saved.
    #[serde(skip)]
    pub parents: ParentDirs,
}

/// Open parent directories of the container's cgroup directories, by
/// directory. Not part of what a `CgroupPaths` is: two are equal whatever
/// they hold.
#[derive(Debug, Clone, Default)]
pub struct ParentDirs(Vec<(PathBuf, std::sync::Arc<std::os::fd::OwnedFd>)>);

impl PartialEq for ParentDirs {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for ParentDirs {}

impl ParentDirs {
    fn of(&self, dir: &Path) -> Option<&std::os::fd::OwnedFd> {
        self.0
            .iter()
            .find(|(d, _)| same(d, dir))
            .map(|(_, fd)| &**fd)
    }
}

/// The same directory, as this module builds its paths (from one
/// `Hierarchy::dir` each). Bytes, not `Path`'s `==`: that parses both
/// paths into components whenever they differ, and the lookups here
/// compare every hierarchy's directory with every other's (`/sys/fs/cgroup/
/// memory/x` against `/sys/fs/cgroup/cpu/x`, ten by ten).
fn same(a: &Path, b: &Path) -> bool {
    a.as_os_str() == b.as_os_str()
}

/// A write end of the container's cgroup, opened by the runtime and written
/// by the process that is to move: a single-threaded process writing "0"
/// moves itself.
///
/// Why the process moves itself: writing another process's pid to
/// `cgroup.procs` takes the kernel's global `cgroup_threadgroup_rwsem` for
/// writing, and the first such write after a quiet spell waits for an RCU
/// grace period (7-8 ms on this kind of host, longer than everything else
/// in a container start). A thread moving only itself through a v1 `tasks`
/// file skips that lock (Linux 6.0 and later; older kernels take it and
/// the move is merely slower). On cgroup v2 the process is born in its
/// cgroup instead (`clone3(CLONE_INTO_CGROUP)`), and `cgroup.procs` is only
/// the fallback.
///
/// The kernel checks the credentials a file was opened with, so a child
/// already in a new user namespace can still use it.
pub struct JoinFile {
    pub path: PathBuf,
    pub v2: bool,
    pub file: fs::File,
}

/// Move the calling process, which must be single-threaded, in through
/// each file.
pub fn join_self<'a>(files: impl IntoIterator<Item = &'a JoinFile>) -> Result<()> {
    for f in files {
        (&f.file)
            .write_all(b"0")
            .map_err(|e| Error::io("cannot move process into cgroup", &f.path, e))?;
    }
    Ok(())
}

/// A mounted cgroup filesystem, read from mountinfo.
struct Mount {
    mountpoint: PathBuf,
    root: String,
    v2: bool,
    controllers: Vec<String>,
}

impl CgroupPaths {
    /// Work out the container's cgroup on each hierarchy. `cgroups_path`
    /// follows runc's rules: absolute paths are taken from each hierarchy's
    /// root; relative ones (and the default, the container id) from the
    /// caller's own cgroup.
    pub fn resolve(cgroups_path: Option<&Path>, id: &str) -> Result<CgroupPaths> {
        let wanted = match cgroups_path {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from(id),
        };
        if wanted.to_string_lossy().contains(':') && !wanted.is_absolute() {
            return Err(Error::Config(format!(
                "linux.cgroupsPath {:?} is a systemd slice path, but the systemd cgroup driver is not available: use a path like /mygroup/{id}",
                wanted
            )));
        }
        if wanted
            .components()
            .any(|c| matches!(c, Component::ParentDir))
        {
            return Err(Error::Config(format!(
                "linux.cgroupsPath {:?} must not contain '..'",
                wanted
            )));
        }
        let mounts = cgroup_mounts()?;
        if mounts.is_empty() {
            return Err(Error::Other(
                "no cgroup filesystem is mounted: mount cgroup2 on /sys/fs/cgroup".into(),
            ));
        }
        let own = own_cgroups();
        let mut hierarchies = Vec::new();
        for m in mounts {
            let key = if m.v2 {
                String::new()
            } else {
                m.controllers.join(",")
            };
            let base = if wanted.is_absolute() {
                PathBuf::from("/")
            } else {
                PathBuf::from(
                    own.iter()
                        .find(|(k, _)| *k == key)
                        .map(|(_, p)| p.as_str())
                        .unwrap_or("/"),
                )
            };
            let full = base.join(&wanted);
            let rel = full
                .strip_prefix(&m.root)
                .unwrap_or(&full)
                .to_string_lossy()
                .trim_start_matches('/')
                .to_string();
            hierarchies.push(Hierarchy {
                controllers: m.controllers,
                v2: m.v2,
                dir: m.mountpoint.join(rel),
            });
        }
        Ok(CgroupPaths {
            hierarchies,
            ..Default::default()
        })
    }

    /// The cgroup v2 directory, for `clone3(CLONE_INTO_CGROUP)`.
    pub fn v2_dir(&self) -> Option<&Path> {
        self.hierarchies
            .iter()
            .find(|h| h.v2)
            .map(|h| h.dir.as_path())
    }

    /// The cgroup v2 directory opened, for `clone3(CLONE_INTO_CGROUP)`.
    pub fn open_v2_dir(&self) -> Result<Option<fs::File>> {
        self.v2_dir()
            .map(|d| {
                self.open_in(
                    d,
                    ".",
                    rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
                )
                .map_err(|e| Error::io("cannot open cgroup", d, e))
            })
            .transpose()
    }

    /// The open parent of the container's directory `dir` and the
    /// directory's name in it, when this process made it.
    pub fn parent_of<'a>(&'a self, dir: &'a Path) -> Option<(BorrowedFd<'a>, &'a std::ffi::OsStr)> {
        Some((self.parents.of(dir)?.as_fd(), dir.file_name()?))
    }

    /// Open `name` in the container's directory `dir`: from its open
    /// parent when this process made it, else by the full path.
    fn open_in(
        &self,
        dir: &Path,
        name: &str,
        flags: rustix::fs::OFlags,
    ) -> std::io::Result<fs::File> {
        use rustix::fs::{open, openat, Mode, OFlags};
        let flags = flags | OFlags::CLOEXEC;
        let fd = match self.parent_of(dir) {
            Some((parent, leaf)) => {
                openat(parent, Path::new(leaf).join(name), flags, Mode::empty())
            }
            None => open(dir.join(name), flags, Mode::empty()),
        };
        Ok(fs::File::from(fd?))
    }

    /// Whether this is a pure cgroup v2 host.
    pub fn unified_only(&self) -> bool {
        self.hierarchies.iter().all(|h| h.v2)
    }

    /// The hierarchy that holds `controller` (v1), or the v2 one when the
    /// controller is enabled there.
    pub fn find(&self, controller: &str) -> Option<&Hierarchy> {
        self.hierarchies
            .iter()
            .find(|h| h.has(controller))
            .or_else(|| {
                self.hierarchies
                    .iter()
                    .find(|h| h.v2 && v2_has_controller(&h.dir, controller))
            })
    }

    /// Create the directories on the hierarchies `pick` selects,
    /// remembering the ones that did not exist.
    pub fn create_where(&mut self, pick: impl Fn(&Hierarchy) -> bool) -> Result<()> {
        for h in self.hierarchies.iter().filter(|h| pick(h)) {
            let (parent, made) = match mkdir_in_parent(&h.dir) {
                Ok((parent, made)) => {
                    if made {
                        self.created.push(h.dir.clone());
                    }
                    (parent, made)
                }
                // A parent is missing too (or another error, which the same
                // mkdir by path reports): make the chain by path, then open
                // the parent as above.
                Err(_) => {
                    mkdir_p(&h.dir, &mut self.created)?;
                    let (parent, _) = mkdir_in_parent(&h.dir)?;
                    (parent, self.created.last() == Some(&h.dir))
                }
            };
            if !h.v2 && h.has("cpuset") {
                inherit_cpuset(&h.dir, made, parent.as_fd())?;
            }
            self.parents.0.push((h.dir.clone(), parent.into()));
        }
        Ok(())
    }

    /// Delegate every controller available to the v2 directory's parent
    /// down to the container's directory, so limits can be written there.
    /// Not part of [`CgroupPaths::create_where`]: a process can be born in
    /// the directory before (`clone3`), and the start does this after the
    /// clone, off the path before it. Failures are left for the limit
    /// writes to report, with the file they could not write.
    pub fn delegate_v2(&self) {
        for h in self.hierarchies.iter().filter(|h| h.v2) {
            if let Some((parent, _)) = self.parent_of(&h.dir) {
                enable_v2_controllers(parent);
            }
        }
    }

    /// Open the write ends through which a process moves itself in (see
    /// [`JoinFile`]): every v1 hierarchy, and the v2 one when `v2`.
    pub fn join_files(&self, v2: bool) -> Result<Vec<JoinFile>> {
        let mut files = Vec::with_capacity(self.hierarchies.len());
        for h in self.hierarchies.iter().filter(|h| v2 || !h.v2) {
            // v1: `tasks` moves one thread; v2 has no such file for a
            // domain cgroup, so there it is cgroup.procs.
            let name = if h.v2 { "cgroup.procs" } else { "tasks" };
            let path = h.dir.join(name);
            let file = self
                .open_in(&h.dir, name, rustix::fs::OFlags::WRONLY)
                .map_err(|e| Error::io("cannot open", &path, e))?;
            files.push(JoinFile {
                path,
                v2: h.v2,
                file,
            });
        }
        Ok(files)
    }

    /// Pids of every process in the container's cgroup.
    pub fn procs(&self) -> Vec<i32> {
        let h = self
            .hierarchies
            .iter()
            .find(|h| h.v2 && self.unified_only())
            .or_else(|| self.find("pids"))
            .or_else(|| self.find("freezer"))
            .or_else(|| self.hierarchies.first());
        let Some(h) = h else { return Vec::new() };
        crate::kfile::read(h.dir.join("cgroup.procs"))
            .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    pub fn is_frozen(&self) -> bool {
        if let Some(h) = self.hierarchies.iter().find(|h| h.has("freezer")) {
            return crate::kfile::read(h.dir.join("freezer.state"))
                .map(|s| s.trim() == "FROZEN")
                .unwrap_or(false);
        }
        if let Some(h) = self.hierarchies.iter().find(|h| h.v2) {
            return crate::kfile::read(h.dir.join("cgroup.freeze"))
                .map(|s| s.trim() == "1")
                .unwrap_or(false);
        }
        false
    }

    /// Freeze or thaw every process of the container.
    pub fn set_frozen(&self, frozen: bool) -> Result<()> {
        if let Some(h) = self.hierarchies.iter().find(|h| h.has("freezer")) {
            let f = h.dir.join("freezer.state");
            let v = if frozen { "FROZEN" } else { "THAWED" };
            fs::write(&f, v).map_err(|e| Error::io("cannot write", &f, e))?;
            if frozen {
                // The v1 freezer moves through FREEZING; wait until it
                // settles so callers see a truly frozen container.
                for _ in 0..1000 {
                    match crate::kfile::read(&f) {
                        Ok(s) if s.trim() == "FREEZING" => {
                            fs::write(&f, v).map_err(|e| Error::io("cannot write", &f, e))?;
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        _ => break,
                    }
                }
            }
            return Ok(());
        }
        if let Some(h) = self.hierarchies.iter().find(|h| h.v2) {
            let f = h.dir.join("cgroup.freeze");
            return fs::write(&f, if frozen { "1" } else { "0" })
                .map_err(|e| Error::io("cannot write", f, e));
        }
        Err(Error::Other(
            "no freezer: neither the v1 freezer controller nor cgroup v2 is mounted".into(),
        ))
    }

    /// [`CgroupPaths::remove`] of a cgroup thought empty: one `rmdir` per
    /// directory, no waiting; an error (EBUSY: processes left) leaves the
    /// rest for a `remove` after they are killed.
    pub fn remove_if_empty(&self) -> Result<()> {
        for h in &self.hierarchies {
            match self.rmdir(&h.dir) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("cannot remove cgroup", &h.dir, e)),
            }
        }
        self.remove_created_parents();
        Ok(())
    }

    /// Remove the container's directories (leaf first). Retries briefly on
    /// EBUSY, which the kernel returns while exiting tasks are still being
    /// detached.
    pub fn remove(&self) -> Result<()> {
        for h in &self.hierarchies {
            self.rmdir_retry(&h.dir)?;
        }
        self.remove_created_parents();
        Ok(())
    }

    /// rmdir(2), through the open parent when this process made `dir`.
    fn rmdir(&self, dir: &Path) -> std::io::Result<()> {
        match self.parent_of(dir) {
            Some((parent, name)) => {
                rustix::fs::unlinkat(parent, name, rustix::fs::AtFlags::REMOVEDIR)
                    .map_err(std::io::Error::from)
            }
            None => fs::remove_dir(dir),
        }
    }

    fn rmdir_retry(&self, dir: &Path) -> Result<()> {
        let mut delay = Duration::from_micros(200);
        for _ in 0..40 {
            match self.rmdir(dir) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(Error::io("cannot remove cgroup", dir, e)),
            }
        }
        Err(Error::Other(format!(
            "cannot remove cgroup {}: processes are still in it",
            dir.display()
        )))
    }

    fn remove_created_parents(&self) {
        // Parents created for this container, deepest first; they may be
        // shared with other containers, so a non-empty one stays.
        let mut parents: Vec<&PathBuf> = self
            .created
            .iter()
            .filter(|p| !self.hierarchies.iter().any(|h| same(&h.dir, p)))
            .collect();
        parents.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for p in parents {
            let _ = fs::remove_dir(p);
        }
    }
}

/// mkdir, making missing parents first; each directory made is added to
/// `created`. The leaf is tried first: its parents usually exist.
fn mkdir_p(dir: &Path, created: &mut Vec<PathBuf>) -> Result<()> {
    match fs::create_dir(dir) {
        Ok(()) => {
            created.push(dir.to_path_buf());
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => match dir.parent() {
            Some(parent) if parent != dir => {
                mkdir_p(parent, created)?;
                mkdir_p(dir, created)
            }
            _ => Err(Error::io("cannot create cgroup", dir, e)),
        },
        Err(e) => Err(Error::io("cannot create cgroup", dir, e)),
    }
}

/// Make the leaf `dir` in its parent, opened (O_PATH) and returned with
/// whether the leaf was made (false: it existed). An error when the parent
/// is missing or the mkdir fails.
fn mkdir_in_parent(dir: &Path) -> Result<(std::os::fd::OwnedFd, bool)> {
    use rustix::fs::{mkdirat, open, Mode, OFlags};
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return Err(Error::Other(format!("{} has no parent", dir.display())));
    };
    let fd = open(
        parent,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("cannot open", parent, e.into()))?;
    match mkdirat(&fd, name, Mode::from_raw_mode(0o777)) {
        Ok(()) => Ok((fd, true)),
        Err(rustix::io::Errno::EXIST) => Ok((fd, false)),
        Err(e) => Err(Error::io("cannot create cgroup", dir, e.into())),
    }
}

/// A new v1 cpuset cgroup starts with no cpus and no memory nodes, and
/// refuses tasks until it has both: copy them down from the nearest parent
/// that has them. A cgroup `just_made` has neither (or, under a parent with
/// `cgroup.clone_children`, its parent's, which are written again), so the
/// search starts at its parent; one that existed keeps what it has.
fn inherit_cpuset(dir: &Path, just_made: bool, parent_fd: BorrowedFd<'_>) -> Result<()> {
    use rustix::fs::{openat, Mode, OFlags};
    // `dir`'s parent, open: files there and in `dir` need no path walk.
    let parent = dir.parent().map(|p| (p, parent_fd));
    let leaf = dir.file_name().unwrap_or_default();
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mut chain = Vec::new();
        let mut p = Some(dir);
        if just_made {
            chain.push(dir);
            p = dir.parent();
        }
        while let Some(at) = p {
            let read = match parent {
                Some((path, fd)) if path == at => {
                    openat(fd, file, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                        .map_err(std::io::Error::from)
                        .and_then(|f| crate::kfile::read_file(f.into()))
                }
                _ => crate::kfile::read(at.join(file)),
            };
            // No such file: above the hierarchy's root.
            let Ok(v) = read else {
                break;
            };
            if !v.trim().is_empty() {
                for d in chain.iter().rev() {
                    let f = d.join(file);
                    let written = match parent {
                        Some((_, fd)) if *d == dir => openat(
                            fd,
                            Path::new(leaf).join(file),
                            OFlags::WRONLY | OFlags::CLOEXEC,
                            Mode::empty(),
                        )
                        .map_err(std::io::Error::from)
                        .and_then(|w| fs::File::from(w).write_all(v.trim().as_bytes())),
                        _ => fs::write(&f, v.trim()),
                    };
                    written.map_err(|e| Error::io("cannot write", &f, e))?;
                }
                break;
            }
            chain.push(at);
            p = at.parent();
        }
    }
    Ok(())
}

fn v2_has_controller(dir: &Path, controller: &str) -> bool {
    let f = dir.join("cgroup.controllers");
    crate::kfile::read(f)
        .map(|s| s.split_whitespace().any(|c| c == controller))
        .unwrap_or(false)
}

/// Delegate every available controller from the parent to its children, so
/// the container's cgroup can set limits. Failures are left for the limit
/// writes to report, with the file they could not write.
fn enable_v2_controllers(parent: BorrowedFd<'_>) {
    use rustix::fs::{openat, Mode, OFlags};
    let open = |file: &str, flags: OFlags| -> std::io::Result<fs::File> {
        Ok(openat(parent, file, flags | OFlags::CLOEXEC, Mode::empty())?.into())
    };
    if let Ok(avail) = open("cgroup.controllers", OFlags::RDONLY).and_then(crate::kfile::read_file)
    {
        let want: Vec<String> = avail.split_whitespace().map(|c| format!("+{c}")).collect();
        if !want.is_empty() {
            let _ = open("cgroup.subtree_control", OFlags::WRONLY)
                .and_then(|mut f| f.write_all(want.join(" ").as_bytes()));
        }
    }
}

/// Every cgroup filesystem mounted in this mount namespace.
fn cgroup_mounts() -> Result<Vec<Mount>> {
    let data = crate::kfile::read("/proc/self/mountinfo")
        .map_err(|e| Error::io("cannot read", "/proc/self/mountinfo", e))?;
    let mut out: Vec<Mount> = Vec::new();
    for line in data.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 {
            continue;
        }
        let (root, mountpoint) = (pre[3], pre[4]);
        let v2 = match post[0] {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        let controllers: Vec<String> = if v2 {
            Vec::new()
        } else {
            post[2]
                .split(',')
                .filter(|o| is_v1_controller(o))
                .map(str::to_string)
                .collect()
        };
        // The same hierarchy can be mounted twice; keep the first.
        if out
            .iter()
            .any(|m| m.v2 == v2 && m.controllers == controllers)
        {
            continue;
        }
        out.push(Mount {
            mountpoint: PathBuf::from(unescape_mountinfo(mountpoint)),
            root: unescape_mountinfo(root),
            v2,
            controllers,
        });
    }
    Ok(out)
}

fn is_v1_controller(opt: &str) -> bool {
    opt.starts_with("name=")
        || matches!(
            opt,
            "cpu"
                | "cpuacct"
                | "cpuset"
                | "memory"
                | "devices"
                | "freezer"
                | "net_cls"
                | "net_prio"
                | "blkio"
                | "perf_event"
                | "hugetlb"
                | "pids"
                | "rdma"
                | "misc"
        )
}

/// This process's cgroup on each hierarchy, keyed by the controllers string
/// ("" for v2).
fn own_cgroups() -> Vec<(String, String)> {
    crate::kfile::read("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _ = parts.next()?;
            let ctrl = parts.next()?.to_string();
            let path = parts.next()?.to_string();
            Some((ctrl, path))
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as octal.
pub fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape() {
        assert_eq!(unescape_mountinfo(r"/a\040b"), "/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
    }

    #[test]
    fn systemd_path_refused() {
        let e = CgroupPaths::resolve(Some(Path::new("system.slice:cella:x")), "x");
        assert!(matches!(e, Err(Error::Config(_))));
        let e = CgroupPaths::resolve(Some(Path::new("/a/../b")), "x");
        assert!(matches!(e, Err(Error::Config(_))));
    }
}
