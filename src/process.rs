//! The container process's own attributes, applied by the child just before
//! exec: rlimits, oom score, user and groups, capabilities, umask, the
//! executable lookup and the exec itself.

use crate::error::{Context, Error, Result};
use caps::{CapSet, Capability as Cap, CapsHashSet};
use nix::sys::resource::{setrlimit, Resource};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{Capabilities, LinuxCapabilities, PosixRlimit, PosixRlimitType, Process};
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<()> {
    for r in rlimits {
        let res = resource(r.typ());
        setrlimit(res, r.soft(), r.hard()).map_err(|e| {
            Error::Other(format!(
                "cannot set {:?} to soft {} hard {}: {e} (the hard limit may not exceed the runtime's own)",
                r.typ(),
                r.soft(),
                r.hard()
            ))
        })?;
    }
    Ok(())
}

fn resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType as T;
    match t {
        T::RlimitCpu => Resource::RLIMIT_CPU,
        T::RlimitFsize => Resource::RLIMIT_FSIZE,
        T::RlimitData => Resource::RLIMIT_DATA,
        T::RlimitStack => Resource::RLIMIT_STACK,
        T::RlimitCore => Resource::RLIMIT_CORE,
        T::RlimitRss => Resource::RLIMIT_RSS,
        T::RlimitNproc => Resource::RLIMIT_NPROC,
        T::RlimitNofile => Resource::RLIMIT_NOFILE,
        T::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        T::RlimitAs => Resource::RLIMIT_AS,
        T::RlimitLocks => Resource::RLIMIT_LOCKS,
        T::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        T::RlimitNice => Resource::RLIMIT_NICE,
        T::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        T::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

pub fn set_oom_score_adj(procfs: &crate::procfs::ProcFs, v: i32) -> Result<()> {
    procfs
        .write("self/oom_score_adj", &v.to_string())
        .map_err(|e| {
            Error::Other(format!(
                "cannot set process.oomScoreAdj to {v}: {e} (lowering it needs CAP_SYS_RESOURCE)"
            ))
        })
}

fn cap_set(set: &Option<Capabilities>) -> Result<CapsHashSet> {
    let mut out = CapsHashSet::new();
    for c in set.iter().flatten() {
        let name = format!("CAP_{c}");
        let cap: Cap = name
            .parse()
            .map_err(|_| Error::Config(format!("capability {name} is not known to this kernel")))?;
        out.insert(cap);
    }
    Ok(out)
}

/// Drop the bounding set to what the config allows. Done while the process
/// is still root with CAP_SETPCAP.
pub fn limit_bounding(caps: &LinuxCapabilities) -> Result<()> {
    let keep = cap_set(caps.bounding())?;
    for c in caps::all() {
        if keep.contains(&c) {
            continue;
        }
        // Dropping a capability already gone succeeds; one this kernel
        // does not know is EINVAL and was never in the set. No read first:
        // half the system calls. Without CAP_SETPCAP every drop is EPERM,
        // which only matters for a capability still in the set.
        match crate::sys::capbset_drop(c.index()) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
            Err(nix::errno::Errno::EPERM)
                if !caps::has_cap(None, CapSet::Bounding, c).unwrap_or(true) => {}
            Err(e) => {
                return Err(Error::Other(format!(
                    "cannot drop {c} from the bounding set: {e}"
                )))
            }
        }
    }
    Ok(())
}

/// Switch to the process's user and groups, keeping capabilities across the
/// switch so [`set_capabilities`] can then set exactly the configured ones.
pub fn switch_user(p: &Process) -> Result<()> {
    let u = p.user();
    nix::sys::prctl::set_keepcaps(true).ctx("cannot set keepcaps")?;
    let groups: Vec<Gid> = u
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&groups)
        .ctx("cannot set additional groups (process.user.additionalGids)")?;
    let gid = Gid::from_raw(u.gid());
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| {
        Error::Other(format!(
            "cannot switch to gid {}: {e} (is it mapped in the user namespace?)",
            u.gid()
        ))
    })?;
    let uid = Uid::from_raw(u.uid());
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| {
        Error::Other(format!(
            "cannot switch to uid {}: {e} (is it mapped in the user namespace?)",
            u.uid()
        ))
    })?;
    nix::sys::prctl::set_keepcaps(false).ctx("cannot clear keepcaps")?;
    if let Some(mask) = u.umask() {
        crate::sys::umask(mask);
    }
    Ok(())
}

/// Set the permitted, effective, inheritable and ambient sets (after the uid
/// switch). Without `process.capabilities` the process keeps what it has,
/// as with runc.
pub fn set_capabilities(caps: &LinuxCapabilities) -> Result<()> {
    let permitted = cap_set(caps.permitted())?;
    let effective = cap_set(caps.effective())?;
    let inheritable = cap_set(caps.inheritable())?;
    let ambient = cap_set(caps.ambient())?;
    let err = |set: &str, e: caps::errors::CapsError| {
        Error::Other(format!("cannot set {set} capabilities: {e}"))
    };
    // The three sets in one capset(2): the kernel checks them against the
    // process's capabilities before the call (CAP_SETPCAP for the
    // inheritable set) and effective against the new permitted. One
    // credential change instead of a read and a change for each set.
    let flags = |set: &CapsHashSet| {
        rustix::thread::CapabilitySet::from_bits_retain(
            set.iter().fold(0u64, |bits, c| bits | 1u64 << c.index()),
        )
    };
    let sets = rustix::thread::CapabilitySets {
        effective: flags(&effective),
        permitted: flags(&permitted),
        inheritable: flags(&inheritable),
    };
    rustix::thread::set_capabilities(None, sets).map_err(|e| {
        let why = if effective.is_subset(&permitted) {
            ""
        } else {
            " (the effective set must be a subset of the permitted one)"
        };
        let errno = nix::errno::Errno::from_raw(e.raw_os_error());
        Error::Other(format!("cannot set capabilities: {errno}{why}"))
    })?;
    caps::clear(None, CapSet::Ambient).map_err(|e| err("ambient", e))?;
    // The kernel only raises an ambient capability that is both permitted
    // and inheritable. runc's own default config lists ambient capabilities
    // without inheritable ones, so, like runc, skip those with a warning.
    for c in ambient {
        if !(permitted.contains(&c) && inheritable.contains(&c)) {
            tracing::debug!(
                "ambient capability {c} is not both permitted and inheritable: not raised"
            );
            continue;
        }
        caps::raise(None, CapSet::Ambient, c).map_err(|e| err("ambient", e))?;
    }
    Ok(())
}

/// chdir to the process's cwd and make sure it is inside the container's
/// root: a cwd such as /proc/self/fd/N could otherwise land on a directory
/// the runtime had open on the host (CVE-2024-21626).
pub fn enter_cwd(cwd: &Path) -> Result<()> {
    nix::unistd::chdir(cwd).ctx_path("cannot chdir to", cwd)?;
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() && !p.starts_with("(unreachable)") => Ok(()),
        _ => Err(Error::Other(format!(
            "process.cwd {} resolves outside the container's root filesystem",
            cwd.display()
        ))),
    }
}

/// `env` with HOME added from the container's /etc/passwd (or "/") when
/// the config does not set it, as runc does.
pub fn with_home(env: &[String], uid: u32) -> Vec<String> {
    let mut out = env.to_vec();
    if env.iter().any(|e| e.starts_with("HOME=")) {
        return out;
    }
    let home = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
            })
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into());
    out.push(format!("HOME={home}"));
    out
}

/// The value of PATH in `env`, or the usual default.
fn path_var(env: &[String]) -> &str {
    env.iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
}

/// Find the program to exec the way a shell would, inside the container's
/// root, with the wording runc uses so clients that map messages to exit
/// codes (127 for not found, 126 for permission) keep working.
pub fn find_executable(arg0: &str, env: &[String]) -> Result<PathBuf> {
    let check = |p: &Path| -> std::result::Result<(), String> {
        let m =
            std::fs::metadata(p).map_err(|e| format!("stat {}: {}", p.display(), io_text(&e)))?;
        if m.is_dir() {
            // execve(2) of a directory fails with EACCES: say what runc says.
            return Err("permission denied".into());
        }
        if m.permissions().mode() & 0o111 == 0 {
            return Err("permission denied".into());
        }
        Ok(())
    };
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return check(&p)
            .map(|_| p)
            .map_err(|e| Error::Other(format!("exec: {arg0:?}: {e}")));
    }
    for dir in path_var(env).split(':').filter(|d| !d.is_empty()) {
        let p = Path::new(dir).join(arg0);
        if check(&p).is_ok() {
            return Ok(p);
        }
    }
    Err(Error::Other(format!(
        "exec: {arg0:?}: executable file not found in $PATH"
    )))
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Replace this process with the container's program.
pub fn exec(path: &Path, args: &[String], env: &[String]) -> Error {
    let c = |s: &str| CString::new(s.as_bytes()).unwrap_or_default();
    let path_c = c(&path.to_string_lossy());
    let argv: Vec<CString> = args.iter().map(|a| c(a)).collect();
    let envp: Vec<CString> = env.iter().map(|e| c(e)).collect();
    match nix::unistd::execve(&path_c, &argv, &envp) {
        Err(e) => Error::path("cannot exec", path, e),
        Ok(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_messages() {
        let env = vec!["PATH=/bin:/usr/bin".to_string()];
        assert!(find_executable("sh", &env).is_ok());
        let e = find_executable("/nonexistent", &env)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "exec: \"/nonexistent\": stat /nonexistent: no such file or directory"
        );
        let e = find_executable("no-such-program-x", &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("executable file not found in $PATH"), "{e}");
    }
}
