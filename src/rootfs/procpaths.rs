//! The read-only paths under /proc, made by the runtime.
//!
//! After `pivot_root` init has its capability bounding set to drop and the
//! read-only and masked paths to mount, one after another, while the
//! runtime, which detaches the old root meanwhile, waits for it. In runc's
//! default config five of the paths are read-only ones under /proc. So
//! init sends the runtime its /proc mount as soon as it has made it
//! (`Msg::ProcMounted`), and the runtime, from inside init's mount
//! namespace, makes those paths read-only on it ([`apply`]) the way init
//! would, before it detaches the old root; init skips them and masks the
//! masked paths meanwhile. `Detached`, which init waits for before it
//! reports ready, comes after both.
//!
//! Both sides decide with [`plan`] on the same config. It takes only
//! configs where the result cannot differ from init's own order (all
//! read-only paths, then all masked ones): the /proc mount is the
//! config's only mount on or under /proc, no masked path lies under one
//! of those read-only paths or holds one, no other read-only path holds
//! /proc (a read-only "/" would copy them), and none of them goes through
//! a link or a process's directory (the runtime, outside the container's
//! pid namespace, would not see those as init does).

use crate::error::{Error, Result};
use oci_spec::runtime::Spec;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};
use std::sync::OnceLock;

/// The index of the config's /proc mount when the runtime makes the
/// read-only paths under it. The caller checks the rest: a plain start
/// where the runtime detaches the old root, and so is in init's mount
/// namespace anyway.
pub fn plan(spec: &Spec) -> Option<usize> {
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    let mut under = mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| relative(m.destination()).is_some());
    let (index, proc) = under.next()?;
    if under.next().is_some()
        || proc.destination() != Path::new("/proc")
        || proc.typ().as_deref() != Some("proc")
    {
        return None;
    }
    let (ro, masked) = paths(spec);
    // Each path is parsed once: `Path::starts_with` parses both paths on
    // every call, and the checks below compare every pair.
    let mine: Vec<Vec<Component<'_>>> = ro
        .iter()
        .filter(|p| is_mine(Path::new(p)))
        .map(parse)
        .collect();
    if mine.is_empty() || !mine.iter().all(|p| simple(p)) {
        return None;
    }
    let overlaps = |m: &[Component<'_>]| mine.iter().any(|p| m.starts_with(p) || p.starts_with(m));
    let proc_dir = [Component::RootDir, Component::Normal("proc".as_ref())];
    if masked.iter().any(|m| overlaps(&parse(m)))
        || ro.iter().any(|p| proc_dir.starts_with(&parse(p)))
    {
        return None;
    }
    mount_setattr_exists().then_some(index)
}

/// A path's components, for comparisons that would otherwise parse it
/// again and again.
fn parse(p: &String) -> Vec<Component<'_>> {
    Path::new(p).components().collect()
}

/// The config's read-only and masked paths.
fn paths(spec: &Spec) -> (&[String], &[String]) {
    let linux = spec.linux().as_ref();
    let ro = linux.and_then(|l| l.readonly_paths().as_deref());
    let masked = linux.and_then(|l| l.masked_paths().as_deref());
    (ro.unwrap_or(&[]), masked.unwrap_or(&[]))
}

/// Whether `p` is under /proc: a read-only path the runtime makes when
/// [`plan`] agrees.
pub fn is_mine(p: &Path) -> bool {
    relative(p).is_some_and(|r| r.components().next().is_some())
}

/// `p` relative to /proc, for /proc itself and paths under it.
fn relative(p: &Path) -> Option<&Path> {
    let mut c = p.components();
    match (c.next(), c.next()) {
        (Some(Component::RootDir), Some(Component::Normal(n))) if n == "proc" => Some(c.as_path()),
        _ => None,
    }
}

/// A path under /proc (its components from the root) that resolves the
/// same for the runtime as for init: plain names, the first neither a link
/// (self, thread-self, mounts, net) nor a process's directory.
fn simple(path: &[Component<'_>]) -> bool {
    let [Component::RootDir, Component::Normal(_), Component::Normal(first), rest @ ..] = path
    else {
        return false;
    };
    let first = first.to_string_lossy();
    if matches!(&*first, "self" | "thread-self" | "mounts" | "net")
        || first.bytes().all(|b| b.is_ascii_digit())
    {
        return false;
    }
    rest.iter().all(|c| matches!(c, Component::Normal(_)))
}

/// mount_setattr(2) (Linux 5.12), which [`apply`] needs; init falls back to
/// a remount without it. Asked once per process: both sides get the same
/// answer from the same kernel.
fn mount_setattr_exists() -> bool {
    static EXISTS: OnceLock<bool> = OnceLock::new();
    *EXISTS.get_or_init(crate::sys::mount_setattr_exists)
}

/// In init's mount namespace: the read-only paths under /proc, on `proc`
/// (init's /proc mount), in config order, each bound on itself with
/// everything beneath it and made read-only, as init's `readonly_path`
/// does. A path that does not exist is skipped, as there.
pub fn apply(spec: &Spec, proc: BorrowedFd<'_>) -> Result<()> {
    for p in paths(spec).0.iter().filter(|p| is_mine(Path::new(p))) {
        let Some(target) = open_beneath(proc, p)? else {
            continue;
        };
        // On itself, with everything beneath it, read-only.
        let ro = crate::sys::mount_attr::RDONLY;
        super::bind_tree(target.as_fd(), target.as_fd(), true, ro)
            .map_err(|e| Error::path("cannot make read-only", p, e))?;
    }
    Ok(())
}

/// An O_PATH handle on `p` (under /proc) beneath `proc`, following no
/// link; `None` when it does not exist. [`plan`] keeps out the links at
/// the top of procfs; one deeper (procfs has none outside process
/// directories) fails the start (ELOOP) rather than resolve differently
/// from init.
fn open_beneath(proc: BorrowedFd<'_>, p: &str) -> Result<Option<OwnedFd>> {
    use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
    let rel = relative(Path::new(p)).unwrap_or(Path::new(p));
    match openat2(
        proc,
        rel,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(Error::io("cannot open", p, e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// runc's default config's paths, with `edit` applied.
    fn spec(edit: impl FnOnce(&mut Value)) -> Spec {
        let mut v = serde_json::to_value(crate::config::default_spec(false)).unwrap();
        edit(&mut v);
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn runc_default_paths_go_to_the_runtime() {
        let proc = spec(|_| {})
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .position(|m| m.destination() == Path::new("/proc"));
        assert!(proc.is_some());
        let want = proc.filter(|_| crate::sys::mount_setattr_exists());
        assert_eq!(plan(&spec(|_| {})), want);
    }

    #[test]
    fn paths_under_proc_are_told_by_their_components() {
        for (p, under, mine) in [
            ("/proc", true, false),
            ("/proc/", true, false),
            ("/proc/sys", true, true),
            ("//proc/./sys/", true, true),
            ("/proc/sys/kernel", true, true),
            ("/procfs", false, false),
            ("/proc2/sys", false, false),
            ("proc/sys", false, false),
            ("/", false, false),
            ("/sys/proc", false, false),
        ] {
            assert_eq!(relative(Path::new(p)).is_some(), under, "{p}");
            assert_eq!(is_mine(Path::new(p)), mine, "{p}");
        }
        assert_eq!(
            relative(Path::new("/proc/sys/kernel")),
            Some(Path::new("sys/kernel"))
        );
    }

    #[test]
    fn paths_init_would_see_otherwise_stay_with_init() {
        if !crate::sys::mount_setattr_exists() {
            return;
        }
        let ro = |paths: Value| spec(|v| v["linux"]["readonlyPaths"] = paths);
        assert!(plan(&ro(json!(["/proc/sys"]))).is_some());
        // Through a link, or a process's directory.
        assert_eq!(plan(&ro(json!(["/proc/self/attr"]))), None);
        assert_eq!(plan(&ro(json!(["/proc/net/dev"]))), None);
        assert_eq!(plan(&ro(json!(["/proc/1/environ"]))), None);
        assert_eq!(plan(&ro(json!(["/proc/sys/../kcore"]))), None);
        // A read-only path that holds /proc.
        assert_eq!(plan(&ro(json!(["/proc/sys", "/"]))), None);
        // None under /proc: nothing to hand over.
        assert_eq!(plan(&ro(json!(["/etc"]))), None);
        // A masked path under a read-only one, or holding one.
        let both = |masked: Value| {
            spec(|v| {
                v["linux"]["readonlyPaths"] = json!(["/proc/sys"]);
                v["linux"]["maskedPaths"] = masked;
            })
        };
        assert!(plan(&both(json!(["/proc/kcore", "/sys/firmware"]))).is_some());
        assert_eq!(plan(&both(json!(["/proc/sys/kernel/core_pattern"]))), None);
        assert_eq!(plan(&both(json!(["/proc"]))), None);
        // Another mount on or under /proc.
        let mount = spec(|v| {
            let m = json!({"destination": "/proc/sys/fs/binfmt_misc", "type": "tmpfs", "source": "tmpfs"});
            v["mounts"].as_array_mut().unwrap().push(m);
        });
        assert_eq!(plan(&mount), None);
    }
}
