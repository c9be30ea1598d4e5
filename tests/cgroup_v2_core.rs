//! The cgroup v2 operations that need no controller (populated/frozen
//! events, freeze, kill) and the eBPF device filter, exercised on the real
//! cgroup2 mount of a hybrid host at /sys/fs/cgroup/unified, both directly
//! and through cella's library (`CgroupPaths`, `devices_bpf`).

mod common;

use cella::cgroups::devices_bpf::{install_rules, parse_rule, program, rules_for, Rule};
use cella::cgroups::{CgroupPaths, Hierarchy};
use common::wait_until;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const UNIFIED: &str = "/sys/fs/cgroup/unified";
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
const TIMEOUT: Duration = Duration::from_secs(20);

/// Asserts /sys/fs/cgroup/unified is a cgroup2 mount (this host has one:
/// the test fails rather than skips when it is missing).
fn unified() -> &'static Path {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "these tests must run as root"
    );
    let path = std::ffi::CString::new(UNIFIED).unwrap();
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statfs(path.as_ptr(), &mut st) };
    assert_eq!(
        rc,
        0,
        "{UNIFIED} is missing ({}): this host is expected to mount cgroup2 there",
        std::io::Error::last_os_error()
    );
    assert_eq!(
        st.f_type as i64, CGROUP2_SUPER_MAGIC,
        "{UNIFIED} is not a cgroup2 mount (f_type {:#x})",
        st.f_type
    );
    Path::new(UNIFIED)
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh child cgroup of the cgroup2 root, named uniquely. On drop it is
/// thawed, killed and removed.
struct V2Dir(PathBuf);

impl V2Dir {
    fn new(name: &str) -> V2Dir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = unified().join(format!("cella-v2-{name}-{}-{n}", std::process::id()));
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        V2Dir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn file(&self, name: &str) -> String {
        let p = self.0.join(name);
        fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn write(&self, name: &str, value: &str) {
        let p = self.0.join(name);
        fs::write(&p, value).unwrap_or_else(|e| panic!("write {value:?} to {}: {e}", p.display()));
    }

    /// The value of `key` in cgroup.events.
    fn event(&self, key: &str) -> String {
        let events = self.file("cgroup.events");
        let line = events
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} ")));
        line.unwrap_or_else(|| panic!("no {key} in cgroup.events: {events}"))
            .trim()
            .to_string()
    }

    fn wait_event(&self, key: &str, value: &str) {
        let mut last = String::new();
        let ok = wait_until(TIMEOUT, || {
            last = self.event(key);
            last == value
        });
        assert!(ok, "cgroup.events never had {key} {value} (last: {last})");
    }

    fn procs(&self) -> Vec<i32> {
        let text = self.file("cgroup.procs");
        text.lines().filter_map(|l| l.trim().parse().ok()).collect()
    }
}

impl Drop for V2Dir {
    fn drop(&mut self) {
        let _ = fs::write(self.0.join("cgroup.freeze"), "0");
        for _ in 0..200 {
            let _ = fs::write(self.0.join("cgroup.kill"), "1");
            if fs::remove_dir(&self.0).is_ok() || !self.0.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A child process killed and reaped on drop.
struct Proc(Child);

impl Proc {
    fn spawn(cmd: &mut Command) -> Proc {
        Proc(cmd.spawn().expect("cannot spawn"))
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }

    /// Waits at most `TIMEOUT`, returning the exit status and stdout.
    fn wait_output(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(st) = self.0.try_wait().unwrap() {
                break st;
            }
            assert!(Instant::now() < deadline, "process {} hangs", self.pid());
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut out = String::new();
        if let Some(mut so) = self.0.stdout.take() {
            use std::io::Read;
            let _ = so.read_to_string(&mut out);
        }
        (status, out)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn sleeper() -> Proc {
    Proc::spawn(
        Command::new("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    )
}

/// The state letter and wchan of `pid`.
fn sched_state(pid: i32) -> (char, String) {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
        .unwrap_or('?');
    let wchan = fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
    (state, wchan)
}

/// A task stopped by the v2 freezer: `T` on older kernels; on newer ones it
/// sleeps in the signal-delivery freezer trap (wchan do_freezer_trap, which
/// may be inlined into get_signal).
fn looks_frozen(pid: i32) -> bool {
    let (state, wchan) = sched_state(pid);
    state == 'T' || wchan.contains("freezer") || wchan == "get_signal"
}

#[test]
fn raw_v2_cgroup_populates_freezes_thaws_and_kills() {
    let cg = V2Dir::new("raw");
    assert_eq!(cg.event("populated"), "0");
    let child = sleeper();
    let pid = child.pid();
    cg.write("cgroup.procs", &pid.to_string());
    assert_eq!(cg.procs(), vec![pid]);
    cg.wait_event("populated", "1");
    assert_eq!(cg.event("frozen"), "0");
    assert!(
        !looks_frozen(pid),
        "{pid} looks frozen: {:?}",
        sched_state(pid)
    );

    cg.write("cgroup.freeze", "1");
    cg.wait_event("frozen", "1");
    assert!(
        wait_until(TIMEOUT, || looks_frozen(pid)),
        "frozen {pid} is not stopped: {:?}",
        sched_state(pid)
    );

    cg.write("cgroup.freeze", "0");
    cg.wait_event("frozen", "0");
    assert!(
        wait_until(TIMEOUT, || !looks_frozen(pid)),
        "thawed {pid} still looks frozen: {:?}",
        sched_state(pid)
    );

    cg.write("cgroup.kill", "1");
    let (status, _) = child.wait_output();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    cg.wait_event("populated", "0");
    fs::remove_dir(cg.path()).expect("rmdir of the emptied cgroup");
    assert!(!cg.path().exists());
}

fn paths_for(dir: &Path) -> CgroupPaths {
    CgroupPaths {
        hierarchies: vec![Hierarchy {
            controllers: vec![],
            v2: true,
            dir: dir.to_path_buf(),
        }],
        ..Default::default()
    }
}

#[test]
fn cella_freezes_lists_and_removes_a_v2_cgroup() {
    let cg = V2Dir::new("lib");
    let paths = paths_for(cg.path());
    assert!(paths.unified_only());
    assert!(paths.procs().is_empty());
    let child = sleeper();
    let pid = child.pid();
    cg.write("cgroup.procs", &pid.to_string());
    assert_eq!(paths.procs(), vec![pid]);
    assert!(!paths.is_frozen());

    paths.set_frozen(true).expect("set_frozen(true)");
    assert!(paths.is_frozen(), "is_frozen after set_frozen(true)");
    assert_eq!(cg.file("cgroup.freeze").trim(), "1");
    cg.wait_event("frozen", "1");
    assert!(
        wait_until(TIMEOUT, || looks_frozen(pid)),
        "{:?}",
        sched_state(pid)
    );

    paths.set_frozen(false).expect("set_frozen(false)");
    assert!(!paths.is_frozen(), "is_frozen after set_frozen(false)");
    cg.wait_event("frozen", "0");

    // A populated cgroup cannot be removed: an error, and it stays.
    let e = paths.remove();
    assert!(e.is_err(), "remove() of a populated cgroup succeeded");
    assert!(cg.path().exists());

    cg.write("cgroup.kill", "1");
    drop(child.wait_output());
    cg.wait_event("populated", "0");
    assert!(paths.procs().is_empty());
    paths.remove().expect("remove() of the empty cgroup");
    assert!(!cg.path().exists(), "remove() left {}", cg.path().display());
    paths
        .remove()
        .expect("remove() of a missing cgroup is not an error");
}

/// Runs a shell that moves itself into `dir`, then tries /dev/null (1:3,
/// allowed by default) and /dev/kmsg (1:11, not in the defaults).
fn probe_devices(dir: &Path) -> String {
    // A failed redirection on `:` ends a POSIX shell: use a subshell.
    let inner = "echo x > /dev/null && echo null-ok; \
                 (: < /dev/kmsg) 2>/dev/null && echo kmsg-open || echo kmsg-denied";
    let script = format!(
        "echo $$ > {}/cgroup.procs; exec /bin/busybox sh -c '{inner}'",
        dir.display()
    );
    let p = Proc::spawn(
        Command::new("/bin/busybox")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let (status, out) = p.wait_output();
    assert!(status.success(), "{status:?}: {out}");
    out
}

#[test]
fn ebpf_device_filter_allows_defaults_and_denies_the_rest() {
    let defaults = V2Dir::new("bpf-default");
    install_rules(defaults.path(), &rules_for(&[], &[])).expect("install_rules (defaults)");
    let out = probe_devices(defaults.path());
    assert_eq!(out, "null-ok\nkmsg-denied\n", "with the default rules");

    let extra = V2Dir::new("bpf-kmsg");
    let mut rules = rules_for(&[], &[]);
    rules.push(parse_rule("c 1:11 r", true).unwrap());
    install_rules(extra.path(), &rules).expect("install_rules (with c 1:11 r)");
    let out = probe_devices(extra.path());
    assert_eq!(out, "null-ok\nkmsg-open\n", "with c 1:11 r allowed");

    // The same rule through rules_for's extra list.
    let listed = V2Dir::new("bpf-extra");
    let rules = rules_for(&[], &["c 1:11 r".to_string()]);
    install_rules(listed.path(), &rules).expect("install_rules (extra list)");
    assert_eq!(probe_devices(listed.path()), "null-ok\nkmsg-open\n");

    // Outside those cgroups nothing is filtered.
    let out = Command::new("/bin/busybox")
        .args(["sh", "-c", ": < /dev/kmsg && echo kmsg-open"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "kmsg-open\n");
}

/// The usual config starts with an unconditional "deny all" rule; the
/// program made from it must load (the kernel refuses unreachable code
/// after such a rule) and still allow the defaults.
#[test]
fn ebpf_device_filter_loads_the_standard_deny_all_config() {
    let deny_all: oci_spec::runtime::LinuxDeviceCgroup =
        serde_json::from_str(r#"{"allow": false, "access": "rwm"}"#).unwrap();
    let dir = V2Dir::new("bpf-deny-all");
    cella::cgroups::devices_bpf::install(dir.path(), &[deny_all], &[])
        .expect("the standard deny-all device config must load");
    assert_eq!(probe_devices(dir.path()), "null-ok\nkmsg-denied\n");
}

#[test]
fn parse_rule_reads_the_v1_rule_syntax() {
    let r = parse_rule("c 1:11 r", true).unwrap();
    assert_eq!(
        (r.kind, r.access, r.major, r.minor, r.allow),
        (Some(2), 2, Some(1), Some(11), true)
    );
    let r = parse_rule("b 8:* w", false).unwrap();
    assert_eq!(
        (r.kind, r.access, r.major, r.minor, r.allow),
        (Some(1), 4, Some(8), None, false)
    );
    let r = parse_rule("a", true).unwrap();
    assert_eq!((r.kind, r.access, r.major, r.minor), (None, 7, None, None));
    assert!(parse_rule("c 1:x r", true).is_none(), "bad minor");
    assert!(parse_rule("c 1:3 rq", true).is_none(), "bad access");
    assert!(parse_rule("c 13 r", true).is_none(), "no colon");
    assert!(parse_rule("", true).is_none());
}

const EXIT: u64 = 0x95;
const MOV_K: u64 = 0xb7;

fn imm(insn: u64) -> i32 {
    (insn >> 32) as u32 as i32
}

fn off(insn: u64) -> u16 {
    ((insn >> 16) & 0xffff) as u16
}

#[test]
fn program_checks_rules_last_to_first_and_denies_by_default() {
    // No rules: six context loads, then "return 0".
    let p = program(&[]);
    assert_eq!(p.len(), 8);
    assert_eq!((p[6] & 0xff, imm(p[6])), (MOV_K, 0));
    assert_eq!(p[7] & 0xff, EXIT);

    // `c 1:11 r`: type, access (3 insns), major and minor checks, then
    // "return 1"; each check's jump skips to the end of the block.
    let read_kmsg = parse_rule("c 1:11 r", true).unwrap();
    let p = program(std::slice::from_ref(&read_kmsg));
    assert_eq!(p.len(), 6 + 6 + 2 + 2);
    let block = &p[6..14];
    assert_eq!(imm(block[0]), 2, "type check against char");
    assert_eq!(off(block[0]), 7);
    assert_eq!(imm(block[2]), 0b101, "only read may be asked for");
    assert_eq!(off(block[3]), 4);
    assert_eq!((imm(block[4]), off(block[4])), (1, 3), "major");
    assert_eq!((imm(block[5]), off(block[5])), (11, 2), "minor");
    assert_eq!((block[6] & 0xff, imm(block[6])), (MOV_K, 1));
    assert_eq!(block[7] & 0xff, EXIT);

    // Two rules: the later one comes first in the program.
    let deny_all = Rule {
        kind: None,
        access: 7,
        major: None,
        minor: None,
        allow: false,
    };
    let p = program(&[read_kmsg, deny_all]);
    // deny-all has no checks: "return 0" right after the loads, and
    // nothing after it (the kernel refuses unreachable instructions).
    assert_eq!((p[6] & 0xff, imm(p[6])), (MOV_K, 0));
    assert_eq!(p[7] & 0xff, EXIT);
    assert_eq!(p.len(), 6 + 2);
}

/// clone3(CLONE_INTO_CGROUP) starts the child inside the cgroup directly,
/// with no cgroup.procs write (what cella does on pure cgroup v2 hosts).
#[test]
fn clone_into_cgroup_starts_the_child_in_the_cgroup() {
    use cella::sys::{clone_into_cgroup, Forked};
    use std::os::fd::AsFd;
    let dir = V2Dir::new("clone3");
    let handle = fs::File::open(dir.path()).unwrap();
    let pid = match clone_into_cgroup(0, handle.as_fd()).expect("clone3 into the cgroup") {
        // The child only waits to be killed: nothing here may allocate or
        // lock, as the test process has other threads.
        Forked::Child => loop {
            nix::unistd::pause();
        },
        Forked::Parent(pid) => pid,
    };
    let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let procs = dir.file("cgroup.procs");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    let name = dir
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        cgroup
            .lines()
            .any(|l| l.starts_with("0::") && l.ends_with(&name)),
        "the child's /proc/PID/cgroup does not name {name}: {cgroup}"
    );
    assert!(
        procs.lines().any(|l| l.trim() == pid.to_string()),
        "cgroup.procs: {procs}"
    );
}
