//! OCI hooks: order, state on stdin, and what a failing hook does.

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn write_script(path: &Path, body: &str) {
    fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Log lines `NAME <state JSON>` written by the hooks.
fn log_entries(log: &Path) -> Vec<(String, Value)> {
    let text = fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .map(|l| {
            let (name, json) = l.split_once(' ').unwrap_or((l, ""));
            let state = serde_json::from_str(json)
                .unwrap_or_else(|e| panic!("{name}: bad state ({e}): {l}"));
            (name.to_string(), state)
        })
        .collect()
}

fn names(entries: &[(String, Value)]) -> Vec<&str> {
    entries.iter().map(|(n, _)| n.as_str()).collect()
}

/// A bundle whose six hook kinds each append `kind <stdin>` to a log that
/// lives outside the rootfs (bound at /logs for startContainer, whose path
/// resolves inside the container).
fn hooked_bundle(t: &TestEnv, args: &[&str]) -> (Bundle, PathBuf) {
    let logs = t.dir("logs");
    let log = logs.join("hooks.log");
    let host_hook = t.path().join("hook.sh");
    write_script(
        &host_hook,
        &format!("echo \"$NAME $(cat)\" >> {}", log.display()),
    );
    let mut b = t.bundle(args);
    write_script(
        &b.rootfs().join("hook.sh"),
        "echo \"$NAME $(cat)\" >> /logs/hooks.log",
    );
    b.bind(&logs, "/logs", false);
    let h = host_hook.to_str().unwrap();
    for kind in [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
    ] {
        b.hook(
            kind,
            h,
            &[h],
            &[&format!("NAME={kind}"), "PATH=/usr/bin:/bin"],
        );
    }
    b.hook(
        "startContainer",
        "/hook.sh",
        &["/hook.sh"],
        &["NAME=startContainer", "PATH=/bin"],
    );
    (b, log)
}

#[test]
fn all_hooks_run_in_order_with_the_state_on_stdin() {
    // runc 1.1 fails this test: it runs poststart hooks during `create`
    // (right after createContainer), not after the user process started
    // during `start` as the OCI runtime spec says (fixed in later runc).
    let t = TestEnv::new("hooks_order");
    let (b, log) = hooked_bundle(&t, &["sleep", "1000"]);
    let g = t.create(&b);
    let created = log_entries(&log);
    assert_eq!(
        names(&created),
        ["prestart", "createRuntime", "createContainer"]
    );

    let s = t.cli.start(&g.id);
    assert_eq!(s.code, 0, "{s}");
    let started = log_entries(&log);
    assert_eq!(names(&started)[3..], ["startContainer", "poststart"]);
    let pid = t.cli.state(&g.id)["pid"].as_i64().unwrap();

    assert_eq!(t.cli.kill(&g.id, "KILL").code, 0);
    t.cli.wait_status(&g.id, "stopped");
    let d = t.cli.delete(&g.id);
    assert_eq!(d.code, 0, "{d}");
    let all = log_entries(&log);
    let expected = [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ];
    assert_eq!(names(&all), expected);
    for (name, state) in &all {
        assert_eq!(state["id"], g.id.as_str(), "{name}: {state}");
        assert!(state["ociVersion"].is_string(), "{name}: {state}");
        assert_eq!(state["bundle"], b.path_str(), "{name}: {state}");
    }
    // Hooks run on the host see the container's host pid. (runc gives the
    // in-container pid, 1, to createContainer and startContainer.)
    for i in [0, 1, 4] {
        assert_eq!(
            all[i].1["pid"], pid,
            "{} saw another pid: {}",
            all[i].0, all[i].1
        );
    }
    for (name, state) in &all[..3] {
        assert_eq!(state["status"], "creating", "{name}: {state}");
    }
    assert_eq!(all[4].1["status"], "running", "poststart: {}", all[4].1);
    assert_eq!(all[5].1["status"], "stopped", "poststop: {}", all[5].1);
    t.assert_no_leftovers(&g.id, &b);
}

#[test]
fn run_runs_the_hooks_too() {
    // runc 1.1 fails this test: its poststart hooks run before
    // startContainer (see all_hooks_run_in_order_with_the_state_on_stdin).
    let t = TestEnv::new("hooks_run");
    let (b, log) = hooked_bundle(&t, &["true"]);
    let (g, out) = t.run(&b);
    assert_eq!(out.code, 0, "{out}");
    let all = log_entries(&log);
    let expected = [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ];
    assert_eq!(names(&all), expected);
    t.assert_no_leftovers(&g.id, &b);
}

#[test]
fn failing_create_runtime_hook_fails_create_and_leaves_nothing() {
    let t = TestEnv::new("hook_fail_create");
    let mut b = t.bundle(&["sleep", "1000"]);
    let hook = t.path().join("fail.sh");
    write_script(&hook, "exit 7");
    let h = hook.to_str().unwrap();
    b.hook("createRuntime", h, &[h], &[]);
    let id = t.id();
    let _g = t.guard(&id);
    let out = t.cli.create(&id, &b, &[]);
    assert_ne!(out.code, 0, "create succeeded: {out}");
    assert!(!out.stderr.trim().is_empty(), "no error message: {out}");
    t.assert_no_leftovers(&id, &b);
    let s = t.cli.cmd(&["state", &id]);
    assert_ne!(s.code, 0, "state of a failed container: {s}");
}

#[test]
fn failing_poststart_hook_only_warns() {
    // runc 1.1 fails this test: it runs poststart hooks during `create`
    // and fails `create` (killing the container) when one fails, where the
    // OCI runtime spec 1.0 says the runtime must log a warning and carry on.
    let t = TestEnv::new("hook_fail_poststart");
    let mut b = t.shared_bundle(&["sleep", "1000"]);
    let hook = t.path().join("fail.sh");
    write_script(&hook, "exit 7");
    let h = hook.to_str().unwrap();
    b.hook("poststart", h, &[h], &[]);
    let g = t.create(&b);
    let s = t.cli.start(&g.id);
    assert_eq!(s.code, 0, "start failed because of poststart: {s}");
    assert!(
        !s.stderr.trim().is_empty(),
        "no warning about the poststart hook: {s}"
    );
    assert_eq!(t.cli.status(&g.id), "running");
}

#[test]
fn failing_poststop_hook_still_deletes() {
    let t = TestEnv::new("hook_fail_poststop");
    let mut b = t.shared_bundle(&["true"]);
    let hook = t.path().join("fail.sh");
    write_script(&hook, "exit 7");
    let h = hook.to_str().unwrap();
    b.hook("poststop", h, &[h], &[]);
    let g = t.create(&b);
    assert_eq!(t.cli.start(&g.id).code, 0);
    t.cli.wait_status(&g.id, "stopped");
    let d = t.cli.delete(&g.id);
    assert_eq!(d.code, 0, "a failing poststop hook failed delete: {d}");
    assert!(
        !d.stderr.trim().is_empty(),
        "no warning about the poststop hook: {d}"
    );
    t.assert_no_leftovers(&g.id, &b);
}

/// A hook that closes its stdin without reading the state is not an error,
/// even when the runtime is still writing to it: the write fails (EPIPE)
/// and the runtime goes on, it is not killed by SIGPIPE. The state is made
/// larger than a pipe's buffer, so the runtime is always mid-write when the
/// hook closes its end. A poststop hook, run by `delete`: a command that,
/// unlike `create`, has no signals blocked.
#[test]
fn hook_that_closes_its_stdin_does_not_kill_the_runtime() {
    let t = TestEnv::new("hook_epipe");
    let hook = t.path().join("closes-stdin.sh");
    write_script(&hook, "exec 0<&-\nsleep 0.2");
    let mut b = t.bundle(&["sleep", "1000"]);
    b.set(
        "/annotations",
        serde_json::json!({"big": "x".repeat(256 * 1024)}),
    );
    b.hook("poststop", hook.to_str().unwrap(), &["closes-stdin"], &[]);
    let g = t.create(&b);
    let d = t.cli.cmd(&["delete", "--force", &g.id]);
    assert_eq!(d.code, 0, "delete: {d}");
    t.assert_no_leftovers(&g.id, &b);
}
