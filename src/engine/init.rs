//! The start sequence, child side: everything the container's init does to
//! itself between the clone and the exec, in this order.

use super::sync::{Channel, Doorbell, Msg};
use super::{Launch, StartMode};
use crate::cgroups::CgroupPaths;
use crate::error::{Context, Error, Result};
use crate::namespaces::Plan;
use crate::{console, hooks, process, rootfs};
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::unistd::{Gid, Uid};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};

/// A failure, tagged with the step of the sequence it happened in.
pub(super) struct StepError {
    step: &'static str,
    err: Error,
}

pub(super) trait Step<T> {
    fn step(self, name: &'static str) -> std::result::Result<T, StepError>;
}

impl<T> Step<T> for Result<T> {
    fn step(self, step: &'static str) -> std::result::Result<T, StepError> {
        self.map_err(|err| StepError { step, err })
    }
}

/// Entry point of the cloned child. Never returns: it execs the container's
/// program or exits after reporting what failed.
pub fn run(
    l: &Launch,
    plan: &Plan,
    cgroup: &CgroupPaths,
    (ch, bell): (Channel, Option<&Doorbell>),
    fifo: Option<OwnedFd>,
    seccomp: Option<&crate::security::seccomp::Filter>,
) -> ! {
    match setup(l, plan, cgroup, (&ch, bell), fifo, seccomp) {
        Ok(never) => match never {},
        Err(e) => report_and_exit(&ch, e),
    }
}

/// Send a set-up failure to the parent (or, if it is gone, to stderr) and
/// exit.
pub(super) fn report_and_exit(ch: &Channel, err: StepError) -> ! {
    let (path, errno) = match &err.err {
        Error::Path { path, errno, .. } => (Some(path.display().to_string()), *errno as i32),
        Error::Io { path, error, .. } => (
            Some(path.display().to_string()),
            error.raw_os_error().unwrap_or(0),
        ),
        e => (None, e.errno()),
    };
    let msg = Msg::Error {
        step: err.step.to_string(),
        errno,
        path,
        msg: err.err.to_string(),
    };
    if ch.send(&msg).is_err() {
        // Nobody is listening (create has returned): stderr is all we have.
        let _ = writeln!(
            std::io::stderr(),
            "cella: container init: {}: {}",
            err.step,
            err.err
        );
    }
    std::process::exit(127)
}

fn setup(
    l: &Launch,
    plan: &Plan,
    cgroup: &CgroupPaths,
    (ch, bell): (&Channel, Option<&Doorbell>),
    fifo: Option<OwnedFd>,
    seccomp: Option<&crate::security::seccomp::Filter>,
) -> std::result::Result<std::convert::Infallible, StepError> {
    let spec = l.spec();
    let linux = spec.linux().as_ref();
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Config("no process".into()))
        .step("config")?;

    // Until exec, /proc/self/exe is the runtime's binary: keep it out of
    // reach of anything in the container (CVE-2019-5736). execve makes the
    // container's program dumpable again.
    nix::sys::prctl::set_dumpable(false)
        .ctx("prctl(PR_SET_DUMPABLE)")
        .step("dumpable")?;
    // With a new user namespace, wait until the parent has written its id
    // maps. Otherwise go straight on: a message would wake us on the
    // parent's CPU (socket wake-ups are "sync"), where the parent is busy
    // making the cgroup, and the namespaces are the longest step of a
    // start.
    if plan.new_user {
        await_go(ch)?;
    } else {
        die_with_parent().step("pdeathsig")?;
    }

    // Namespaces: user first, then the ones joined by path, then new ones.
    if let Some(path) = &plan.join_user {
        crate::namespaces::join(CloneFlags::CLONE_NEWUSER, path).step("join user namespace")?;
    }
    if plan.new_user || plan.join_user.is_some() {
        nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .ctx("setresgid(0) in the user namespace (is gid 0 mapped?)")
            .step("user namespace")?;
        nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .ctx("setresuid(0) in the user namespace (is uid 0 mapped?)")
            .step("user namespace")?;
    }
    for (flag, path) in &plan.join {
        crate::namespaces::join(*flag, path).step("join namespace")?;
    }
    let cgroupns = CloneFlags::CLONE_NEWCGROUP;
    nix::sched::unshare(plan.unshare - cgroupns)
        .ctx("unshare")
        .step("namespaces")?;
    // The private procfs serves the sysctl and oom_score_adj writes and the
    // exec fifo; a start with none of them does not make one (a procfs
    // instance is a superblock made now and torn down at exit). When it is
    // made, it is made here, before anything of the container's exists.
    let sysctls: Vec<(&String, &String)> = linux
        .and_then(|x| x.sysctl().as_ref())
        .into_iter()
        .flatten()
        .collect();
    let procfs = if !sysctls.is_empty() || process.oom_score_adj().is_some() || fifo.is_some() {
        Some(crate::procfs::ProcFs::open_private().step("procfs")?)
    } else {
        None
    };
    let procfs = || {
        procfs
            .as_ref()
            .ok_or_else(|| Error::Other("private procfs not made".into()))
    };
    // Nothing below may run outside the container's cgroup, and the cgroup
    // namespace is rooted there.
    let host_pid = join_cgroup(ch).step("cgroup")?;
    if plan.unshare.contains(cgroupns) {
        nix::sched::unshare(cgroupns)
            .ctx("unshare(CLONE_NEWCGROUP)")
            .step("namespaces")?;
    }

    if l.has_runtime_hooks() {
        ch.send(&Msg::NamespacesReady).step("sync")?;
        ch.expect(&Msg::HooksDone).step("sync")?;
    }
    if !l.no_new_keyring {
        if let Err(e) = crate::sys::join_session_keyring(&keyring_name(l.id)) {
            tracing::debug!("no new session keyring: {e}");
        }
    }

    // Root filesystem.
    let prebuilt = l.prebuilt_mounts(plan, cgroup);
    let receive = |mount| receive_prebuilt(ch, mount);
    // The runtime makes the read-only paths under /proc once it has it.
    let proc_index = l.proc_to_runtime(plan);
    let send_proc = |proc: std::os::fd::BorrowedFd<'_>| -> Result<()> {
        ch.send_with_fd(&Msg::ProcMounted, Some(proc.as_raw_fd()))
    };
    let send_proc: &rootfs::SendMount<'_> = &send_proc;
    let ctx = rootfs::Context {
        spec,
        rootfs: &l.bundle.rootfs,
        bundle: &l.bundle.dir,
        cgroup,
        new_userns: plan.new_user,
        new_cgroupns: plan.unshare.contains(CloneFlags::CLONE_NEWCGROUP),
        prebuilt: &prebuilt,
        receive: &receive,
        proc_to_runtime: proc_index.map(|i| (i, send_proc)),
    };
    rootfs::prepare(&ctx).step("rootfs")?;
    let state = l.hook_state(host_pid, "creating");
    if let Some(h) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.create_container().as_deref())
    {
        hooks::run_all("createContainer", h, &state).step("createContainer hook")?;
    }
    let runtime_detaches = l.runtime_detaches(plan);
    if runtime_detaches {
        let old = rootfs::pivot_keeping_old_root(&l.bundle.rootfs).step("pivot_root")?;
        ch.send_with_fd(&Msg::Pivoted, Some(old.as_raw_fd()))
            .step("pivot_root")?;
        bell.ok_or_else(|| Error::Other("no doorbell for Pivoted".into()))
            .and_then(|b| b.ring())
            .step("pivot_root")?;
    } else {
        rootfs::pivot(&l.bundle.rootfs, l.no_pivot).step("pivot_root")?;
    }
    // The bounding set now, not with the other capabilities: nothing of
    // the set-up left needs it (only the effective set counts), and these
    // dozens of credential changes do not touch the mount table, which
    // the runtime is busy with meanwhile when it detaches the old root.
    if let Some(caps) = process.capabilities() {
        process::limit_bounding(caps).step("capabilities")?;
    }

    if process.terminal() == Some(true) {
        let pty = console::open_pty().step("console")?;
        if let Some(size) = process.console_size() {
            let _ = crate::sys::set_winsize(
                std::os::fd::AsFd::as_fd(&pty.slave),
                size.height() as u16,
                size.width() as u16,
            );
        }
        console::bind_console(&pty.slave).step("console")?;
        ch.send_with_fd(&Msg::Pty, Some(pty.master.as_raw_fd()))
            .step("console")?;
        drop(pty.master);
        console::make_stdio(pty.slave).step("console")?;
    }

    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h)
            .ctx("sethostname")
            .step("hostname")?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        crate::sys::setdomainname(d)
            .ctx("setdomainname")
            .step("domainname")?;
    }
    for (key, value) in sysctls {
        write_sysctl(procfs().step("sysctl")?, key, value).step("sysctl")?;
    }
    rootfs::finish(spec, proc_index.is_some()).step("rootfs")?;

    if let Some(adj) = process.oom_score_adj() {
        process::set_oom_score_adj(procfs().step("oom_score_adj")?, adj).step("oom_score_adj")?;
    }
    let (exe, env) = apply_process(process, l.preserve_fds, seccomp, ch, false)?;
    let args = process.args().as_deref().unwrap_or(&[]);

    if runtime_detaches {
        // Nothing of the container's runs before the old root is gone.
        ch.expect(&Msg::Detached).step("pivot_root")?;
    }
    nix::sys::prctl::set_pdeathsig(None::<Signal>)
        .ctx("prctl")
        .step("pdeathsig")?;
    ch.send(&Msg::Ready).step("sync")?;
    let _until_exec = match (l.mode, fifo) {
        (StartMode::Fifo, Some(fifo)) => {
            Some(wait_on_fifo(procfs().step("exec fifo")?, &fifo).step("exec fifo")?)
        }
        _ => {
            if l.awaits_start() {
                ch.expect(&Msg::Start).step("sync")?;
            }
            None
        }
    };
    if let Some(h) = spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().as_deref())
    {
        hooks::run_all("startContainer", h, &l.hook_state(host_pid, "created"))
            .step("startContainer hook")?;
    }
    crate::signals::reset_for_exec().step("signals")?;
    Err(process::exec(&exe, args, &env)).step("exec")
}

/// Wait for the parent's `Placed` and move into the cgroup through the
/// write ends it carries; returns our pid as the host sees it.
fn join_cgroup(ch: &Channel) -> Result<i32> {
    match ch.recv_fds()? {
        Some((Msg::Placed { pid, files }, fds)) if files.len() == fds.len() => {
            let files: Vec<_> = files
                .into_iter()
                .zip(fds)
                .map(|(path, fd)| crate::cgroups::JoinFile {
                    path: path.into(),
                    v2: false,
                    file: fd.into(),
                })
                .collect();
            crate::cgroups::join_self(&files).map(|_| pid)
        }
        Some((Msg::Placed { .. }, _)) => Err(Error::Other(
            "sync protocol error: Placed without its cgroup files".into(),
        )),
        Some((m, _)) => Err(m.into_error()),
        None => std::process::exit(1),
    }
}

/// The tree the runtime built for the config's mount `mount`, or `None`:
/// mount it here.
fn receive_prebuilt(ch: &Channel, mount: usize) -> Result<Option<OwnedFd>> {
    match ch.recv()? {
        Some((Msg::Prebuilt { mount: m }, fd)) if m == mount => Ok(fd),
        Some((m, _)) => Err(m.into_error()),
        None => std::process::exit(1),
    }
}

/// Until set-up is complete, die with the runtime. (Had it died before
/// this, the sync channel reads EOF at the next wait, and we exit.)
fn die_with_parent() -> Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).ctx("prctl")
}

/// Die with the runtime until set-up is complete, and wait for its `Go`;
/// returns the pid the runtime sees us as. A runtime that hangs up instead
/// has failed and reported it: just exit.
pub(super) fn await_go(ch: &Channel) -> std::result::Result<i32, StepError> {
    die_with_parent().step("pdeathsig")?;
    match ch.recv().step("sync")? {
        Some((Msg::Go { pid }, _)) => Ok(pid),
        _ => std::process::exit(1),
    }
}

/// The process's own attributes, last before exec: rlimits, the program's
/// path, capabilities around the user switch (the bounding set too when
/// `bounding`; init drops it earlier), no_new_privs, seccomp, cwd, and
/// every fd above the preserved ones marked close-on-exec. Returns the
/// program and its environment. Shared by init and `exec`.
pub(super) fn apply_process(
    process: &oci_spec::runtime::Process,
    preserve_fds: u32,
    seccomp: Option<&crate::security::seccomp::Filter>,
    ch: &Channel,
    bounding: bool,
) -> std::result::Result<(std::path::PathBuf, Vec<String>), StepError> {
    let nnp = process.no_new_privileges() == Some(true);
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it
    // while the process still has it. With it, load as late as possible so
    // the runtime's own set-up is not filtered.
    let load_seccomp = || -> std::result::Result<(), StepError> {
        if let Some(s) = seccomp {
            if let Some(fd) = s.load().step("seccomp")? {
                ch.send_with_fd(&Msg::SeccompFd, Some(fd.as_raw_fd()))
                    .step("seccomp")?;
            }
        }
        Ok(())
    };
    process::set_rlimits(process.rlimits().as_deref().unwrap_or(&[])).step("rlimits")?;
    let args = process.args().as_deref().unwrap_or(&[]);
    let env = process::with_home(
        process.env().as_deref().unwrap_or(&[]),
        process.user().uid(),
    );
    let arg0 = args
        .first()
        .ok_or_else(|| Error::Config("process.args is empty".into()))
        .step("exec")?;
    let exe = process::find_executable(arg0, &env).step("exec")?;
    if let Some(caps) = process.capabilities().as_ref().filter(|_| bounding) {
        process::limit_bounding(caps).step("capabilities")?;
    }
    if !nnp {
        load_seccomp()?;
    }
    process::switch_user(process).step("user")?;
    if let Some(caps) = process.capabilities() {
        process::set_capabilities(caps).step("capabilities")?;
    }
    if nnp {
        nix::sys::prctl::set_no_new_privs()
            .ctx("prctl(PR_SET_NO_NEW_PRIVS)")
            .step("no_new_privs")?;
    }
    process::enter_cwd(process.cwd()).step("cwd")?;
    // Nothing the runtime opened may survive into the container.
    crate::sys::cloexec_from(3 + preserve_fds)
        .ctx("close_range")
        .step("fds")?;
    if nnp {
        load_seccomp()?;
    }
    Ok((exe, env))
}

/// Block until `start` opens the fifo for reading, then tell it we are
/// going. The fifo is reached through our own O_PATH fd (the host path is
/// not visible after pivot_root), reopened in the private procfs.
///
/// The returned end stays open (close-on-exec) until execve: `start` waits
/// for the EOF that execve causes before it runs poststart hooks, so they
/// run after the container's program has replaced init, as the spec says.
fn wait_on_fifo(procfs: &crate::procfs::ProcFs, fifo: &OwnedFd) -> Result<std::fs::File> {
    let fd = procfs.reopen_fd(fifo, rustix::fs::OFlags::WRONLY)?;
    let mut f = std::fs::File::from(fd);
    f.write_all(b"0")
        .map_err(|e| Error::io("cannot write", "exec fifo", e))?;
    Ok(f)
}

/// Sysctls are written through the private procfs, never through a path
/// the container could have mounted something over.
fn write_sysctl(procfs: &crate::procfs::ProcFs, key: &str, value: &str) -> Result<()> {
    let rel = format!("sys/{}", key.replace('.', "/"));
    procfs
        .write(&rel, value)
        .map_err(|e| Error::Other(format!("cannot set sysctl {key}={value}: {e}")))
}

fn keyring_name(id: &str) -> std::ffi::CString {
    std::ffi::CString::new(format!("_ses.{id}")).unwrap_or_default()
}
