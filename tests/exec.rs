//! `exec`: another process in a running container. Every test execs into
//! a container started with `run -d` (a `sleep` init, default namespaces).

mod common;

use common::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29): the caps
/// of `Bundle`'s default config.
const CONFIG_CAPS: u64 = (1 << 5) | (1 << 10) | (1 << 29);
const CAP_NET_ADMIN: u64 = 1 << 12;

/// A running container (`run -d`) of `bundle`, with its guard and init pid.
struct Ctr {
    guard: ContainerGuard,
    pid: i64,
}

impl Ctr {
    fn start(t: &TestEnv, bundle: &Bundle) -> Ctr {
        let guard = t.run_detached(bundle);
        let st = t.cli.state(&guard.id);
        assert_eq!(st["status"], "running", "{st}");
        let pid = st["pid"].as_i64().unwrap_or(0);
        assert!(pid > 0, "no init pid: {st}");
        Ctr { guard, pid }
    }

    fn id(&self) -> &str {
        &self.guard.id
    }
}

/// `run -d` of a `sleep 1000` container in a shared bundle.
fn sleeper(t: &TestEnv) -> Ctr {
    Ctr::start(t, &t.shared_bundle(&["sleep", "1000"]))
}

/// `exec [FLAGS..] ID CMD..`, written `exec(t, id, &[FLAGS.., "--", CMD..])`:
/// the "--" only marks where the id goes; without it, `args` is the command.
fn exec(t: &TestEnv, id: &str, args: &[&str]) -> Output {
    let (flags, cmd) = match args.iter().position(|a| *a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (&args[..0], args),
    };
    let mut all = vec!["exec"];
    all.extend_from_slice(flags);
    all.push(id);
    all.extend_from_slice(cmd);
    t.cli.cmd(&all)
}

/// Like `exec`, asserting exit 0; returns stdout.
fn exec_ok(t: &TestEnv, id: &str, args: &[&str]) -> String {
    let out = exec(t, id, args);
    assert_eq!(out.code, 0, "exec {args:?} in {id} failed: {out}");
    out.stdout
}

/// The namespace link (`pid:[4026531836]`) of `kind` for host pid `pid`.
fn ns_link(pid: i64, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/ns/{kind}: {e}"))
        .to_string_lossy()
        .into_owned()
}

fn pid_alive(pid: i64) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// A `Cap*` field of a /proc/<pid>/status text, as a bit set.
fn cap_field(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in:\n{status}"));
    let hex = line.split_whitespace().nth(1).unwrap_or_default();
    u64::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

/// Pids listed in a `cgroup.procs` file.
fn cgroup_procs(dir: &Path) -> Vec<i64> {
    let text = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// The directory (depth 1..=3) under `dir` whose cgroup.procs lists `pid`.
fn find_cgroup_of(dir: &Path, pid: i64, depth: u32) -> Option<PathBuf> {
    if depth == 0 {
        return None;
    }
    for e in fs::read_dir(dir).ok()?.flatten() {
        if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        if cgroup_procs(&e.path()).contains(&pid) {
            return Some(e.path());
        }
        if let Some(found) = find_cgroup_of(&e.path(), pid, depth - 1) {
            return Some(found);
        }
    }
    None
}

/// The container's directory in the v1 pids hierarchy.
fn pids_cgroup(init: i64) -> PathBuf {
    let root = Path::new("/sys/fs/cgroup/pids");
    find_cgroup_of(root, init, 3)
        .unwrap_or_else(|| panic!("init {init} is in no cgroup under {}", root.display()))
}

/// `exec -d --pid-file F ID CMD..`: asserts success, returns the pid in F.
fn exec_detached(t: &TestEnv, id: &str, cmd: &[&str]) -> (i64, Duration) {
    let pid_file = t.path().join(format!("exec-{}.pid", t.id()));
    let mut args = vec!["-d", "--pid-file", pid_file.to_str().unwrap(), "--"];
    args.extend_from_slice(cmd);
    let started = Instant::now();
    let out = exec(t, id, &args);
    let took = started.elapsed();
    assert_eq!(out.code, 0, "exec -d failed: {out}");
    let text = fs::read_to_string(&pid_file)
        .unwrap_or_else(|e| panic!("no pid file {}: {e}", pid_file.display()));
    assert!(
        !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()),
        "pid file should hold only digits (no newline): {text:?}"
    );
    (text.parse().unwrap(), took)
}

// ------------------------------------------------------------ namespaces, cgroup

#[test]
fn exec_joins_every_namespace_of_the_container() {
    let t = TestEnv::new("exec_ns");
    let c = sleeper(&t);
    assert_eq!(exec_ok(&t, c.id(), &["hostname"]), "cella-test\n");
    // PID 1 of the exec's pid namespace is the container's init.
    let cmdline = exec_ok(&t, c.id(), &["cat", "/proc/1/cmdline"]);
    assert_eq!(cmdline, "sleep\u{0}1000\u{0}");
    let kinds = ["pid", "mnt", "net", "ipc", "uts", "cgroup"];
    let script = format!(
        "for n in {}; do readlink /proc/self/ns/$n; done",
        kinds.join(" ")
    );
    let out = exec_ok(&t, c.id(), &["sh", "-c", &script]);
    let inside: Vec<&str> = out.lines().collect();
    assert_eq!(inside.len(), kinds.len(), "{out}");
    for (kind, link) in kinds.iter().zip(inside) {
        assert_eq!(link, ns_link(c.pid, kind), "{kind} namespace differs");
    }
}

#[test]
fn exec_sees_the_containers_mounts() {
    let t = TestEnv::new("exec_mnt");
    let script = "echo from-init > /tmp/marker; exec sleep 1000";
    let mut b = t.shared_bundle(&["sh", "-c", script]);
    b.mount("/tmp", "tmpfs", "tmpfs", &["nosuid", "nodev", "mode=1777"]);
    let c = Ctr::start(&t, &b);
    let wait = "while [ ! -e /tmp/marker ]; do sleep 0.05; done; cat /tmp/marker";
    assert_eq!(exec_ok(&t, c.id(), &["sh", "-c", wait]), "from-init\n");
}

#[test]
fn exec_runs_in_the_containers_cgroup() {
    let t = TestEnv::new("exec_cgroup");
    let b = t.shared_bundle(&["sleep", "1000"]);
    let c = Ctr::start(&t, &b);
    let dir = pids_cgroup(c.pid);
    let (pid, _) = exec_detached(&t, c.id(), &["sleep", "1000"]);
    let procs = cgroup_procs(&dir);
    assert!(
        procs.contains(&pid),
        "exec'd pid {pid} is not in {}: {procs:?}",
        dir.display()
    );
    // And in the same cgroup of every hierarchy, v2 included.
    let theirs = fs::read_to_string(format!("/proc/{}/cgroup", c.pid)).unwrap();
    let ours = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(ours, theirs, "exec'd process vs init /proc/<pid>/cgroup");
    // delete --force takes the exec'd process down with the container.
    let d = t.cli.cmd(&["delete", "--force", c.id()]);
    assert_eq!(d.code, 0, "{d}");
    let gone = wait_until(CMD_TIMEOUT, || !pid_alive(pid));
    assert!(gone, "exec'd process {pid} survived delete --force");
    t.assert_no_leftovers(c.id(), &b);
}

// ------------------------------------------------------------ exit status

#[test]
fn exec_exit_status_and_stdio_are_passed_through() {
    let t = TestEnv::new("exec_exit");
    let c = sleeper(&t);
    let out = exec(
        &t,
        c.id(),
        &["sh", "-c", "echo to-out; echo to-err >&2; exit 7"],
    );
    assert_eq!(out.code, 7, "{out}");
    assert_eq!(out.stdout, "to-out\n", "{out}");
    assert!(out.stderr.contains("to-err\n"), "{out}");
    let killed = exec(&t, c.id(), &["sh", "-c", "kill -9 $$"]);
    assert_eq!(killed.code, 128 + 9, "{killed}");
    // The container is unaffected.
    assert_eq!(t.cli.status(c.id()), "running");
}

#[test]
fn detached_exec_returns_at_once_and_writes_the_pid_file() {
    let t = TestEnv::new("exec_detach");
    let c = sleeper(&t);
    let (pid, took) = exec_detached(&t, c.id(), &["sleep", "60"]);
    assert!(took < Duration::from_secs(10), "exec -d took {took:?}");
    assert!(pid_alive(pid), "exec'd pid {pid} is not running");
    assert_eq!(ns_link(pid, "pid"), ns_link(c.pid, "pid"));
    let cmdline = fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, "sleep\u{0}60\u{0}");
}

#[test]
fn exec_with_tty_hands_the_pty_to_the_console_socket() {
    let t = TestEnv::new("exec_tty");
    let c = sleeper(&t);
    let sock = t.path().join("exec-console.sock");
    let server = console_server(&sock);
    let run = t.cli.spawn(&[
        "exec",
        "-t",
        "--console-socket",
        sock.to_str().unwrap(),
        c.id(),
        "sh",
        "-c",
        "tty; echo ok",
    ]);
    let master = server
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("console socket: {e}"));
    // Hold the terminal open until the process has exited: closing the
    // master first would hang up on it (SIGHUP, exit 129).
    let keep = master.try_clone().unwrap();
    let text = read_pty(master, "ok");
    let out = run.wait();
    drop(keep);
    assert_eq!(out.code, 0, "{out}");
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    assert!(
        lines.first().is_some_and(|l| l.starts_with("/dev/pts/")),
        "{text:?}"
    );
    assert!(lines.contains(&"ok"), "{text:?}");
    assert!(!out.stdout.contains("ok"), "output went to stdout: {out}");
}

// ------------------------------------------------------------ process settings

#[test]
fn exec_user_and_additional_gids_flags() {
    let t = TestEnv::new("exec_user");
    let c = sleeper(&t);
    let script = "id -u; id -g; id -G";
    let parse = |out: &str| -> (Vec<String>, BTreeSet<u32>) {
        let lines: Vec<String> = out.lines().map(String::from).collect();
        assert_eq!(lines.len(), 3, "{out}");
        let groups = lines[2]
            .split_whitespace()
            .map(|g| g.parse().unwrap())
            .collect();
        (lines[..2].to_vec(), groups)
    };
    let out = exec_ok(
        &t,
        c.id(),
        &["--user", "1000:1000", "-g", "10", "--", "sh", "-c", script],
    );
    let (ids, groups) = parse(&out);
    assert_eq!(ids, ["1000", "1000"], "{out}");
    assert_eq!(groups, BTreeSet::from([10, 1000]), "{out}");
    // Without -g, no group of the caller (root) leaks in.
    let out = exec_ok(&t, c.id(), &["-u", "1000:1000", "--", "sh", "-c", script]);
    let (ids, groups) = parse(&out);
    assert_eq!(ids, ["1000", "1000"], "{out}");
    assert_eq!(groups, BTreeSet::from([1000]), "{out}");
}

#[test]
fn exec_env_and_cwd_flags_apply_on_top_of_the_config() {
    let t = TestEnv::new("exec_env");
    let mut b = t.shared_bundle(&["sleep", "1000"]);
    b.env(&["PATH=/bin:/usr/bin", "TERM=xterm", "FOO=config"])
        .cwd("/etc");
    let c = Ctr::start(&t, &b);
    let script = "echo \"$FOO|$NEW|$PATH|$TERM\"; env | grep -c '^FOO='; pwd";
    let plain = exec_ok(&t, c.id(), &["sh", "-c", script]);
    assert_eq!(plain, "config||/bin:/usr/bin|xterm\n1\n/etc\n");
    let flags = [
        "--env", "FOO=bar", "-e", "NEW=1", "--cwd", "/tmp", "--", "sh", "-c", script,
    ];
    let out = exec_ok(&t, c.id(), &flags);
    assert_eq!(out, "bar|1|/bin:/usr/bin|xterm\n1\n/tmp\n");
}

#[test]
fn exec_capabilities_default_to_the_config_and_cap_adds_one() {
    let t = TestEnv::new("exec_caps");
    let c = sleeper(&t);
    let init = fs::read_to_string(format!("/proc/{}/status", c.pid)).unwrap();
    assert_eq!(cap_field(&init, "CapEff"), CONFIG_CAPS, "init:\n{init}");
    let status = ["cat", "/proc/self/status"];

    let plain = exec_ok(&t, c.id(), &status);
    for f in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(cap_field(&plain, f), cap_field(&init, f), "{f}:\n{plain}");
    }
    let nnp = plain.lines().find(|l| l.starts_with("NoNewPrivs:"));
    assert_eq!(nnp.map(squash), Some("NoNewPrivs: 1".into()), "{plain}");

    let added = exec_ok(
        &t,
        c.id(),
        &["--cap", "CAP_NET_ADMIN", "--", "cat", "/proc/self/status"],
    );
    assert_eq!(
        cap_field(&added, "CapEff"),
        CONFIG_CAPS | CAP_NET_ADMIN,
        "CapEff with --cap CAP_NET_ADMIN:\n{added}"
    );
    for f in ["CapPrm", "CapBnd"] {
        assert_ne!(cap_field(&added, f) & CAP_NET_ADMIN, 0, "{f}:\n{added}");
    }
}

#[test]
fn exec_process_file_describes_the_process() {
    let t = TestEnv::new("exec_process_file");
    let c = sleeper(&t);
    let script = "id -u; id -g; id -G; pwd; echo \"$FOO|$TERM|$PATH\"; exit 4";
    let process = json!({
        "terminal": false,
        "user": {"uid": 1000, "gid": 1000, "additionalGids": [20]},
        "args": ["sh", "-c", script],
        "env": ["PATH=/bin", "FOO=from-file"],
        "cwd": "/home/user"
    });
    let path = t.path().join("process.json");
    fs::write(&path, process.to_string()).unwrap();
    let out = exec(&t, c.id(), &["--process", path.to_str().unwrap(), "--"]);
    assert_eq!(out.code, 4, "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(lines[..2], ["1000", "1000"], "{out}");
    let groups: BTreeSet<&str> = lines[2].split_whitespace().collect();
    assert_eq!(groups, BTreeSet::from(["20", "1000"]), "{out}");
    // The file's env replaces the config's (TERM=xterm) entirely.
    assert_eq!(lines[3..], ["/home/user", "from-file||/bin"], "{out}");
}

// ------------------------------------------------------------ errors

#[test]
fn exec_into_a_stopped_container_fails() {
    let t = TestEnv::new("exec_stopped");
    let c = sleeper(&t);
    let k = t.cli.kill(c.id(), "KILL");
    assert_eq!(k.code, 0, "{k}");
    t.cli.wait_status(c.id(), "stopped");
    let out = exec(&t, c.id(), &["sh", "-c", "echo ran"]);
    assert_one_error(&out, &["stopped"]);
    assert!(!out.stdout.contains("ran"), "{out}");
}

#[test]
fn exec_into_an_unknown_container_names_it() {
    let t = TestEnv::new("exec_unknown");
    let id = t.id();
    let _g = t.guard(&id);
    let out = exec(&t, &id, &["true"]);
    assert_one_error(&out, &[&id]);
}

#[test]
fn exec_of_a_missing_binary_fails_and_leaves_no_process() {
    let t = TestEnv::new("exec_missing");
    let c = sleeper(&t);
    let dir = pids_cgroup(c.pid);
    let out = exec(&t, c.id(), &["/nonexistent"]);
    assert_one_error(
        &out,
        &["exec: \"/nonexistent\"", "no such file or directory"],
    );
    let mut procs = Vec::new();
    let clean = wait_until(Duration::from_secs(5), || {
        procs = cgroup_procs(&dir);
        procs == [c.pid]
    });
    assert!(
        clean,
        "{} holds {procs:?}, not just init {}",
        dir.display(),
        c.pid
    );
    assert_eq!(t.cli.status(c.id()), "running");
}

#[test]
fn exec_refuses_apparmor_selinux_label_and_v1_sub_cgroup() {
    let t = TestEnv::new("exec_refused");
    let c = sleeper(&t);
    let mut cases = vec![
        (vec!["--apparmor", "x"], "apparmor"),
        (
            vec!["--process-label", "system_u:system_r:x_t:s0"],
            "selinux",
        ),
    ];
    // --cgroup works on pure v2 hosts only; this suite runs on v1 hybrid.
    if Path::new("/sys/fs/cgroup/pids").is_dir() {
        cases.push((vec!["--cgroup", "sub"], "v2"));
    }
    for (flags, word) in cases {
        let mut args = flags.clone();
        args.extend_from_slice(&["--", "sh", "-c", "echo ran"]);
        let out = exec(&t, c.id(), &args);
        assert_ne!(out.code, 0, "{flags:?} was accepted: {out}");
        let lines: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(lines.len(), 1, "{flags:?}: expected one error line: {out}");
        assert!(
            lines[0].to_lowercase().contains(word),
            "{flags:?}: error should mention {word:?}: {out}"
        );
        assert!(
            !out.stdout.contains("ran"),
            "{flags:?} ran the command: {out}"
        );
    }
}

// ------------------------------------------------------------ user namespace

#[test]
fn exec_into_a_user_namespace_container() {
    let t = TestEnv::new("exec_userns");
    let mut b = t.shared_bundle(&["sleep", "1000"]);
    b.user_namespace(100000, 65536);
    let c = Ctr::start(&t, &b);
    let out = exec_ok(
        &t,
        c.id(),
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g",
        ],
    );
    let rows: Vec<String> = out.lines().map(squash).collect();
    assert_eq!(
        rows,
        ["0 100000 65536", "0 100000 65536", "0", "0"],
        "{out}"
    );
    let script = "readlink /proc/self/ns/user";
    let link = exec_ok(&t, c.id(), &["sh", "-c", script]);
    assert_eq!(link.trim(), ns_link(c.pid, "user"));
}

// ------------------------------------------------------------ fds, signals

/// Spawns `cella exec` with `file` open (not close-on-exec) at fd `target`.
fn spawn_exec_with_fd(t: &TestEnv, args: &[&str], file: &File, target: i32) -> Running {
    let src = file.as_raw_fd();
    t.cli.spawn_with(args, move |cmd| {
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let ok = if src == target {
                    let flags = libc::fcntl(target, libc::F_GETFD);
                    flags >= 0 && libc::fcntl(target, libc::F_SETFD, flags & !libc::FD_CLOEXEC) >= 0
                } else {
                    libc::dup2(src, target) >= 0
                };
                if ok {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    })
}

fn fd_numbers(ls: &str) -> BTreeSet<u32> {
    ls.split_whitespace()
        .map(|f| {
            f.parse()
                .unwrap_or_else(|_| panic!("odd fd {f:?} in {ls:?}"))
        })
        .collect()
}

#[test]
fn exec_passes_only_stdio_unless_fds_are_preserved() {
    let t = TestEnv::new("exec_fds");
    let c = sleeper(&t);
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(b"fd3-content").unwrap();

    // An fd the caller did not mark close-on-exec must not get through.
    let args = ["exec", c.id(), "ls", "/proc/self/fd"];
    let out = spawn_exec_with_fd(&t, &args, &file, 7).wait();
    assert_eq!(out.code, 0, "{out}");
    let fds = fd_numbers(&out.stdout);
    let extra: Vec<u32> = fds.iter().copied().filter(|f| *f > 2).collect();
    assert!(fds.is_superset(&BTreeSet::from([0, 1, 2])), "{out}");
    // ls itself opens one descriptor for the directory.
    assert!(
        extra.len() <= 1 && !fds.contains(&7),
        "leaked fds {extra:?}: {out}"
    );

    // The fd (and so its offset) is shared: rewind it for the reader.
    file.seek(SeekFrom::Start(0)).unwrap();
    let args = ["exec", "--preserve-fds", "1", c.id(), "sh", "-c", "cat <&3"];
    let out = spawn_exec_with_fd(&t, &args, &file, 3).wait();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "fd3-content", "{out}");

    let args = ["exec", "--preserve-fds", "1", c.id(), "ls", "/proc/self/fd"];
    let out = spawn_exec_with_fd(&t, &args, &file, 3).wait();
    assert_eq!(out.code, 0, "{out}");
    let fds = fd_numbers(&out.stdout);
    assert!(fds.is_superset(&BTreeSet::from([0, 1, 2, 3])), "{out}");
    assert!(fds.len() <= 5, "leaked fds: {out}");
}

#[test]
fn foreground_exec_forwards_signals() {
    let t = TestEnv::new("exec_signal");
    let out_dir = t.dir("out");
    let mut b = t.shared_bundle(&["sleep", "1000"]);
    b.bind(&out_dir, "/tmp", false);
    let c = Ctr::start(&t, &b);
    let script = "trap 'exit 9' TERM; echo ready > /tmp/ready; \
                  while true; do sleep 0.1; done";
    let run = t.cli.spawn(&["exec", c.id(), "sh", "-c", script]);
    assert_eq!(wait_for_line(&out_dir.join("ready")), "ready\n");
    let rc = unsafe { libc::kill(run.pid() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    let out = run.wait();
    assert_eq!(out.code, 9, "SIGTERM was not forwarded: {out}");
    assert_eq!(t.cli.status(c.id()), "running");
}
