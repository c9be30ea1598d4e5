//! Keeping the container in: capabilities, no_new_privs, seccomp (actions,
//! argument rules, architectures, flags, the notify listener, exec), the
//! refusal of LSM labels this kernel cannot apply, and masked/read-only
//! paths applied after every other mount.

mod common;

use common::*;
use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
use serde_json::{json, Value};
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const CAP_CHOWN: u64 = 1 << 0;
const CAP_NET_RAW: u64 = 1 << 13;

/// The `Cap*` lines of /proc/self/status as (name, mask).
fn cap_masks(status: &str) -> Vec<(String, u64)> {
    status
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.starts_with("Cap"))
        .map(|(k, v)| (k.to_string(), u64::from_str_radix(v.trim(), 16).unwrap()))
        .collect()
}

fn caps_bundle(t: &TestEnv, uid: u32) -> Bundle {
    let mut b = t.shared_bundle(&["cat", "/proc/self/status"]);
    let both = json!(["CAP_CHOWN", "CAP_NET_RAW"]);
    let raw = json!(["CAP_NET_RAW"]);
    b.user(uid, uid, &[], None).set(
        "/process/capabilities",
        json!({"bounding": both, "effective": both, "permitted": both,
               "inheritable": raw, "ambient": raw}),
    );
    b
}

#[test]
fn capabilities_of_root_are_exactly_the_configured_sets() {
    let t = TestEnv::new("caps_root");
    let b = caps_bundle(&t, 0);
    let got = cap_masks(&t.run_ok(&b));
    let both = CAP_CHOWN | CAP_NET_RAW;
    let want = [
        ("CapInh", CAP_NET_RAW),
        ("CapPrm", both),
        ("CapEff", both),
        ("CapBnd", both),
        ("CapAmb", CAP_NET_RAW),
    ];
    let want: Vec<(String, u64)> = want.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(got, want);
}

#[test]
fn capabilities_of_a_user_keep_bounding_inheritable_and_ambient() {
    // Across execve a non-root process without file capabilities keeps
    // only its ambient set as permitted and effective (capabilities(7)),
    // so CAP_CHOWN, configured in effective/permitted, must be gone while
    // the bounding, inheritable and ambient sets are exactly the config's.
    let t = TestEnv::new("caps_user");
    let b = caps_bundle(&t, 1000);
    let got = cap_masks(&t.run_ok(&b));
    let want = [
        ("CapInh", CAP_NET_RAW),
        ("CapPrm", CAP_NET_RAW),
        ("CapEff", CAP_NET_RAW),
        ("CapBnd", CAP_CHOWN | CAP_NET_RAW),
        ("CapAmb", CAP_NET_RAW),
    ];
    let want: Vec<(String, u64)> = want.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(got, want);
}

/// `create` must fail with one error line naming every string in `names`
/// and leave nothing behind.
fn assert_create_refused(t: &TestEnv, b: &Bundle, names: &[&str]) {
    let id = t.id();
    let _g = t.guard(&id);
    let out = t.cli.create(&id, b, &[]);
    assert_one_error(&out, names);
    t.assert_no_leftovers(&id, b);
}

#[test]
fn unknown_capability_fails_create_naming_it() {
    let t = TestEnv::new("caps_bogus");
    let mut b = t.shared_bundle(&["true"]);
    b.set("/process/capabilities/bounding", json!(["CAP_BOGUS"]));
    assert_create_refused(&t, &b, &["process.capabilities", "CAP_BOGUS"]);
}

#[test]
fn no_new_privileges_is_set_as_configured() {
    let t = TestEnv::new("nnp");
    for (on, want) in [(true, "1"), (false, "0")] {
        let mut b = t.shared_bundle(&["grep", "NoNewPrivs", "/proc/self/status"]);
        b.set("/process/noNewPrivileges", json!(on));
        let out = t.run_ok(&b);
        assert_eq!(squash(&out), format!("NoNewPrivs: {want}"), "nnp {on}");
    }
}

/// A bundle running `script` with a writable tmpfs on /tmp and `seccomp`.
fn seccomp_bundle(t: &TestEnv, script: &str, seccomp: Value) -> Bundle {
    let mut b = t.shared_bundle(&["sh", "-c", script]);
    b.mount("/tmp", "tmpfs", "tmpfs", &["nosuid", "nodev", "mode=1777"])
        .set("/linux/seccomp", seccomp);
    b
}

fn deny_mkdir(action: &str) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["mkdir", "mkdirat"], "action": action, "errnoRet": 1}]})
}

const MKDIR_TOUCH_LS: &str =
    "mkdir /tmp/x 2>&1; echo mkdir=$?; touch /tmp/y; echo touch=$?; ls /tmp";

#[test]
fn seccomp_errno_rule_denies_only_the_named_syscalls() {
    let t = TestEnv::new("sc_errno");
    let b = seccomp_bundle(&t, MKDIR_TOUCH_LS, deny_mkdir("SCMP_ACT_ERRNO"));
    let out = t.run_ok(&b);
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.contains("mkdir=1\ntouch=0\ny\n"), "{out}");
    // The same script without the filter creates the directory.
    let mut b = seccomp_bundle(&t, MKDIR_TOUCH_LS, json!(null));
    b.config["linux"].as_object_mut().unwrap().remove("seccomp");
    assert_eq!(t.run_ok(&b), "mkdir=0\ntouch=0\nx\ny\n");
}

/// Syscalls busybox and the runtime's last steps before execve need.
const ALLOWED: &str =
    "access arch_prctl brk capget capset chdir clock_gettime clock_nanosleep clone \
    clone3 close close_range dup dup2 dup3 execve execveat exit exit_group faccessat \
    faccessat2 fchdir fcntl fstat fstatfs futex getcwd getdents getdents64 getegid \
    geteuid getgid getgroups getpgid getpgrp getpid getppid getrandom getresgid \
    getresuid getrlimit gettid gettimeofday getuid ioctl kill lseek lstat madvise mmap \
    mprotect munmap nanosleep newfstatat open openat openat2 pipe pipe2 poll ppoll \
    prctl pread64 prlimit64 read readlink readlinkat readv recvfrom recvmsg \
    restart_syscall rseq rt_sigaction rt_sigprocmask rt_sigreturn rt_sigsuspend \
    sched_getaffinity sched_yield sendmsg sendto set_robust_list set_tid_address \
    setpgid sigaltstack stat statfs statx sysinfo tgkill umask uname utimensat vfork \
    wait4 waitid write writev";

#[test]
fn seccomp_default_errno_ret_applies_to_syscalls_off_the_allow_list() {
    let t = TestEnv::new("sc_default_errno");
    let profile = json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": libc::EMLINK,
        "syscalls": [{"names": ALLOWED.split_whitespace().collect::<Vec<_>>(),
                      "action": "SCMP_ACT_ALLOW"}]});
    let b = seccomp_bundle(&t, MKDIR_TOUCH_LS, profile);
    let out = t.run_ok(&b);
    assert!(out.contains("Too many links"), "EMLINK expected: {out}");
    assert!(out.contains("mkdir=1\ntouch=0\ny\n"), "{out}");
}

#[test]
fn seccomp_kill_actions_kill_with_sigsys() {
    let t = TestEnv::new("sc_kill");
    for action in [
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
    ] {
        let mut b = t.shared_bundle(&["mkdir", "/tmp/x"]);
        b.mount("/tmp", "tmpfs", "tmpfs", &[])
            .set("/linux/seccomp", deny_mkdir(action));
        let (g, out) = t.run(&b);
        assert_eq!(out.code, 128 + libc::SIGSYS, "{action}: {out}");
        t.assert_no_leftovers(&g.id, &b);
    }
}

/// Results of `chmod MODE f` for each mode, as "MODE:rc" words.
const CHMODS: &str = "touch /tmp/f; for m in 777 775 755 644; do chmod $m /tmp/f 2>/dev/null; \
                      echo -n \"$m:$? \"; done";

fn chmod_rule(op: &str, value: u32, value_two: u32) -> Value {
    let arg = |i: u32| json!([{"index": i, "value": value, "valueTwo": value_two, "op": op}]);
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "args": arg(1)},
        {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "args": arg(2)}]})
}

#[test]
fn seccomp_argument_rules_match_on_the_argument_value() {
    // busybox chmod calls chmod(2) (fchmodat(2) elsewhere): the mode is
    // argument 1 (2 for fchmodat).
    let t = TestEnv::new("sc_args");
    let b = seccomp_bundle(&t, CHMODS, chmod_rule("SCMP_CMP_EQ", 0o777, 0));
    assert_eq!(t.run_ok(&b), "777:1 775:0 755:0 644:0 ");
    // MASKED_EQ: value is the mask, valueTwo the value: (mode & 7) == 5.
    let b = seccomp_bundle(&t, CHMODS, chmod_rule("SCMP_CMP_MASKED_EQ", 0o7, 0o5));
    assert_eq!(t.run_ok(&b), "777:0 775:1 755:1 644:0 ");
}

#[test]
fn seccomp_architectures_and_log_flag_are_accepted() {
    let t = TestEnv::new("sc_arches");
    let mut profile = deny_mkdir("SCMP_ACT_ERRNO");
    profile["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    profile["flags"] = json!(["SECCOMP_FILTER_FLAG_LOG"]);
    let b = seccomp_bundle(&t, MKDIR_TOUCH_LS, profile);
    let out = t.run_ok(&b);
    assert!(out.contains("mkdir=1\ntouch=0\ny\n"), "{out}");
}

#[test]
fn seccomp_unknown_action_or_architecture_fails_create() {
    let t = TestEnv::new("sc_bad");
    let b = seccomp_bundle(&t, "true", deny_mkdir("SCMP_ACT_BOGUS"));
    assert_create_refused(&t, &b, &["linux.seccomp", "SCMP_ACT_BOGUS"]);
    let mut profile = deny_mkdir("SCMP_ACT_ERRNO");
    profile["architectures"] = json!(["SCMP_ARCH_BOGUS"]);
    let b = seccomp_bundle(&t, "true", profile);
    assert_create_refused(&t, &b, &["linux.seccomp", "SCMP_ARCH_BOGUS"]);
    let mut profile = deny_mkdir("SCMP_ACT_ERRNO");
    profile["defaultAction"] = json!("SCMP_ACT_NOPE");
    let b = seccomp_bundle(&t, "true", profile);
    assert_create_refused(&t, &b, &["linux.seccomp", "SCMP_ACT_NOPE"]);
}

#[test]
fn seccomp_notify_without_listener_path_is_refused() {
    let t = TestEnv::new("sc_notify_nopath");
    let b = seccomp_bundle(&t, "true", deny_mkdir("SCMP_ACT_NOTIFY"));
    assert_create_refused(
        &t,
        &b,
        &["linux.seccomp", "SCMP_ACT_NOTIFY", "listenerPath"],
    );
}

/// A seccomp agent on `path`: takes the listener message and fd, then
/// answers every notification with `-errno` until `stop` is set. Returns
/// the message and how many notifications it answered.
fn seccomp_agent(
    path: &std::path::Path,
    errno: i32,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Result<(Value, usize), String>> {
    let listener = UnixListener::bind(path).unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + CMD_TIMEOUT;
        let stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(_) if Instant::now() < deadline && !stop.load(Ordering::SeqCst) => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => return Err(format!("nobody connected to the listener: {e}")),
            }
        };
        stream.set_nonblocking(false).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(CMD_TIMEOUT)).unwrap();
        let (data, fd) = recv_msg_with_fd(&stream)?;
        let msg: Value = serde_json::from_slice(&data)
            .map_err(|e| format!("bad JSON ({e}): {}", String::from_utf8_lossy(&data)))?;
        let mut answered = 0;
        while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
            let mut pfd = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            if unsafe { libc::poll(&mut pfd, 1, 50) } <= 0 {
                continue;
            }
            if pfd.revents & libc::POLLIN == 0 {
                // POLLHUP: the filtered processes are gone.
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            let req = ScmpNotifReq::receive(fd.as_raw_fd()).map_err(|e| e.to_string())?;
            ScmpNotifResp::new_error(req.id, -errno, ScmpNotifRespFlags::empty())
                .respond(fd.as_raw_fd())
                .map_err(|e| e.to_string())?;
            answered += 1;
        }
        Ok((msg, answered))
    })
}

#[test]
fn seccomp_notify_hands_the_fd_to_the_listener_which_answers() {
    let t = TestEnv::new("sc_notify");
    let sock = t.path().join("agent.sock");
    let stop = Arc::new(AtomicBool::new(false));
    let agent = seccomp_agent(&sock, libc::ENOSPC, stop.clone());
    let mut profile = deny_mkdir("SCMP_ACT_NOTIFY");
    profile["listenerPath"] = json!(sock);
    profile["listenerMetadata"] = json!("cella-test-metadata");
    let b = seccomp_bundle(&t, "mkdir /tmp/n 2>&1; echo rc=$?; ls /tmp", profile);
    let id = t.id();
    let _g = t.guard(&id);
    let out = t.cli.create(&id, &b, &[]);
    if out.code != 0 {
        stop.store(true, Ordering::SeqCst);
        panic!("create failed: {out}");
    }
    let pid = t.cli.state(&id)["pid"].as_i64().unwrap();
    let start = t.cli.start(&id);
    t.cli.wait_status(&id, "stopped");
    stop.store(true, Ordering::SeqCst);
    let (msg, answered) = agent
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("agent: {e}"));
    assert_eq!(start.code, 0, "{start}");
    assert_eq!(msg["fds"], json!(["seccompFd"]), "{msg}");
    assert_eq!(msg["pid"], json!(pid), "{msg}");
    assert_eq!(msg["metadata"], "cella-test-metadata", "{msg}");
    assert_eq!(msg["state"]["id"], id.as_str(), "{msg}");
    assert!(answered >= 1, "the agent answered no notification");
    let d = t.cli.delete(&id);
    assert_eq!(d.code, 0, "{d}");
    t.assert_no_leftovers(&id, &b);
}

#[test]
fn seccomp_notify_answer_reaches_the_container() {
    // Same as above, observed from inside: mkdir fails with the agent's
    // errno, and nothing was created.
    let t = TestEnv::new("sc_notify_run");
    let sock = t.path().join("agent.sock");
    let stop = Arc::new(AtomicBool::new(false));
    let agent = seccomp_agent(&sock, libc::ENOSPC, stop.clone());
    let mut profile = deny_mkdir("SCMP_ACT_NOTIFY");
    profile["listenerPath"] = json!(sock);
    let b = seccomp_bundle(&t, "mkdir /tmp/n 2>&1; echo rc=$?; ls /tmp", profile);
    let (g, out) = t.run(&b);
    stop.store(true, Ordering::SeqCst);
    let res = agent.join().unwrap();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(
        out.stdout, "mkdir: can't create directory '/tmp/n': No space left on device\nrc=1\n",
        "{out}"
    );
    let (_, answered) = res.unwrap_or_else(|e| panic!("agent: {e}"));
    assert!(answered >= 1, "the agent answered no notification");
    t.assert_no_leftovers(&g.id, &b);
}

#[test]
fn seccomp_profile_applies_to_exec_processes() {
    let t = TestEnv::new("sc_exec");
    let b = seccomp_bundle(&t, "sleep 1000", deny_mkdir("SCMP_ACT_ERRNO"));
    let g = t.run_detached(&b);
    let out = t.cli.cmd(&["exec", &g.id, "mkdir", "/tmp/z"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
    let out = t
        .cli
        .cmd(&["exec", &g.id, "sh", "-c", "touch /tmp/w && ls /tmp"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "w\n"), "{out}");
}

#[test]
fn apparmor_profile_and_selinux_label_are_refused() {
    let t = TestEnv::new("lsm");
    let mut b = t.shared_bundle(&["true"]);
    b.set("/process/apparmorProfile", json!("cella-test-profile"));
    assert_create_refused(&t, &b, &["AppArmor"]);
    let mut b = t.shared_bundle(&["true"]);
    b.set(
        "/process/selinuxLabel",
        json!("system_u:system_r:container_t:s0"),
    );
    assert_create_refused(&t, &b, &["SELinux"]);
    let mut b = t.shared_bundle(&["true"]);
    b.set(
        "/linux/mountLabel",
        json!("system_u:object_r:container_file_t:s0"),
    );
    assert_create_refused(&t, &b, &["SELinux"]);
}

#[test]
fn masked_paths_read_empty_and_masked_directories_are_empty() {
    let t = TestEnv::new("masked");
    for p in ["/proc/keys", "/proc/timer_list"] {
        assert!(!fs::read(p).unwrap().is_empty(), "host {p} is empty");
    }
    assert!(
        fs::read_dir("/sys/firmware").unwrap().next().is_some(),
        "host /sys/firmware is empty"
    );
    // The masked directories share one empty read-only tmpfs (one device
    // number), mounted read-only in both places.
    let script = "for f in /proc/keys /proc/timer_list; do echo $f $(cat $f | wc -c); done; \
                  echo firmware: $(ls -A /sys/firmware | wc -l); \
                  touch /sys/firmware/x 2>/dev/null; echo write=$?; \
                  [ $(stat -c %d /proc/acpi) = $(stat -c %d /sys/firmware) ] && echo one tmpfs; \
                  awk '$5 == \"/proc/acpi\" || $5 == \"/sys/firmware\" {print $5, $6}' \
                    /proc/self/mountinfo | cut -d, -f1";
    let b = t.shared_bundle(&["sh", "-c", script]);
    let out = t.run_ok(&b);
    assert_eq!(
        out,
        "/proc/keys 0\n/proc/timer_list 0\nfirmware: 0\nwrite=1\none tmpfs\n\
         /proc/acpi ro\n/sys/firmware ro\n",
        "{out}"
    );
}

#[test]
fn readonly_paths_refuse_writes() {
    let t = TestEnv::new("readonly");
    let script = "echo x > /proc/sys/kernel/domainname; echo rc=$?; \
                  awk '$5 == \"/proc/sys\" {print $6}' /proc/self/mountinfo | cut -d, -f1";
    let b = t.shared_bundle(&["sh", "-c", script]);
    let (g, out) = t.run(&b);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "rc=1\nro\n", "{out}");
    assert!(out.stderr.contains("Read-only file system"), "{out}");
    t.assert_no_leftovers(&g.id, &b);
}

/// A container whose config mounts things over masked and read-only
/// paths: a host file on /proc/timer_list, a host directory on
/// /sys/firmware, a tmpfs on /proc/fs. Prints what the container sees.
fn overmounted(t: &TestEnv, masked: bool) -> String {
    let file = t.path().join("unmasked-file");
    fs::write(&file, "unmasked\n").unwrap();
    let dir = t.dir("unmasked-dir");
    fs::write(dir.join("planted"), "").unwrap();
    let script = "cat /proc/timer_list; ls -A /sys/firmware; \
                  touch /proc/fs/new 2>/dev/null; echo touch=$?";
    let mut b = t.shared_bundle(&["sh", "-c", script]);
    b.bind(&file, "/proc/timer_list", false)
        .bind(&dir, "/sys/firmware", false)
        .mount("/proc/fs", "tmpfs", "tmpfs", &[]);
    if !masked {
        b.set("/linux/maskedPaths", json!([]))
            .set("/linux/readonlyPaths", json!([]));
    }
    let out = t.run_ok(&b);
    assert_eq!(fs::read_to_string(&file).unwrap(), "unmasked\n");
    out
}

#[test]
fn config_mounts_cannot_unmask_masked_or_readonly_paths() {
    let t = TestEnv::new("unmask");
    // Without masked/read-only paths the mounts take effect...
    assert_eq!(overmounted(&t, false), "unmasked\nplanted\ntouch=0\n");
    // ...with them, masking and read-only come after every mount.
    assert_eq!(overmounted(&t, true), "touch=1\n");
}
