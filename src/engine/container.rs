//! The lifecycle commands over the start sequence: create, start, run,
//! kill, delete, state and list. Shared by every face of cella.

use super::sync::Msg;
use super::{spawn, Launch, Spawned, StartMode};
use crate::cgroups::CgroupPaths;
use crate::config::Bundle;
use crate::error::{Error, Result};
use crate::state::{self, Record, Status, Store};
use crate::{hooks, sys};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill as send_signal, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxNamespaceType;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
}

/// A container whose init is waiting to exec.
pub struct Created {
    pub record: Record,
    pub spawned: Spawned,
}

/// Set up a container up to the point where its init waits to be started.
/// On any failure nothing is left: no state, cgroup, mount or process.
pub fn create(store: &Store, o: &CreateOptions, mode: StartMode, detach: bool) -> Result<Created> {
    crate::state::validate_id(&o.id)?;
    let bundle = Bundle::load(&o.bundle)?;
    let terminal = bundle.spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    if terminal && o.console_socket.is_none() && (mode == StartMode::Fifo || detach) {
        return Err(Error::Config(
            "process.terminal is true but no --console-socket was given: pass one, or set terminal to false".into(),
        ));
    }
    if !terminal && o.console_socket.is_some() {
        return Err(Error::Config(
            "--console-socket was given but process.terminal is false: set terminal to true or drop the flag".into(),
        ));
    }
    let dir = store.claim(&o.id)?;
    let result = create_in(store, o, mode, bundle, &dir);
    if result.is_err() {
        let _ = store.remove(&o.id);
    }
    result
}

fn create_in(
    store: &Store,
    o: &CreateOptions,
    mode: StartMode,
    bundle: Bundle,
    dir: &Path,
) -> Result<Created> {
    // state.json is written once, when init exists: until then the claimed
    // directory alone stands for the container (hidden from `list`;
    // `delete --force` removes it), as with runc.
    let launch = Launch {
        id: &o.id,
        bundle: &bundle,
        state_dir: dir,
        console_socket: o.console_socket.as_deref(),
        no_pivot: o.no_pivot,
        no_new_keyring: o.no_new_keyring,
        preserve_fds: o.preserve_fds,
        mode,
    };
    // The record is made and written once init exists, while it sets
    // itself up (the start does not wait for it, and init's copy of the
    // runtime's memory is the smaller), and made visible once init is
    // ready: `state` never shows a half-set-up container.
    let mut staged = None;
    let spawned = spawn(&launch, &mut |pid, cgroup| {
        let record = new_record(o, &bundle, pid, cgroup);
        staged = Some((store.stage(&record)?, record));
        Ok(())
    })?;
    let saved = staged
        .ok_or_else(|| Error::Other("start sequence ended without staging state".into()))
        .and_then(|(staged, record)| staged.commit().map(|_| record))
        .and_then(|record| match &o.pid_file {
            Some(p) => write_pid_file(p, spawned.pid).map(|_| record),
            None => Ok(record),
        });
    match saved {
        Ok(record) => Ok(Created { record, spawned }),
        Err(e) => {
            let _ = send_signal(Pid::from_raw(spawned.pid), Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(Pid::from_raw(spawned.pid), None);
            let _ = spawned.cgroup.remove();
            Err(e)
        }
    }
}

/// The state record of a container whose init is `pid`.
fn new_record(o: &CreateOptions, bundle: &Bundle, pid: i32, cgroup: &CgroupPaths) -> Record {
    let spec = &bundle.spec;
    let shared_pid_ns = !spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == LinuxNamespaceType::Pid && n.path().is_none())
        });
    Record {
        id: o.id.clone(),
        pid,
        init_start: sys::proc_start_time(pid).map(|(s, _)| s).unwrap_or(0),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::timefmt::now(),
        owner: owner_name(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup: cgroup.clone(),
        shared_pid_ns,
        poststop: spec
            .hooks()
            .as_ref()
            .and_then(|h| h.poststop().clone())
            .unwrap_or_default(),
        poststart: spec
            .hooks()
            .as_ref()
            .and_then(|h| h.poststart().clone())
            .unwrap_or_default(),
        process: spec.process().clone(),
        seccomp: spec.linux().as_ref().and_then(|l| l.seccomp().clone()),
    }
}

/// Write the pid file atomically, with no trailing newline (containerd's
/// shim parses it strictly).
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("cella-tmp");
    std::fs::write(&tmp, pid.to_string())
        .map_err(|e| Error::io("cannot write pid file", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("cannot write pid file", path, e))
}

fn owner_name() -> String {
    let uid = nix::unistd::getuid().as_raw();
    if uid == 0 {
        // runc leaves the owner empty unless it runs rootless.
        String::new()
    } else {
        uid.to_string()
    }
}

/// Let a created container's init exec its program.
pub fn start(store: &Store, id: &str) -> Result<()> {
    let _lock = store.lock(id)?;
    let rec = store.load(id)?;
    match store.status(&rec) {
        Status::Created => {}
        Status::Stopped => {
            return Err(Error::State(format!(
                "cannot start container \"{id}\": it has stopped; delete it and create it again"
            )))
        }
        s => {
            return Err(Error::State(format!(
                "cannot start container \"{id}\": it is {s}, not created"
            )))
        }
    }
    let fifo = super::fifo_path(&store.dir(id));
    release_fifo(&fifo, rec.pid)?;
    let _ = std::fs::remove_file(&fifo);
    if !rec.poststart.is_empty() {
        let state = state::oci_state(&rec, Status::Running);
        hooks::run_all_warn("poststart", &rec.poststart, &state);
    }
    Ok(())
}

/// Open the fifo for reading and take init's byte. Waits on init's pidfd at
/// the same time, so a dead init is an error and never a hang.
fn release_fifo(fifo: &Path, pid: i32) -> Result<()> {
    // The pidfd first: once the fifo is open, init may run, exit and be
    // reaped (conmon and the shim reap at once) before we look.
    let pidfd = sys::pidfd_open(pid).map_err(|_| {
        Error::State("container init exited before it was started: see 'cella delete'".into())
    })?;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(fifo)
        .map_err(|e| Error::io("cannot open exec fifo", fifo, e))?;
    loop {
        let mut fds = [
            PollFd::new(f.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("poll on exec fifo", e)),
            Ok(_) => {}
        }
        let fifo_ready = fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        if fifo_ready {
            let mut b = [0u8; 1];
            match nix::unistd::read(&f, &mut b) {
                Ok(1) => {
                    wait_for_exec(&f);
                    return Ok(());
                }
                Ok(_) | Err(nix::errno::Errno::EAGAIN) => {}
                Err(e) => return Err(Error::path("cannot read exec fifo", fifo, e)),
            }
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            return Err(Error::State(
                "container init exited before it was started: see 'cella delete'".into(),
            ));
        }
    }
}

/// Init holds its end of the fifo open until execve (close-on-exec): the
/// EOF means the container's program runs (or init died), and only then
/// may poststart hooks run.
fn wait_for_exec(fifo: &std::fs::File) {
    let mut b = [0u8; 16];
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
            Ok(_) => {}
        }
        match nix::unistd::read(fifo, &mut b) {
            Ok(0) => return,
            Ok(_) | Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// `run`: create, start at once, and (unless detached) supervise until
/// init exits, then tear down. Returns the exit status to exit with.
pub fn run(store: &Store, o: &CreateOptions, detach: bool) -> Result<i32> {
    let c = create(store, o, StartMode::Immediate, detach)?;
    let Created { record, spawned } = c;
    if let Err(e) = exec_now(&spawned) {
        let _ = destroy(store, &record, true, None);
        return Err(e);
    }
    if !record.poststart.is_empty() {
        let state = state::oci_state(&record, Status::Running);
        hooks::run_all_warn("poststart", &record.poststart, &state);
    }
    if detach {
        return Ok(0);
    }
    // Whatever happens to the monitor, the container is torn down: a
    // failed wait must not leave a running container nobody supervises.
    let code =
        crate::monitor::supervise(spawned.pid, &spawned.signals, spawned.pty_master.as_ref());
    let lock = store.lock(&record.id)?;
    // A monitor that returned a status has reaped init; one that failed
    // may have left it running.
    destroy(store, &record, code.is_err(), Some(lock))?;
    code
}

/// Tell init to exec, if it waits to be told, and wait until it has (the
/// channel closes on exec).
fn exec_now(s: &Spawned) -> Result<()> {
    if s.awaits_start {
        s.channel.send(&Msg::Start)?;
    }
    s.channel.wait_exec()
}

/// Send a signal to init, or with `all` to every process of the container.
pub fn kill(store: &Store, id: &str, sig: i32, all: bool) -> Result<()> {
    let rec = store.load(id)?;
    let status = store.status(&rec);
    // With --all, processes left in the cgroup of a container that shares
    // a pid namespace can still be signalled after init is gone.
    let leftovers = all && rec.shared_pid_ns && !rec.cgroup.procs().is_empty();
    if matches!(status, Status::Stopped | Status::Creating) && !leftovers {
        // "container not running" is the text containerd's shim looks for.
        return Err(Error::State(format!(
            "cannot kill container \"{id}\": container not running"
        )));
    }
    if all {
        signal_all(&rec, sig);
        return Ok(());
    }
    crate::sys::kill(rec.pid, sig).map_err(|e| match e {
        nix::errno::Errno::ESRCH => Error::State(format!(
            "cannot kill container \"{id}\": container not running"
        )),
        e => Error::sys(
            format!(
                "cannot send {} to container \"{id}\"",
                crate::signals::name(sig)
            ),
            e,
        ),
    })
}

fn signal_all(rec: &Record, signal: i32) {
    super::control::signal_all(&rec.cgroup, signal);
}

/// Remove a container. A running one needs `force`; a created one is killed
/// (it never ran user code). Deleting an unknown id with `force` succeeds.
pub fn delete(store: &Store, id: &str, force: bool) -> Result<()> {
    crate::state::validate_id(id)?;
    let lock = match store.lock(id) {
        Ok(l) => l,
        Err(Error::NotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let rec = match store.load(id) {
        Ok(r) => r,
        Err(Error::NotFound(_)) if force => {
            // A create that died before writing state: just the directory.
            return store.remove(id);
        }
        Err(e) => return Err(e),
    };
    let status = store.status(&rec);
    if matches!(status, Status::Running | Status::Paused) && !force {
        return Err(Error::State(format!(
            "cannot delete container \"{id}\": it is {status}; stop it first or use 'cella delete --force {id}'"
        )));
    }
    destroy(
        store,
        &rec,
        matches!(status, Status::Running | Status::Paused | Status::Created),
        Some(lock),
    )
}

/// Kill what is left, remove the cgroup, run poststop hooks, drop the state
/// (and the container's lock, if held, on the way: see
/// `Store::remove_locked`).
fn destroy(
    store: &Store,
    rec: &Record,
    kill_init: bool,
    lock: Option<nix::fcntl::Flock<std::fs::File>>,
) -> Result<()> {
    if kill_init && rec.pid > 0 && state::init_alive(rec) {
        let pidfd = sys::pidfd_open(rec.pid).ok();
        if rec.shared_pid_ns {
            signal_all(rec, libc::SIGKILL);
        }
        let _ = send_signal(Pid::from_raw(rec.pid), Signal::SIGKILL);
        if rec.cgroup.is_frozen() {
            // A frozen init only dies once thawed.
            let _ = rec.cgroup.set_frozen(false);
        }
        if let Some(fd) = pidfd {
            wait_exit(&fd, Duration::from_secs(10));
        }
    }
    if rec.shared_pid_ns {
        signal_all(rec, libc::SIGKILL);
    }
    // With a pid namespace of its own, the container's processes died with
    // its init: the cgroup is empty unless something from outside joined
    // it, which the first rmdir tells (EBUSY) without reading any list.
    let removed = match rec.shared_pid_ns {
        false => rec.cgroup.remove_if_empty(),
        true => Err(Error::Other(String::new())),
    }
    .or_else(|_| {
        wait_cgroup_empty(rec);
        rec.cgroup.remove()
    });
    if !rec.poststop.is_empty() {
        let state = state::oci_state(rec, Status::Stopped);
        hooks::run_all_warn("poststop", &rec.poststop, &state);
    }
    match lock {
        Some(lock) => store.remove_locked(&rec.id, lock)?,
        None => store.remove(&rec.id)?,
    }
    removed
}

fn wait_exit(pidfd: &std::os::fd::OwnedFd, limit: Duration) {
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    let ms = PollTimeout::try_from(limit.as_millis() as i32).unwrap_or(PollTimeout::MAX);
    let _ = poll(&mut fds, ms);
}

fn wait_cgroup_empty(rec: &Record) {
    let mut delay = Duration::from_micros(100);
    for _ in 0..100 {
        let procs = rec.cgroup.procs();
        if procs.is_empty() {
            return;
        }
        for pid in procs {
            let _ = send_signal(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

/// The OCI state of one container.
pub fn state(store: &Store, id: &str) -> Result<serde_json::Value> {
    let rec = store.load(id)?;
    let status = store.status(&rec);
    Ok(state::oci_state(&rec, status))
}

/// The state of every container in the store.
pub fn list(store: &Store) -> Result<Vec<(Record, Status)>> {
    let mut out = Vec::new();
    for id in store.ids()? {
        if let Ok(rec) = store.load(&id) {
            let s = store.status(&rec);
            out.push((rec, s));
        }
    }
    Ok(out)
}
