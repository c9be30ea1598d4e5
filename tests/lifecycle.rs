//! Container lifecycle: run, create/start/state/list, kill, delete.

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::path::Path;

/// A container that runs until `/out/go` exists; `out` is bound at `/out`.
fn waiting_bundle(t: &TestEnv) -> (Bundle, std::path::PathBuf) {
    let out = t.dir("out");
    let script = "echo ready > /out/ready; while [ ! -e /out/go ]; do sleep 0.05; done";
    let mut b = t.bundle(&["sh", "-c", script]);
    b.bind(&out, "/out", false);
    (b, out)
}

/// A container whose init traps `sig` and writes its name to /out/sig.
fn trapping_bundle(t: &TestEnv, sig: &str) -> (Bundle, std::path::PathBuf) {
    let out = t.dir("out");
    let script = format!(
        "trap 'echo {sig} > /out/sig; exit 0' {sig}; echo ready > /out/ready; \
         while :; do sleep 0.05; done"
    );
    let mut b = t.bundle(&["sh", "-c", &script]);
    b.bind(&out, "/out", false);
    (b, out)
}

fn pid_alive(pid: i64) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn run_returns_the_container_exit_code() {
    let t = TestEnv::new("run_exit_code");
    let b = t.shared_bundle(&["sh", "-c", "exit 3"]);
    let (g, out) = t.run(&b);
    assert_eq!(out.code, 3, "{out}");
    t.assert_no_leftovers(&g.id, &b);
}

#[test]
fn run_of_a_signalled_init_exits_128_plus_signal() {
    let t = TestEnv::new("run_signal");
    let b = t.shared_bundle(&["sleep", "1000"]);
    let id = t.id();
    let _g = t.guard(&id);
    b.write();
    let run = t.cli.spawn(&["run", "--bundle", b.path_str(), &id]);
    t.cli.wait_status(&id, "running");
    let k = t.cli.kill(&id, "KILL");
    assert_eq!(k.code, 0, "{k}");
    let out = run.wait();
    assert_eq!(out.code, 128 + 9, "{out}");
    t.assert_no_leftovers(&id, &b);
}

#[test]
fn run_detached_returns_while_the_container_runs() {
    let t = TestEnv::new("run_detached");
    let b = t.shared_bundle(&["sleep", "1000"]);
    let g = t.run_detached(&b);
    let st = t.cli.state(&g.id);
    assert_eq!(st["status"], "running", "{st}");
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid_alive(pid), "init pid {pid} is not alive");
    assert_eq!(t.cli.kill(&g.id, "KILL").code, 0);
    t.cli.wait_status(&g.id, "stopped");
    let d = t.cli.delete(&g.id);
    assert_eq!(d.code, 0, "{d}");
    t.assert_no_leftovers(&g.id, &b);
}

#[test]
fn create_start_and_exit_move_through_the_states() {
    let t = TestEnv::new("states");
    let (b, out) = waiting_bundle(&t);
    let g = t.create(&b);
    let st = t.cli.state(&g.id);
    assert_eq!(st["status"], "created", "{st}");
    let pid = st["pid"].as_i64().unwrap_or(0);
    assert!(
        pid > 0 && pid_alive(pid),
        "created container has no live pid: {st}"
    );
    assert!(!out.join("ready").exists(), "user process ran before start");

    let s = t.cli.start(&g.id);
    assert_eq!(s.code, 0, "{s}");
    assert_eq!(wait_for_line(&out.join("ready")), "ready\n");
    assert_eq!(t.cli.status(&g.id), "running");

    fs::write(out.join("go"), "").unwrap();
    t.cli.wait_status(&g.id, "stopped");
    let d = t.cli.delete(&g.id);
    assert_eq!(d.code, 0, "{d}");
    t.assert_no_leftovers(&g.id, &b);
}

#[test]
fn state_json_has_the_required_fields() {
    let t = TestEnv::new("state_fields");
    let b = t.shared_bundle(&["sleep", "1000"]);
    let g = t.create(&b);
    let st = t.cli.state(&g.id);
    assert!(
        st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "{st}"
    );
    assert_eq!(st["id"], g.id.as_str(), "{st}");
    assert_eq!(st["status"], "created", "{st}");
    assert!(st["pid"].as_i64().unwrap_or(0) > 0, "{st}");
    let bundle = st["bundle"].as_str().unwrap_or_default();
    assert_eq!(Path::new(bundle), b.path(), "{st}");
    let created = st["created"].as_str().unwrap_or_default();
    assert!(is_rfc3339(created), "created is not RFC 3339: {st}");
}

#[test]
fn list_shows_the_container_as_table_and_json() {
    let t = TestEnv::new("list");
    let b = t.shared_bundle(&["sleep", "1000"]);
    let g = t.create(&b);
    let pid = t.cli.state(&g.id)["pid"].as_i64().unwrap();

    let table = t.cli.cmd(&["list"]);
    assert_eq!(table.code, 0, "{table}");
    let mut lines = table.stdout.lines();
    let header = squash(lines.next().unwrap_or_default());
    assert!(header.starts_with("ID PID STATUS BUNDLE"), "{table}");
    let row: Vec<&str> = lines
        .find(|l| l.starts_with(&g.id))
        .expect("no row")
        .split_whitespace()
        .collect();
    assert_eq!(
        row[..3],
        [g.id.as_str(), &pid.to_string(), "created"],
        "{table}"
    );
    assert_eq!(row[3], b.path_str(), "{table}");

    let json = t.cli.cmd(&["list", "--format", "json"]);
    assert_eq!(json.code, 0, "{json}");
    let v: Value = serde_json::from_str(&json.stdout).unwrap_or_else(|e| panic!("{e}: {json}"));
    let all = v.as_array().expect("list --format json gives an array");
    assert_eq!(all.len(), 1, "{json}");
    assert_eq!(all[0]["id"], g.id.as_str());
    assert_eq!(all[0]["status"], "created");
    assert_eq!(all[0]["pid"], pid);
    assert_eq!(all[0]["bundle"], b.path_str());

    let quiet = t.cli.cmd(&["list", "-q"]);
    assert_eq!(quiet.stdout, format!("{}\n", g.id), "{quiet}");
}

#[test]
fn pid_file_holds_the_pid_without_newline() {
    let t = TestEnv::new("pid_file");
    let b = t.shared_bundle(&["sleep", "1000"]);
    let id = t.id();
    let _g = t.guard(&id);
    let pid_file = t.path().join("container.pid");
    let out = t
        .cli
        .create(&id, &b, &["--pid-file", pid_file.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");
    let pid = t.cli.state(&id)["pid"].as_i64().unwrap();
    assert_eq!(fs::read_to_string(&pid_file).unwrap(), pid.to_string());
}

#[test]
fn kill_by_name_kill_stops_the_container() {
    let t = TestEnv::new("kill_name");
    let b = t.shared_bundle(&["sleep", "1000"]);
    let g = t.run_detached(&b);
    let k = t.cli.kill(&g.id, "KILL");
    assert_eq!(k.code, 0, "{k}");
    t.cli.wait_status(&g.id, "stopped");
}

#[test]
fn kill_by_sig_prefixed_name_delivers_the_signal() {
    let t = TestEnv::new("kill_sigterm");
    let (b, out) = trapping_bundle(&t, "TERM");
    let g = t.run_detached(&b);
    wait_for_line(&out.join("ready"));
    let k = t.cli.kill(&g.id, "SIGTERM");
    assert_eq!(k.code, 0, "{k}");
    assert_eq!(wait_for_line(&out.join("sig")), "TERM\n");
    t.cli.wait_status(&g.id, "stopped");
}

#[test]
fn kill_by_number_delivers_the_signal() {
    let t = TestEnv::new("kill_number");
    let (b, out) = trapping_bundle(&t, "USR1");
    let g = t.run_detached(&b);
    wait_for_line(&out.join("ready"));
    let k = t.cli.kill(&g.id, "10");
    assert_eq!(k.code, 0, "{k}");
    assert_eq!(wait_for_line(&out.join("sig")), "USR1\n");
    t.cli.wait_status(&g.id, "stopped");
}

#[test]
fn kill_all_reaches_every_process() {
    // Without a PID namespace, killing init alone would leave the child.
    let t = TestEnv::new("kill_all");
    let out = t.dir("out");
    let script = "sleep 1000 & echo $! > /out/child; wait";
    let mut b = t.bundle(&["sh", "-c", script]);
    b.bind(&out, "/out", false).remove_namespace("pid");
    let g = t.run_detached(&b);
    let child: i64 = wait_for_line(&out.join("child")).trim().parse().unwrap();
    assert!(pid_alive(child), "child {child} is not running");
    let k = t.cli.cmd(&["kill", "--all", &g.id, "KILL"]);
    assert_eq!(k.code, 0, "{k}");
    t.cli.wait_status(&g.id, "stopped");
    let gone = wait_until(CMD_TIMEOUT, || !pid_alive(child));
    assert!(gone, "kill --all left child {child} running");
}

#[test]
fn delete_of_a_running_container_needs_force() {
    let t = TestEnv::new("delete_force");
    let b = t.shared_bundle(&["sleep", "1000"]);
    let g = t.run_detached(&b);
    let pid = t.cli.state(&g.id)["pid"].as_i64().unwrap();

    let d = t.cli.delete(&g.id);
    assert_ne!(d.code, 0, "delete of a running container succeeded: {d}");
    assert!(
        d.stderr.contains(&g.id),
        "stderr should name the container: {d}"
    );
    assert_eq!(t.cli.status(&g.id), "running");

    let f = t.cli.cmd(&["delete", "--force", &g.id]);
    assert_eq!(f.code, 0, "{f}");
    assert!(
        wait_until(CMD_TIMEOUT, || !pid_alive(pid)),
        "init {pid} survived delete --force"
    );
    t.assert_no_leftovers(&g.id, &b);
    let s = t.cli.cmd(&["state", &g.id]);
    assert_ne!(s.code, 0, "state after delete succeeded: {s}");
}
