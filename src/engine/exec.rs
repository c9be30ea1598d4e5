//! `exec`: run another process inside a running container (the "setns
//! process").
//!
//! The runtime forks a helper, moves it into the container's cgroup, and the
//! helper joins every namespace of the container's init in one
//! `setns(pidfd, ...)` call (the kernel enters the user namespace first).
//! Joining a pid namespace only affects children, so the helper forks the
//! real process with `CLONE_PARENT`: it is born inside the container's pid
//! namespace and cgroup, yet is the runtime's own child, so a foreground
//! exec can reap it. Both stay non-dumpable until exec, so nothing in the
//! container can reach the runtime binary through /proc/PID/exe.

use super::init::{apply_process, await_go, report_and_exit, Step};
use super::sync::{self, Channel, Msg};
use crate::error::{Context, Error, Result};
use crate::state::{self, Status, Store};
use crate::sys::{self, Forked};
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use oci_spec::runtime::Process;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

pub struct ExecOptions {
    pub id: String,
    pub process: Process,
    pub console_socket: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    /// A sub-cgroup (cgroup v2) of the container's cgroup to run in.
    pub sub_cgroup: Option<String>,
}

/// Run the process; returns the status to exit with (0 when detached).
pub fn exec(store: &Store, o: &ExecOptions) -> Result<i32> {
    let rec = store.load(&o.id)?;
    let id = &o.id;
    match store.status(&rec) {
        Status::Running | Status::Created => {}
        Status::Paused => {
            return Err(Error::State(format!(
                "cannot exec in container \"{id}\": it is paused; resume it first"
            )))
        }
        s => {
            return Err(Error::State(format!(
                "cannot exec in container \"{id}\": it is {s}"
            )))
        }
    }
    check_process(&o.process)?;
    let terminal = o.process.terminal() == Some(true);
    if terminal && o.detach && o.console_socket.is_none() {
        return Err(Error::Config(
            "--tty with --detach needs --console-socket to hand the terminal to".into(),
        ));
    }
    if !terminal && o.console_socket.is_some() {
        return Err(Error::Config(
            "--console-socket was given without a terminal: add --tty".into(),
        ));
    }
    let pidfd = sys::pidfd_open(rec.pid).ctx("cannot open container init")?;
    // The pidfd pins the process; check it is still the container's init.
    if !state::init_alive(&rec) {
        return Err(Error::State(format!(
            "cannot exec in container \"{id}\": it has stopped"
        )));
    }
    let join = namespaces_to_join(rec.pid)?;
    let cgroup = target_cgroup(&rec.cgroup, o.sub_cgroup.as_deref())?;
    let (signals, _) = crate::signals::block_all()?;
    let filter = rec
        .seccomp
        .as_ref()
        .map(crate::security::seccomp::compile)
        .transpose()?;
    let (parent_end, child_end) = sync::pair()?;

    // Like init, the helper is born in the v2 cgroup and moves itself into
    // the v1 ones (see cgroups::JoinFile); the process it forks inherits
    // them.
    let v2_dir = cgroup.open_v2_dir()?;
    let join_files = cgroup.join_files(true)?;
    let (forked, born_in_cgroup) = super::fork_in_cgroup(0, v2_dir.as_ref());
    let helper = match forked.ctx("cannot fork exec helper")? {
        Forked::Child => {
            drop(parent_end);
            let cg: Vec<_> = join_files
                .into_iter()
                .filter(|f| !(born_in_cgroup && f.v2))
                .collect();
            helper_main(&child_end, &pidfd, join, &cg, o, filter.as_ref())
        }
        Forked::Parent(pid) => pid,
    };
    drop((v2_dir, join_files));
    drop(child_end);
    let reap_helper = || {
        let _ = nix::sys::wait::waitpid(Pid::from_raw(helper), None);
    };
    parent_end.send(&Msg::Go { pid: helper })?;
    let pid = match parent_end.recv() {
        Ok(Some((Msg::Pid { pid }, _))) => pid,
        other => {
            reap_helper();
            return Err(match other {
                Ok(Some((m, _))) => m.into_error(),
                Ok(None) => Error::Other("exec helper died before forking the process".into()),
                Err(e) => e,
            });
        }
    };
    reap_helper();
    let kill_it = || {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
    };
    parent_end.send(&Msg::Go { pid })?;
    let seccomp = rec
        .seccomp
        .as_ref()
        .map(|s| (s, state::oci_state(&rec, Status::Running)));
    let pty = match super::wait_ready(&parent_end, o.console_socket.as_deref(), pid, seccomp) {
        Ok(p) => p,
        Err(e) => {
            kill_it();
            return Err(e);
        }
    };
    if let Some(f) = &o.pid_file {
        if let Err(e) = super::container::write_pid_file(f, pid) {
            kill_it();
            return Err(e);
        }
    }
    parent_end.send(&Msg::Start)?;
    if let Err(e) = parent_end.wait_exec() {
        kill_it();
        return Err(e);
    }
    if o.detach {
        return Ok(0);
    }
    crate::monitor::supervise(pid, &signals, pty.as_ref())
}

fn check_process(p: &Process) -> Result<()> {
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::Config(
            "exec needs a command: give it after the id, or args in --process".into(),
        ));
    }
    if p.apparmor_profile().as_ref().is_some_and(|s| !s.is_empty()) {
        return Err(Error::Config("an AppArmor profile was asked for, but this version of cella does not support AppArmor".into()));
    }
    if p.selinux_label().as_ref().is_some_and(|s| !s.is_empty()) {
        return Err(Error::Config(
            "an SELinux label was asked for, but this version of cella does not support SELinux"
                .into(),
        ));
    }
    if !p.cwd().is_absolute() {
        return Err(Error::Config(format!(
            "cwd {:?} is not an absolute path",
            p.cwd()
        )));
    }
    Ok(())
}

/// Every namespace of `pid` that differs from ours.
fn namespaces_to_join(pid: i32) -> Result<CloneFlags> {
    use oci_spec::runtime::LinuxNamespaceType as T;
    let mut flags = CloneFlags::empty();
    for t in [
        T::User,
        T::Mount,
        T::Uts,
        T::Ipc,
        T::Network,
        T::Pid,
        T::Cgroup,
        T::Time,
    ] {
        let name = crate::namespaces::proc_name(t);
        let theirs = std::fs::metadata(format!("/proc/{pid}/ns/{name}"));
        let ours = std::fs::metadata(format!("/proc/self/ns/{name}"));
        match (theirs, ours) {
            (Ok(a), Ok(b)) if (a.dev(), a.ino()) != (b.dev(), b.ino()) => {
                flags |= crate::namespaces::flag(t)
            }
            (Ok(_), Ok(_)) => {}
            (Err(e), _)
                if t == T::Time
                    && e.kind() == std::io::ErrorKind::NotFound
                    && !std::path::Path::new("/proc/self/ns/time").exists() => {}
            (Err(e), _)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ESRCH) =>
            {
                return Err(Error::State(format!(
                    "the container's init (pid {pid}) has exited"
                )))
            }
            (Err(e), _) => {
                return Err(Error::io(
                    "cannot inspect namespace of",
                    format!("/proc/{pid}/ns/{name}"),
                    e,
                ))
            }
            (_, Err(_)) => {}
        }
    }
    Ok(flags)
}

/// The container's cgroup, or a v2 sub-cgroup of it.
fn target_cgroup(
    cg: &crate::cgroups::CgroupPaths,
    sub: Option<&str>,
) -> Result<crate::cgroups::CgroupPaths> {
    let Some(sub) = sub else {
        return Ok(cg.clone());
    };
    let sub = sub.trim_start_matches('/');
    if sub.split('/').any(|c| c == "..") {
        return Err(Error::Config(format!(
            "--cgroup {sub:?} must not contain '..'"
        )));
    }
    if !cg.unified_only() {
        return Err(Error::Config(
            "--cgroup needs a pure cgroup v2 host; this host has v1 controllers".into(),
        ));
    }
    let mut out = cg.clone();
    for h in &mut out.hierarchies {
        h.dir = h.dir.join(sub);
        if !h.dir.is_dir() {
            return Err(Error::Config(format!(
                "--cgroup: {} does not exist",
                h.dir.display()
            )));
        }
    }
    Ok(out)
}

/// The forked helper: join the container, fork the real process into it.
fn helper_main(
    ch: &Channel,
    pidfd: &OwnedFd,
    join: CloneFlags,
    cgroup: &[crate::cgroups::JoinFile],
    o: &ExecOptions,
    seccomp: Option<&crate::security::seccomp::Filter>,
) -> ! {
    let run = || -> std::result::Result<std::convert::Infallible, super::init::StepError> {
        nix::sys::prctl::set_dumpable(false)
            .ctx("prctl(PR_SET_DUMPABLE)")
            .step("dumpable")?;
        await_go(ch)?;
        crate::cgroups::join_self(cgroup).step("cgroup")?;
        if !join.is_empty() {
            nix::sched::setns(pidfd.as_fd(), join)
                .ctx("cannot join the container's namespaces")
                .step("setns")?;
        }
        // Become root of the user namespace we may have joined.
        if join.contains(CloneFlags::CLONE_NEWUSER) {
            let root_g = nix::unistd::Gid::from_raw(0);
            let root_u = nix::unistd::Uid::from_raw(0);
            nix::unistd::setresgid(root_g, root_g, root_g)
                .ctx("setresgid(0)")
                .step("user namespace")?;
            nix::unistd::setresuid(root_u, root_u, root_u)
                .ctx("setresuid(0)")
                .step("user namespace")?;
        }
        let flags = libc::CLONE_PARENT as libc::c_ulong;
        match sys::clone_fork(flags)
            .ctx("cannot fork the exec process")
            .step("fork")?
        {
            Forked::Parent(pid) => {
                ch.send(&Msg::Pid { pid }).step("sync")?;
                std::process::exit(0)
            }
            Forked::Child => process_main(ch, o, seccomp),
        }
    };
    match run() {
        Ok(never) => match never {},
        Err(e) => report_and_exit(ch, e),
    }
}

/// The process itself, inside every namespace and the cgroup.
fn process_main(
    ch: &Channel,
    o: &ExecOptions,
    seccomp: Option<&crate::security::seccomp::Filter>,
) -> ! {
    let run = || -> std::result::Result<std::convert::Infallible, super::init::StepError> {
        await_go(ch)?;
        let p = &o.process;
        if p.terminal() == Some(true) {
            let pty = crate::console::open_pty().step("console")?;
            if let Some(size) = p.console_size() {
                let _ =
                    sys::set_winsize(pty.slave.as_fd(), size.height() as u16, size.width() as u16);
            }
            ch.send_with_fd(
                &Msg::Pty,
                Some(std::os::fd::AsRawFd::as_raw_fd(&pty.master)),
            )
            .step("console")?;
            drop(pty.master);
            crate::console::make_stdio(pty.slave).step("console")?;
        }
        let (exe, env) = apply_process(p, o.preserve_fds, seccomp, ch, true)?;
        nix::sys::prctl::set_pdeathsig(None::<nix::sys::signal::Signal>)
            .ctx("prctl")
            .step("pdeathsig")?;
        ch.send(&Msg::Ready).step("sync")?;
        ch.expect(&Msg::Start).step("sync")?;
        crate::signals::reset_for_exec().step("signals")?;
        let args = p.args().as_deref().unwrap_or(&[]);
        Err(crate::process::exec(&exe, args, &env)).step("exec")
    };
    match run() {
        Ok(never) => match never {},
        Err(e) => report_and_exit(ch, e),
    }
}

/// What `exec`'s flags change in the process it runs.
#[derive(Debug, Default)]
pub struct Overrides {
    pub args: Vec<String>,
    pub terminal: bool,
    pub cwd: Option<PathBuf>,
    pub env: Vec<String>,
    pub user: Option<(u32, Option<u32>)>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
}

/// The process to run: the container's own process (its env, user,
/// capabilities, rlimits...) with the flags' changes on top, as runc does.
pub fn build_process(base: Option<Process>, o: Overrides) -> Result<Process> {
    use oci_spec::runtime::{Capability, LinuxCapabilities};
    let mut p = base.unwrap_or_default();
    p.set_args(Some(o.args));
    p.set_terminal(Some(o.terminal));
    p.set_console_size(None);
    if let Some(cwd) = o.cwd {
        p.set_cwd(cwd);
    }
    if !o.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        for kv in o.env {
            let key = kv.split('=').next().unwrap_or("").to_string();
            env.retain(|e| e.split('=').next() != Some(key.as_str()));
            env.push(kv);
        }
        p.set_env(Some(env));
    }
    if let Some((uid, gid)) = o.user {
        p.user_mut().set_uid(uid);
        if let Some(g) = gid {
            p.user_mut().set_gid(g);
        }
    }
    if !o.additional_gids.is_empty() {
        p.user_mut().set_additional_gids(Some(o.additional_gids));
    }
    if !o.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_else(|| {
            let mut c = LinuxCapabilities::default();
            c.set_bounding(None)
                .set_effective(None)
                .set_permitted(None)
                .set_inheritable(None)
                .set_ambient(None);
            c
        });
        for name in &o.caps {
            let bare = name.to_ascii_uppercase();
            let bare = bare.strip_prefix("CAP_").unwrap_or(&bare);
            let cap: Capability = bare.parse().map_err(|_| {
                Error::Config(format!(
                    "--cap {name}: unknown capability (use names like CAP_NET_ADMIN)"
                ))
            })?;
            let add = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = set.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            let (b, e, pm, i, a) = (
                add(caps.bounding()),
                add(caps.effective()),
                add(caps.permitted()),
                add(caps.inheritable()),
                add(caps.ambient()),
            );
            caps.set_bounding(b)
                .set_effective(e)
                .set_permitted(pm)
                .set_inheritable(i)
                .set_ambient(a);
        }
        p.set_capabilities(Some(caps));
    }
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if o.apparmor.is_some() {
        p.set_apparmor_profile(o.apparmor);
    }
    if o.process_label.is_some() {
        p.set_selinux_label(o.process_label);
    }
    Ok(p)
}

/// Read a process.json (`exec --process`).
pub fn load_process(path: &std::path::Path) -> Result<Process> {
    let data = std::fs::read(path).map_err(|e| Error::io("cannot read process file", path, e))?;
    let de = &mut serde_json::Deserializer::from_slice(&data);
    serde_path_to_error::deserialize(de).map_err(|e| {
        Error::Config(format!(
            "malformed process file {}: {}: {e}",
            path.display(),
            e.path()
        ))
    })
}
