//! The container process: environment, cwd, user, umask, rlimits,
//! capabilities, no_new_privs, and a terminal passed over --console-socket.

mod common;

use common::*;

#[test]
fn env_and_cwd_are_applied() {
    let t = TestEnv::new("env_cwd");
    let script = "echo \"$FOO\"; pwd; echo \"$HOME\"; echo \"$PATH\"";
    let mut b = t.shared_bundle(&["sh", "-c", script]);
    b.env(&["PATH=/bin", "FOO=bar baz=qux"]).cwd("/etc");
    // HOME is not in env, so it comes from /etc/passwd, as runc does.
    assert_eq!(t.run_ok(&b), "bar baz=qux\n/etc\n/root\n/bin\n");
}

#[test]
fn uid_gid_additional_gids_and_umask_are_applied() {
    let t = TestEnv::new("user");
    let script = "id -u; id -g; id -G; umask; touch /tmp/f; stat -c %a /tmp/f";
    let mut b = t.shared_bundle(&["sh", "-c", script]);
    b.user(1000, 1000, &[10, 20], Some(0o027));
    b.mount("/tmp", "tmpfs", "tmpfs", &["nosuid", "nodev", "mode=1777"]);
    let out = t.run_ok(&b);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(lines[..2], ["1000", "1000"], "{out}");
    let mut groups: Vec<u32> = lines[2]
        .split_whitespace()
        .map(|g| g.parse().unwrap())
        .collect();
    groups.sort_unstable();
    assert_eq!(groups, [10, 20, 1000], "{out}");
    assert_eq!(lines[3], "0027", "{out}");
    assert_eq!(lines[4], "640", "{out}");
}

#[test]
fn a_non_root_user_cannot_write_roots_files() {
    let t = TestEnv::new("user_perms");
    let script = "echo x >> /etc/passwd 2>/dev/null; echo rc=$?";
    let mut b = t.bundle(&["sh", "-c", script]);
    b.user(1000, 1000, &[], None).readonly_root(false);
    assert_eq!(t.run_ok(&b), "rc=1\n");
}

#[test]
fn rlimit_nofile_is_applied() {
    let t = TestEnv::new("rlimit");
    let mut b = t.shared_bundle(&["sh", "-c", "ulimit -n; ulimit -H -n"]);
    b.rlimit("RLIMIT_NOFILE", 1500, 2000);
    assert_eq!(t.run_ok(&b), "1500\n2000\n");
}

#[test]
fn capabilities_and_no_new_privs_are_applied() {
    let t = TestEnv::new("caps");
    let b = t.shared_bundle(&["grep", "-E", "^(Cap|NoNewPrivs)", "/proc/self/status"]);
    let out = t.run_ok(&b);
    // CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29).
    let caps = "0000000020000420";
    for (field, want) in [
        ("CapInh", "0000000000000000"),
        ("CapPrm", caps),
        ("CapEff", caps),
        ("CapBnd", caps),
        ("CapAmb", "0000000000000000"),
        ("NoNewPrivs", "1"),
    ] {
        let line = out.lines().find(|l| l.starts_with(&format!("{field}:")));
        let value = line.and_then(|l| l.split_whitespace().nth(1));
        assert_eq!(value, Some(want), "{field}:\n{out}");
    }
}

#[test]
fn no_new_privileges_false_leaves_the_flag_clear() {
    let t = TestEnv::new("nnp_false");
    let mut b = t.shared_bundle(&["grep", "NoNewPrivs", "/proc/self/status"]);
    b.set("/process/noNewPrivileges", serde_json::json!(false));
    assert_eq!(squash(&t.run_ok(&b)), "NoNewPrivs: 0");
}

#[test]
fn stdio_is_passed_through() {
    let t = TestEnv::new("stdio");
    let b = t.shared_bundle(&["sh", "-c", "echo to-out; echo to-err >&2; exit 5"]);
    let (_g, out) = t.run(&b);
    assert_eq!(out.code, 5, "{out}");
    assert_eq!(out.stdout, "to-out\n", "{out}");
    assert!(out.stderr.contains("to-err\n"), "{out}");
}

// ------------------------------------------------------------ console

#[test]
fn terminal_is_sent_over_the_console_socket() {
    let t = TestEnv::new("console");
    let script = "tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-ttys; echo END";
    let mut b = t.shared_bundle(&["sh", "-c", script]);
    b.terminal(true);
    let id = t.id();
    let _g = t.guard(&id);
    let (out, text) = run_with_console(&t, &b, &id, "END");
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    assert!(
        lines.first().is_some_and(|l| l.starts_with("/dev/pts/")),
        "{text:?}"
    );
    assert!(lines.contains(&"all-ttys"), "{text:?}");
    assert!(lines.contains(&"END"), "{text:?}");
    // The runtime never writes to its own stdout for a console container.
    assert!(!out.stdout.contains("END"));
    t.cli.wait_status(&id, "stopped");
}

/// `run` in the foreground with a terminal and no console socket: cella
/// itself proxies its stdin/stdout to the container's pty (here, inside the
/// pty that `script` gives it, as a user's terminal would) and exits with
/// the container's status.
#[test]
fn foreground_run_proxies_its_own_terminal() {
    let t = TestEnv::new("fg_tty");
    let script = "tty; [ -t 0 ] && echo stdin-is-tty; read line; echo got:$line; exit 4";
    let mut b = t.shared_bundle(&["sh", "-c", script]);
    b.terminal(true);
    b.write();
    let id = t.id();
    let _g = t.guard(&id);
    let cmd = format!(
        "{} --root {} run --bundle {} {}",
        cella_bin().display(),
        t.cli.root.display(),
        b.path_str(),
        id
    );
    let mut child = std::process::Command::new("timeout")
        .args(["20", "script", "-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/dev/pts/"), "{text:?}");
    assert!(text.contains("stdin-is-tty"), "{text:?}");
    assert!(
        text.contains("got:hello"),
        "input did not reach the container: {text:?}"
    );
    assert_eq!(
        out.status.code(),
        Some(4),
        "{text:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.assert_no_leftovers(&id, &b);
}

/// Capability names in kernel order (bit n is the n-th name).
const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

fn cap_bnd(status: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with("CapBnd:"))
        .unwrap_or_else(|| panic!("no CapBnd in {status}"));
    u64::from_str_radix(line["CapBnd:".len()..].trim(), 16).unwrap()
}

/// A runtime without CAP_SETPCAP cannot drop anything from the bounding
/// set. A config whose bounding set keeps everything the runtime still has
/// needs no drop, and must start (the capabilities to drop are already
/// gone: that is not an error).
#[test]
fn a_runtime_without_setpcap_starts_a_container_that_needs_no_drop() {
    let t = TestEnv::new("no_setpcap");
    let last: usize = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let keep: Vec<&str> = CAP_NAMES[..=last.min(40)]
        .iter()
        .copied()
        .filter(|c| *c != "CAP_SETPCAP")
        .collect();
    let mut b = t.shared_bundle(&["cat", "/proc/self/status"]);
    b.set(
        "/process/capabilities",
        serde_json::json!({"bounding": keep, "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}),
    );
    b.write();
    let id = t.id();
    let _g = t.guard(&id);
    let out = std::process::Command::new("setpriv")
        .args(["--bounding-set=-setpcap", "--"])
        .arg(cella_bin())
        .arg("--root")
        .arg(&t.cli.root)
        .args(["run", "--bundle", b.path_str(), &id])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("setpriv (util-linux) is needed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}{stdout}");
    let host = cap_bnd(&std::fs::read_to_string("/proc/self/status").unwrap());
    assert_eq!(cap_bnd(&stdout), host & !(1 << 8), "{stdout}");
}
