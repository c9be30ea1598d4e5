//! The start sequence, parent side, top to bottom: each step one call.
//! The child's half is in [`init`]; the lifecycle commands that drive it are
//! in [`container`].
//!
//! ```text
//! parent                                  child (init)
//! block signals, signalfd
//! socketpair, exec fifo
//! make the v2 cgroup
//! clone(user, pid) ---------------------> (new user namespace: wait for Go)
//!   (clone3 into the v2 cgroup)
//! write id maps, Go -------------------> join/unshare namespaces
//! make the v1 cgroups, limits             (but not cgroup), private procfs
//! Placed + write ends -----------------> move itself in, unshare cgroup
//!                                          namespace
//! build /dev, the cgroup view (only       rootfs: mounts, attaching the
//!   without hooks), Prebuilt each ------>   runtime's in their turn
//!                  <-------------------- ProcMounted + /proc (no hooks)
//!                  <-------------------- NamespacesReady (only if hooks)
//! prestart, createRuntime hooks
//! HooksDone ---------------------------> (rootfs as above), createContainer
//!                                          hooks, pivot_root
//! in init's mount namespace: /proc's
//!   read-only paths
//!                  <-------------------- Pivoted + the old root (no hooks),
//!                                          an eventfd rung
//! detach it there, come back              bounding set, console, hostname,
//! Detached ----------------------------->   read-only (the rest) and
//! stage the state                           masked paths, process
//!                  <-------------------- Pty (terminal)
//!                  <-------------------- Ready / Error
//! commit the state                        create: wait on the exec fifo
//! Start (run, startContainer hooks) ---> run: exec (or wait for Start)
//! ```

pub mod container;
pub mod control;
pub mod exec;
mod init;
pub mod sync;

use crate::cgroups::CgroupPaths;
use crate::config::Bundle;
use crate::error::{Context, Error, Result};
use crate::namespaces::{self, Plan};
use crate::sys::{self, Forked};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::SignalFd;
use oci_spec::runtime::{Hook, LinuxNamespaceType, Spec};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use sync::{Channel, Msg};

/// How the container's init learns that it may exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// `create`: block on the exec fifo until `start` reads it.
    Fifo,
    /// `run`: exec as soon as set-up is done (see [`Launch::awaits_start`]).
    Immediate,
}

/// Everything the start sequence needs. Nothing here is tied to the OCI
/// command line: the LXC face fills the same structure.
pub struct Launch<'a> {
    pub id: &'a str,
    pub bundle: &'a Bundle,
    pub state_dir: &'a Path,
    pub console_socket: Option<&'a Path>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub mode: StartMode,
}

impl Launch<'_> {
    pub fn spec(&self) -> &Spec {
        &self.bundle.spec
    }

    fn namespaces(&self) -> &[oci_spec::runtime::LinuxNamespace] {
        self.spec()
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_deref())
            .unwrap_or(&[])
    }

    fn hooks(&self, pick: impl Fn(&oci_spec::runtime::Hooks) -> &Option<Vec<Hook>>) -> &[Hook] {
        self.spec()
            .hooks()
            .as_ref()
            .and_then(|h| pick(h).as_deref())
            .unwrap_or(&[])
    }

    /// prestart and createRuntime hooks, which the parent runs once the
    /// namespaces exist.
    #[allow(deprecated)]
    fn runtime_hooks(&self) -> Vec<(&'static str, &[Hook])> {
        vec![
            ("prestart", self.hooks(|h| h.prestart())),
            ("createRuntime", self.hooks(|h| h.create_runtime())),
        ]
    }

    /// Whether a `run` init, once ready, waits for the parent's `Start`
    /// before it execs. Only startContainer hooks need it: they run in init
    /// after the state is committed and may read it. Otherwise init execs
    /// at once and the parent commits the state meanwhile, which saves a
    /// round trip (two wake-ups) on every start.
    pub fn awaits_start(&self) -> bool {
        self.mode == StartMode::Immediate && !self.hooks(|h| h.start_container()).is_empty()
    }

    fn has_runtime_hooks(&self) -> bool {
        self.runtime_hooks().iter().any(|(_, h)| !h.is_empty())
    }

    /// The mounts the runtime builds for init while init mounts the rest
    /// (see `rootfs::prebuilt`). Parent and child decide it from the same
    /// inputs, so init knows which to wait for. Only in the plain case: no
    /// user or cgroup namespace (the trees are made in the runtime's), a
    /// mount namespace of its own, and no runtime hooks (whose messages
    /// would come in between).
    fn prebuilt_mounts(
        &self,
        plan: &Plan,
        cgroup: &CgroupPaths,
    ) -> Vec<crate::rootfs::prebuilt::Item> {
        if !self.plain(plan) || plan.unshare.contains(CloneFlags::CLONE_NEWCGROUP) {
            return Vec::new();
        }
        crate::rootfs::prebuilt::plan(self.spec(), cgroup)
    }

    /// The config's /proc mount, when the runtime makes the read-only
    /// paths under it (`rootfs::procpaths`): only when it detaches the old
    /// root too, from inside init's mount namespace.
    fn proc_to_runtime(&self, plan: &Plan) -> Option<usize> {
        self.runtime_detaches(plan)
            .then(|| crate::rootfs::procpaths::plan(self.spec()))
            .flatten()
    }

    /// Whether the runtime, rather than init, detaches the old root after
    /// init's pivot_root (see `rootfs::pivot`): in the plain case, with a
    /// pivot_root. Both sides decide it from the same inputs.
    fn runtime_detaches(&self, plan: &Plan) -> bool {
        self.plain(plan) && !self.no_pivot
    }

    /// No user namespace (the runtime acts in init's namespaces with its
    /// own credentials), a mount namespace of init's own, and no runtime
    /// hooks (whose messages would come in between).
    fn plain(&self, plan: &Plan) -> bool {
        !plan.new_user
            && plan.join_user.is_none()
            && plan.unshare.contains(CloneFlags::CLONE_NEWNS)
            && !self.has_runtime_hooks()
    }

    /// The OCI state document handed to hooks.
    pub fn hook_state(&self, pid: i32, status: &str) -> serde_json::Value {
        serde_json::json!({
            "ociVersion": crate::state::OCI_VERSION,
            "id": self.id,
            "status": status,
            "pid": pid,
            "bundle": self.bundle.dir,
            "annotations": self.spec().annotations().clone().unwrap_or_default(),
        })
    }
}

/// A started init, blocked before exec, and what the parent holds on it.
pub struct Spawned {
    pub pid: i32,
    pub channel: Channel,
    pub cgroup: CgroupPaths,
    pub pty_master: Option<OwnedFd>,
    pub signals: SignalFd,
    pub old_mask: SigSet,
    /// Init waits for `Start` before it execs ([`Launch::awaits_start`]).
    pub awaits_start: bool,
}

/// Kills and reaps a half-started child and removes its cgroup unless
/// disarmed: a failed start leaves nothing behind.
struct Cleanup {
    pid: Option<i32>,
    cgroup: Option<CgroupPaths>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let p = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(p, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(p, None);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.remove();
        }
    }
}

/// Run the start sequence up to the point where init waits to exec.
/// `meanwhile` runs once init exists and has its cgroup, while it sets
/// itself up: work for the caller that needs init's pid and would
/// otherwise wait until init is ready (a failure kills init).
pub fn spawn(
    l: &Launch,
    meanwhile: &mut dyn FnMut(i32, &CgroupPaths) -> Result<()>,
) -> Result<Spawned> {
    let plan = namespaces::plan(l.namespaces())?;
    let linux = l.spec().linux().as_ref();
    let mut cgroup = CgroupPaths::resolve(linux.and_then(|x| x.cgroups_path().as_deref()), l.id)?;
    let (signals, old_mask) = crate::signals::block_all()?;
    let (parent_end, child_end) = sync::pair()?;
    let fifo = match l.mode {
        StartMode::Fifo => Some(make_exec_fifo(l.state_dir)?),
        StartMode::Immediate => None,
    };

    let mut guard = Cleanup {
        pid: None,
        cgroup: None,
    };
    let filter = linux
        .and_then(|x| x.seccomp().as_ref())
        .map(crate::security::seccomp::compile)
        .transpose()?;
    // Only the v2 directory is made before the clone: the child is born in
    // it (clone3 CLONE_INTO_CGROUP). The rest of the cgroup is made while
    // the child creates its namespaces, and the child then moves itself
    // into the v1 hierarchies, so nobody waits for the kernel's global
    // migration lock (see cgroups::JoinFile).
    let made = cgroup.create_where(|h| h.v2);
    guard.cgroup = Some(cgroup.clone());
    made?;
    let v2_dir = cgroup.open_v2_dir()?;
    let bell = l
        .runtime_detaches(&plan)
        .then(sync::Doorbell::new)
        .transpose()?;
    let (pid, born_in_cgroup) = clone_child(
        l,
        &plan,
        &cgroup,
        (child_end, bell.as_ref()),
        fifo,
        filter.as_ref(),
        v2_dir.as_ref(),
    )?;
    guard.pid = Some(pid);
    drop(v2_dir);

    if plan.new_user {
        let linux = linux.ok_or_else(|| Error::Config("no linux section".into()))?;
        namespaces::write_id_maps(
            pid,
            linux.uid_mappings().as_deref().unwrap_or(&[]),
            linux.gid_mappings().as_deref().unwrap_or(&[]),
        )?;
        parent_end.send(&Msg::Go { pid })?;
    }
    // The v2 directory's parent hands its controllers down only now: the
    // child was born in the directory before, and this is off the path
    // before the clone.
    cgroup.delegate_v2();
    let made = cgroup.create_where(|h| !h.v2);
    guard.cgroup = Some(cgroup.clone());
    made?;
    if let Some(res) = linux.and_then(|x| x.resources().as_ref()) {
        crate::cgroups::apply_resources(&cgroup, res, Some(&device_rules(l.spec())))?;
    }
    let join = cgroup.join_files(!born_in_cgroup)?;
    let paths = join.iter().map(|f| f.path.display().to_string()).collect();
    let fds: Vec<_> = join.iter().map(|f| f.file.as_raw_fd()).collect();
    parent_end.send_to_child(&Msg::Placed { pid, files: paths }, &fds)?;
    drop(join);
    for item in l.prebuilt_mounts(&plan, &cgroup) {
        let tree = match crate::rootfs::prebuilt::build(&item, l.spec(), &cgroup) {
            Ok(t) => {
                tracing::debug!("the runtime built mount {} ({:?})", item.mount, item.kind);
                Some(t)
            }
            Err(e) => {
                tracing::debug!("init makes mount {} itself: {e}", item.mount);
                None
            }
        };
        // Sent with or without the tree: init waits for this message.
        let fds: Vec<_> = tree.iter().map(|t| t.as_raw_fd()).collect();
        parent_end.send_to_child(&Msg::Prebuilt { mount: item.mount }, &fds)?;
    }
    if let Some(bell) = &bell {
        let detacher = crate::rootfs::OldRootDetacher::new(pid)?;
        let proc = match l.proc_to_runtime(&plan) {
            Some(_) => Some(
                parent_end
                    .expect(&Msg::ProcMounted)?
                    .ok_or_else(|| Error::Other("no /proc with ProcMounted".into()))?,
            ),
            None => None,
        };
        let pivoted = |init: BorrowedFd<'_>| -> Result<OwnedFd> {
            bell.wait(init)?;
            match parent_end.recv()? {
                Some((Msg::Pivoted, Some(old))) => Ok(old),
                Some((m, _)) => Err(m.into_error()),
                None => Err(died_during_setup(pid)),
            }
        };
        // The runtime enters init's mount namespace only once a message
        // shows init has made it (`ProcMounted`, or else `Pivoted`).
        let detached = match proc {
            Some(proc) => detacher.detach_with(|init| {
                crate::rootfs::procpaths::apply(l.spec(), proc.as_fd())?;
                tracing::debug!("the runtime made the read-only paths under /proc");
                pivoted(init)
            }),
            None => {
                let old = pivoted(detacher.init())?;
                detacher.detach_with(|_| Ok(old))
            }
        };
        // Init may fail and exit while the runtime works in its mount
        // namespace (a bad cwd, say): then what it reported is the error.
        detached.map_err(|e| parent_end.reported_error_or(e))?;
        parent_end.send_to_child(&Msg::Detached, &[])?;
    }
    // The state record, while init finishes: after the detach, which init
    // waits for, and before `Ready`, which the runtime waits for.
    meanwhile(pid, &cgroup)?;

    if l.has_runtime_hooks() {
        parent_end.expect(&Msg::NamespacesReady)?;
        let state = l.hook_state(pid, "creating");
        for (kind, hooks) in l.runtime_hooks() {
            crate::hooks::run_all(kind, hooks, &state)?;
        }
        parent_end.send(&Msg::HooksDone)?;
    }

    let seccomp = linux
        .and_then(|x| x.seccomp().as_ref())
        .map(|s| (s, l.hook_state(pid, "creating")));
    let pty_master = wait_ready(&parent_end, l.console_socket, pid, seccomp)?;
    guard.pid = None;
    guard.cgroup = None;
    Ok(Spawned {
        pid,
        channel: parent_end,
        cgroup,
        pty_master,
        signals,
        old_mask,
        awaits_start: l.awaits_start(),
    })
}

/// Wait for the child's `Ready`, forwarding a pty master to the console
/// socket (or keeping it for the foreground proxy) on the way. A child
/// error becomes this error; a silent death is reported with its status.
pub(crate) fn wait_ready(
    ch: &Channel,
    console_socket: Option<&Path>,
    pid: i32,
    seccomp: Option<(&oci_spec::runtime::LinuxSeccomp, serde_json::Value)>,
) -> Result<Option<OwnedFd>> {
    let mut pty_master = None;
    loop {
        match ch.recv()? {
            Some((Msg::SeccompFd, Some(fd))) => {
                let (profile, state) = seccomp.as_ref().ok_or_else(|| {
                    Error::Other("sync protocol error: unexpected seccomp fd".into())
                })?;
                let path = profile.listener_path().as_deref().ok_or_else(|| {
                    Error::Config("linux.seccomp: SCMP_ACT_NOTIFY needs listenerPath".into())
                })?;
                let msg = crate::security::seccomp::listener_message(profile, pid, state.clone());
                crate::security::seccomp::send_to_listener(path, &msg, &fd)?;
            }
            Some((Msg::Pty, Some(master))) => match console_socket {
                Some(sock) => crate::console::send_to_socket(sock, &master)?,
                None => pty_master = Some(master),
            },
            Some((Msg::Ready, _)) => return Ok(pty_master),
            Some((m, _)) => return Err(m.into_error()),
            None => return Err(died_during_setup(pid)),
        }
    }
}

/// Devices listed in linux.devices are allowed by the device cgroup too.
fn device_rules(spec: &Spec) -> Vec<String> {
    use oci_spec::runtime::LinuxDeviceType as T;
    spec.linux()
        .as_ref()
        .and_then(|l| l.devices().as_deref())
        .unwrap_or(&[])
        .iter()
        .map(|d| {
            let t = match d.typ() {
                T::B => "b",
                T::P => "p",
                _ => "c",
            };
            format!("{t} {}:{} rwm", d.major(), d.minor())
        })
        .collect()
}

fn died_during_setup(pid: i32) -> Error {
    use nix::sys::wait::{waitpid, WaitStatus};
    let how = match waitpid(nix::unistd::Pid::from_raw(pid), None) {
        Ok(WaitStatus::Exited(_, c)) => format!("exited with status {c}"),
        Ok(WaitStatus::Signaled(_, s, _)) => format!("was killed by {s}"),
        _ => "died".to_string(),
    };
    Error::Other(format!(
        "container init {how} during set-up, before reporting an error"
    ))
}

fn make_exec_fifo(state_dir: &Path) -> Result<OwnedFd> {
    let path = state_dir.join(crate::state::EXEC_FIFO);
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .ctx_path("cannot create exec fifo", &path)?;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| Error::io("cannot open exec fifo", &path, e))?;
    Ok(f.into())
}

/// Clone the child into its first namespaces. Pid and time namespaces
/// apply to children only, so joining or creating them happens in the
/// parent just around the clone and is undone right after.
fn clone_child(
    l: &Launch,
    plan: &Plan,
    cgroup: &CgroupPaths,
    (child_end, bell): (Channel, Option<&sync::Doorbell>),
    fifo: Option<OwnedFd>,
    seccomp: Option<&crate::security::seccomp::Filter>,
    into_cgroup: Option<&File>,
) -> Result<(i32, bool)> {
    let restore: Vec<(CloneFlags, File)> = plan
        .join_before_clone
        .iter()
        .map(|(f, _)| *f)
        .chain(
            plan.new_time
                .then(|| namespaces::flag(LinuxNamespaceType::Time)),
        )
        .map(|f| {
            let name = if f == CloneFlags::CLONE_NEWPID {
                "pid_for_children"
            } else {
                "time_for_children"
            };
            let path = format!("/proc/self/ns/{name}");
            File::open(&path)
                .map(|file| (f, file))
                .map_err(|e| Error::io("cannot open", path, e))
        })
        .collect::<Result<_>>()?;
    for (f, path) in &plan.join_before_clone {
        namespaces::join(*f, path)?;
    }
    if plan.new_time {
        nix::sched::unshare(namespaces::flag(LinuxNamespaceType::Time))
            .ctx("cannot create time namespace")?;
        namespaces::write_time_offsets(&time_offsets(l.spec()))?;
    }
    // The runtime itself goes back to where it was; the child stays in the
    // namespaces just joined or created.
    let restore_runtime = || -> Result<()> {
        for (f, file) in &restore {
            nix::sched::setns(file.as_fd(), *f).ctx("cannot return to the runtime's namespace")?;
        }
        Ok(())
    };
    let (forked, born_in_cgroup) = fork_in_cgroup(plan.clone.bits() as libc::c_ulong, into_cgroup);
    match forked {
        Ok(Forked::Child) => init::run(l, plan, cgroup, (child_end, bell), fifo, seccomp),
        Ok(Forked::Parent(pid)) => restore_runtime().map(|_| (pid, born_in_cgroup)),
        Err(e) => {
            restore_runtime()?;
            Err(Error::sys("cannot clone container init", e))
        }
    }
}

/// Clone with fork semantics and `flags`, the child born in the cgroup v2
/// directory `dir` when there is one (`clone3(CLONE_INTO_CGROUP)`); on
/// kernels before 5.7, or a cgroup that refuses it, a plain clone. Also
/// returns whether the child was born in `dir`. The caller must be
/// single-threaded (see `sys::clone_fork`).
pub(crate) fn fork_in_cgroup(
    flags: libc::c_ulong,
    dir: Option<&File>,
) -> (nix::Result<Forked>, bool) {
    if let Some(dir) = dir {
        match sys::clone_into_cgroup(flags, dir.as_fd()) {
            Err(e) => tracing::debug!("clone3(CLONE_INTO_CGROUP) failed ({e}); using clone"),
            ok => return (ok, true),
        }
    }
    (sys::clone_fork(flags), false)
}

fn time_offsets(spec: &Spec) -> Vec<(String, i64, u32)> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
        .map(|m| {
            m.iter()
                .map(|(clock, o)| {
                    (
                        clock.clone(),
                        o.secs().unwrap_or(0),
                        o.nanosecs().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Where the container's state and exec fifo live.
pub fn fifo_path(state_dir: &Path) -> PathBuf {
    state_dir.join(crate::state::EXEC_FIFO)
}
