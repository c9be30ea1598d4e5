//! Which namespaces a container gets and how: cloned new, unshared later,
//! or joined by path; and the user namespace's id maps.
//!
//! The order matters. A new user namespace (and pid namespace, which can
//! only be entered by a new process) comes with the clone; the parent then
//! writes the id maps; only after that does the child unshare the rest, so
//! the network, mount and other namespaces are owned by a user namespace
//! whose root is already mapped.

use crate::error::{Context, Error, Result};
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespace, LinuxNamespaceType};
use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Plan {
    /// Flags for the clone itself (user, pid).
    pub clone: CloneFlags,
    /// New namespaces the child unshares after the barrier.
    pub unshare: CloneFlags,
    /// A user namespace to join (the child does this first).
    pub join_user: Option<PathBuf>,
    /// Pid or time namespaces to join: they only take effect for children,
    /// so the parent joins them just around the clone.
    pub join_before_clone: Vec<(CloneFlags, PathBuf)>,
    /// Other namespaces the child joins by path.
    pub join: Vec<(CloneFlags, PathBuf)>,
    /// A new time namespace: unshared by the parent just before the clone.
    pub new_time: bool,
    pub new_user: bool,
    pub new_pid: bool,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            clone: CloneFlags::empty(),
            unshare: CloneFlags::empty(),
            join_user: None,
            join_before_clone: Vec::new(),
            join: Vec::new(),
            new_time: false,
            new_user: false,
            new_pid: false,
        }
    }
}

pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        // nix has no name for CLONE_NEWTIME; it is 0x80.
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The name of a namespace in /proc/PID/ns.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

pub fn plan(namespaces: &[LinuxNamespace]) -> Result<Plan> {
    let mut p = Plan::default();
    for ns in namespaces {
        let t = ns.typ();
        let f = flag(t);
        match (t, ns.path()) {
            (LinuxNamespaceType::User, Some(path)) => p.join_user = Some(path.clone()),
            (LinuxNamespaceType::Pid | LinuxNamespaceType::Time, Some(path)) => {
                p.join_before_clone.push((f, path.clone()))
            }
            (_, Some(path)) => p.join.push((f, path.clone())),
            (LinuxNamespaceType::User, None) => {
                p.clone |= f;
                p.new_user = true;
            }
            (LinuxNamespaceType::Pid, None) => {
                p.clone |= f;
                p.new_pid = true;
            }
            (LinuxNamespaceType::Time, None) => {
                if !std::path::Path::new("/proc/self/ns/time").exists() {
                    return Err(Error::Config(
                        "a time namespace was asked for, but this kernel has none: remove {\"type\": \"time\"}".into(),
                    ));
                }
                p.new_time = true;
            }
            (_, None) => p.unshare |= f,
        }
    }
    let joined = p
        .join_before_clone
        .iter()
        .chain(p.join.iter())
        .map(|(_, path)| path)
        .chain(p.join_user.iter());
    for path in joined {
        if !path.exists() {
            return Err(Error::Config(format!(
                "namespace path {} does not exist: is the process that owned it still running?",
                path.display()
            )));
        }
    }
    Ok(p)
}

/// Join the namespace at `path`.
pub fn join(kind: CloneFlags, path: &std::path::Path) -> Result<()> {
    let f = File::open(path).map_err(|e| Error::io("cannot open namespace", path, e))?;
    nix::sched::setns(f.as_fd(), kind).ctx_path("cannot join namespace", path)
}

/// Write `/proc/PID/{uid,gid}_map` for a child in a new user namespace.
/// As root the parent writes them directly; setgroups stays allowed.
pub fn write_id_maps(pid: i32, uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<()> {
    for (file, maps) in [("uid_map", uid), ("gid_map", gid)] {
        let text: String = maps
            .iter()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect();
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, text.as_bytes()).map_err(|e| {
            Error::Other(format!(
                "cannot write {path} ({}): {e}: check linux.uidMappings/gidMappings",
                text.trim().replace('\n', ", ")
            ))
        })?;
    }
    Ok(())
}

/// Write the offsets of a new time namespace (before any process is in it).
pub fn write_time_offsets(offsets: &[(String, i64, u32)]) -> Result<()> {
    let text: String = offsets
        .iter()
        .map(|(clock, secs, nanos)| format!("{clock} {secs} {nanos}\n"))
        .collect();
    std::fs::write("/proc/self/timens_offsets", text).map_err(|e| {
        Error::io(
            "cannot write time offsets to",
            "/proc/self/timens_offsets",
            e,
        )
    })
}
