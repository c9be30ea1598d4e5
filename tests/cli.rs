//! The command line: `spec`, the global `--log`, `--log-format` and
//! `--systemd-cgroup` flags, `--no-pivot`, `--preserve-fds`, signal
//! forwarding by a foreground `run`, `kill`'s errors, closed stdio, and
//! the `--root` directory's spare.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;

fn read_json(path: &Path) -> Value {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON ({e}):\n{text}", path.display()))
}

fn has_namespace(config: &Value, kind: &str) -> bool {
    config["linux"]["namespaces"]
        .as_array()
        .is_some_and(|l| l.iter().any(|n| n["type"] == kind))
}

// ------------------------------------------------------------ spec

#[test]
fn spec_writes_a_default_config_and_never_overwrites_it() {
    let t = TestEnv::new("spec");
    let dir = t.dir("spec-bundle");
    let out = t.cli.cmd(&["spec", "--bundle", dir.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");
    let path = dir.join("config.json");
    let config = read_json(&path);
    assert_eq!(config["process"]["terminal"], true, "{config:#}");
    assert!(has_namespace(&config, "mount"), "{config:#}");
    assert!(!has_namespace(&config, "user"), "{config:#}");

    let before = fs::read(&path).unwrap();
    let again = t.cli.cmd(&["spec", "--bundle", dir.to_str().unwrap()]);
    assert_one_error(&again, &["config.json"]);
    assert_eq!(
        fs::read(&path).unwrap(),
        before,
        "config.json was rewritten"
    );
}

#[test]
fn spec_rootless_maps_the_caller_in_a_user_namespace() {
    let t = TestEnv::new("spec_rootless");
    let dir = t.dir("spec-bundle");
    let out = t
        .cli
        .cmd(&["spec", "--rootless", "--bundle", dir.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");
    let config = read_json(&dir.join("config.json"));
    assert!(has_namespace(&config, "user"), "{config:#}");
    assert!(has_namespace(&config, "mount"), "{config:#}");
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    for (key, host) in [("uidMappings", uid), ("gidMappings", gid)] {
        let maps = config["linux"][key].as_array();
        let maps = maps.unwrap_or_else(|| panic!("no linux.{key}: {config:#}"));
        assert!(
            maps.iter().any(|m| m["containerID"] == 0
                && m["hostID"] == host
                && m["size"].as_u64() >= Some(1)),
            "linux.{key} does not map container id 0 to the caller's {host}: {config:#}"
        );
    }
}

#[test]
fn a_bundle_from_spec_runs() {
    let t = TestEnv::new("spec_run");
    let dir = t.dir("spec-bundle");
    let out = t.cli.cmd(&["spec", "--bundle", dir.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");
    let mut config = read_json(&dir.join("config.json"));
    let rootfs = config["root"]["path"].as_str().unwrap().to_string();
    copy_rootfs(&dir.join(&rootfs));
    let hostname = config["hostname"].as_str().unwrap_or_default().to_string();
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = json!(["sh", "-c", "echo $$; hostname; echo ok"]);
    let b = Bundle { dir, config };
    let id = t.id();
    let g = t.guard(&id);
    let out = t.cli.run(&id, &b);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, format!("1\n{hostname}\nok\n"), "{out}");
    t.assert_no_leftovers(&g.id, &b);
}

// ------------------------------------------------------------ logging

/// A bundle whose rootfs is missing, so `create` fails; returns the name
/// of the missing rootfs.
fn failing_bundle(t: &TestEnv) -> (Bundle, String) {
    let mut b = t.shared_bundle(&["true"]);
    let missing = format!("no-such-rootfs-{}", t.id());
    b.set("/root/path", json!(missing));
    b.write();
    (b, missing)
}

#[test]
fn log_json_records_a_failing_create() {
    let t = TestEnv::new("log_json");
    let (b, missing) = failing_bundle(&t);
    let log = t.path().join("cella.log");
    let id = t.id();
    let _g = t.guard(&id);
    let log_s = log.to_str().unwrap();
    let args = [
        "--log",
        log_s,
        "--log-format",
        "json",
        "create",
        "--bundle",
        b.path_str(),
        &id,
    ];
    let out = t.cli.cmd(&args);
    assert_one_error(&out, &[&missing]);
    let text = fs::read_to_string(&log).unwrap_or_default();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"))
        })
        .collect();
    let errors: Vec<&Value> = lines.iter().filter(|v| v["level"] == "error").collect();
    assert_eq!(
        errors.len(),
        1,
        "expected one error line in the log:\n{text}"
    );
    let e = errors[0];
    let msg = e["msg"].as_str().unwrap_or_default();
    assert!(msg.contains(&missing), "msg does not name {missing}: {e}");
    let time = e["time"].as_str().unwrap_or_default();
    assert!(is_rfc3339(time), "time is not RFC 3339: {e}");
    t.assert_no_leftovers(&id, &b);
}

#[test]
fn log_text_records_a_failing_create() {
    let t = TestEnv::new("log_text");
    let (b, missing) = failing_bundle(&t);
    let log = t.path().join("cella.log");
    let id = t.id();
    let _g = t.guard(&id);
    let log_s = log.to_str().unwrap();
    let args = [
        "--log",
        log_s,
        "--log-format",
        "text",
        "create",
        "--bundle",
        b.path_str(),
        &id,
    ];
    let out = t.cli.cmd(&args);
    assert_one_error(&out, &[&missing]);
    let text = fs::read_to_string(&log).unwrap_or_default();
    let line = text.lines().find(|l| l.contains(" level=error "));
    let line = line.unwrap_or_else(|| panic!("no level=error line in the log:\n{text}"));
    // time="<RFC 3339>" level=error msg="<message>"
    let rest = line
        .strip_prefix("time=\"")
        .unwrap_or_else(|| panic!("{line}"));
    let (time, rest) = rest.split_once('"').unwrap_or_else(|| panic!("{line}"));
    assert!(is_rfc3339(time), "time is not RFC 3339: {line}");
    let msg = rest
        .strip_prefix(" level=error msg=\"")
        .unwrap_or_else(|| panic!("{line}"));
    assert!(msg.ends_with('"'), "msg is not quoted: {line}");
    assert!(
        msg.contains(&missing),
        "msg does not name {missing}: {line}"
    );
    t.assert_no_leftovers(&id, &b);
}

// ------------------------------------------------------------ flags

#[test]
fn systemd_cgroup_is_refused_and_leaves_nothing() {
    let t = TestEnv::new("systemd_cg");
    let out_dir = t.dir("out");
    let mut b = t.bundle(&["touch", "/out/ran"]);
    b.bind(&out_dir, "/out", false);
    b.write();
    let id = t.id();
    let _g = t.guard(&id);
    let out = t
        .cli
        .cmd(&["--systemd-cgroup", "run", "--bundle", b.path_str(), &id]);
    assert_one_error(&out, &["systemd"]);
    assert!(!out_dir.join("ran").exists(), "the container ran anyway");
    t.assert_no_leftovers(&id, &b);
    let s = t.cli.cmd(&["state", &id]);
    assert_ne!(s.code, 0, "state of a refused container: {s}");
}

#[test]
fn no_pivot_runs_the_container_in_its_rootfs() {
    let t = TestEnv::new("no_pivot");
    let marker = format!("marker-{}", t.id());
    let b = t.bundle(&["sh", "-c", "echo $$; cat /marker; stat -c %i /"]);
    fs::write(b.rootfs().join("marker"), format!("{marker}\n")).unwrap();
    let ino = fs::metadata(b.rootfs()).unwrap().ino();
    let id = t.id();
    let g = t.guard(&id);
    let out = t.cli.run_with(&id, &b, &["--no-pivot"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, format!("1\n{marker}\n{ino}\n"), "{out}");
    t.assert_no_leftovers(&g.id, &b);
}

/// Starts `cella run` of `b` with `extra` flags, holding `file` open
/// (without close-on-exec) as fd 3, and waits for it.
fn run_with_fd3(t: &TestEnv, b: &Bundle, id: &str, extra: &[&str], file: &File) -> Output {
    b.write();
    let mut args = vec!["run", "--bundle", b.path_str()];
    args.extend_from_slice(extra);
    args.push(id);
    let src = file.as_raw_fd();
    let run = t.cli.spawn_with(&args, |cmd| {
        let hook = move || {
            // dup2 clears FD_CLOEXEC on the copy; when the file already is
            // fd 3, clear it by hand.
            let rc = if src == 3 {
                unsafe { libc::fcntl(3, libc::F_SETFD, 0) }
            } else {
                unsafe { libc::dup2(src, 3) }
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        };
        unsafe { cmd.pre_exec(hook) };
    });
    run.wait()
}

/// The numeric entries of an `ls /proc/self/fd` listing, sorted.
fn fd_list(lines: &[&str]) -> Vec<u32> {
    let mut fds: Vec<u32> = lines.iter().filter_map(|l| l.trim().parse().ok()).collect();
    fds.sort_unstable();
    fds
}

#[test]
fn preserve_fds_passes_fd_3_to_the_container() {
    let t = TestEnv::new("preserve_fds");
    let content = format!("through-fd-3 {}", t.id());
    let path = t.path().join("fd3.txt");
    fs::write(&path, format!("{content}\n")).unwrap();
    let file = File::open(&path).unwrap();
    // ls's own directory fd is the lowest free one: 4 when only 0-3 are open.
    let b = t.shared_bundle(&["sh", "-c", "cat <&3; ls /proc/self/fd"]);
    let id = t.id();
    let g = t.guard(&id);
    let out = run_with_fd3(&t, &b, &id, &["--preserve-fds", "1"], &file);
    assert_eq!(out.code, 0, "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&content.as_str()), "{out}");
    assert_eq!(fd_list(&lines[1..]), [0, 1, 2, 3, 4], "{out}");
    t.assert_no_leftovers(&g.id, &b);
}

#[test]
fn without_preserve_fds_fd_3_is_closed() {
    let t = TestEnv::new("no_preserve_fds");
    let path = t.path().join("fd3.txt");
    fs::write(&path, "must not be seen\n").unwrap();
    let file = File::open(&path).unwrap();
    // Only 0, 1, 2 and the directory ls itself opens (3).
    let b = t.shared_bundle(&["ls", "/proc/self/fd"]);
    let id = t.id();
    let g = t.guard(&id);
    let out = run_with_fd3(&t, &b, &id, &[], &file);
    assert_eq!(out.code, 0, "{out}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(fd_list(&lines), [0, 1, 2, 3], "{out}");
    t.assert_no_leftovers(&g.id, &b);
}

// ------------------------------------------------------------ signals

#[test]
fn foreground_run_forwards_sigterm_to_the_container() {
    forwards_to_the_container("run_fwd_term", "TERM", libc::SIGTERM);
}

/// Signal 34 is one the musl C library keeps for itself and leaves out of
/// a "full" signal set: the runtime must block and forward it all the
/// same, not die of it.
#[test]
fn foreground_run_forwards_signal_34_to_the_container() {
    forwards_to_the_container("run_fwd_34", "34", 34);
}

fn forwards_to_the_container(name: &str, trap: &str, sig: libc::c_int) {
    let t = TestEnv::new(name);
    let out_dir = t.dir("out");
    // The ready file is written once the trap is installed: before that,
    // init of a PID namespace ignores the signal.
    let script = format!("trap 'exit 42' {trap}; touch /out/ready; while true; do sleep 0.1; done");
    let mut b = t.bundle(&["sh", "-c", &script]);
    b.bind(&out_dir, "/out", false);
    b.write();
    let id = t.id();
    let _g = t.guard(&id);
    let run = t.cli.spawn(&["run", "--bundle", b.path_str(), &id]);
    t.cli.wait_status(&id, "running");
    assert!(
        wait_until(CMD_TIMEOUT, || out_dir.join("ready").exists()),
        "the container never installed its trap"
    );
    let rc = unsafe { libc::kill(run.pid() as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    let out = run.wait();
    assert_eq!(out.code, 42, "signal {sig}: {out}");
    t.assert_no_leftovers(&id, &b);
}

// ------------------------------------------------------------ kill

/// Real-time signals by name, as podman sends RTMIN+3 to stop a systemd
/// container: RTMIN is 34, as in glibc, runc and Docker.
#[test]
fn kill_sends_a_real_time_signal_by_name() {
    let t = TestEnv::new("kill_rt");
    let out_dir = t.dir("out");
    let script = "trap 'touch /out/got-37; exit 0' 37; touch /out/ready; \
                  while true; do sleep 0.1; done";
    let mut b = t.bundle(&["sh", "-c", script]);
    b.bind(&out_dir, "/out", false);
    b.write();
    let g = t.create(&b);
    let s = t.cli.start(&g.id);
    assert_eq!(s.code, 0, "{s}");
    assert!(
        wait_until(CMD_TIMEOUT, || out_dir.join("ready").exists()),
        "the container never installed its trap"
    );
    let out = t.cli.kill(&g.id, "RTMIN+3");
    assert_eq!(out.code, 0, "{out}");
    t.cli.wait_status(&g.id, "stopped");
    assert!(out_dir.join("got-37").exists(), "signal 37 never arrived");
    let d = t.cli.delete(&g.id);
    assert_eq!(d.code, 0, "{d}");
    t.assert_no_leftovers(&g.id, &b);
}

#[test]
fn kill_with_an_invalid_signal_names_it() {
    let t = TestEnv::new("kill_bad_sig");
    let b = t.shared_bundle(&["sleep", "1000"]);
    let g = t.create(&b);
    for sig in ["SIGNOSUCH", "999"] {
        let out = t.cli.kill(&g.id, sig);
        assert_one_error(&out, &[sig]);
    }
    assert_eq!(t.cli.status(&g.id), "created");
}

#[test]
fn kill_of_a_stopped_container_fails() {
    let t = TestEnv::new("kill_stopped");
    let b = t.shared_bundle(&["true"]);
    let g = t.create(&b);
    let s = t.cli.start(&g.id);
    assert_eq!(s.code, 0, "{s}");
    t.cli.wait_status(&g.id, "stopped");
    let out = t.cli.kill(&g.id, "KILL");
    // containerd's shim looks for this exact text.
    assert_one_error(&out, &["container not running", &g.id]);
    let d = t.cli.delete(&g.id);
    assert_eq!(d.code, 0, "{d}");
    t.assert_no_leftovers(&g.id, &b);
}

// ------------------------------------------------------------ stdio

/// Started with stdin, stdout and stderr closed, cella gives them
/// /dev/null, as Rust's runtime would: otherwise the first files it opens
/// (its sync socket, a cgroup file) become fds 0-2, which the container's
/// process inherits.
#[test]
fn closed_stdio_becomes_dev_null() {
    let t = TestEnv::new("closed_stdio");
    let out = t.dir("out");
    // The main shell's fds ($$), read from a subshell whose own stdout is
    // the pipe of the command substitution.
    let script = "r=$(for i in 0 1 2; do readlink /proc/$$/fd/$i || echo closed; done); \
                  echo \"$r\" > /out/fds";
    let mut b = t.bundle(&["sh", "-c", script]);
    b.bind(&out, "/out", false);
    b.write();
    let id = t.id();
    let _g = t.guard(&id);
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"exec "$@" <&- >&- 2>&-"#)
        .arg("sh")
        .arg(cella_bin())
        .arg("--root")
        .arg(&t.cli.root)
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .status()
        .unwrap();
    assert!(status.success(), "run with closed stdio: {status}");
    assert_eq!(
        fs::read_to_string(out.join("fds")).unwrap(),
        "/dev/null\n/dev/null\n/dev/null\n"
    );
}

#[test]
fn a_removed_containers_directory_is_kept_as_the_spare_and_reused() {
    let t = TestEnv::new("spare");
    let spare = t.cli.root.join(".spare");
    // A long argument makes this record longer than the next one.
    let long = "x".repeat(400);
    let b = t.shared_bundle(&["true", &long]);
    let (g, out) = t.run(&b);
    assert_eq!(out.code, 0, "{out}");
    t.assert_no_leftovers(&g.id, &b);
    let first = fs::metadata(&spare).expect("no spare directory after a run");
    assert!(first.is_dir());
    // It keeps the record's inode, under the staging name only.
    let names = |d: &std::path::Path| -> Vec<String> {
        fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(&spare), [".state.json.tmp"], "spare holds more");
    let kept = fs::metadata(spare.join(".state.json.tmp")).unwrap();

    // The next container takes it, under its own name, and writes its
    // record into the kept inode, cut to its own length.
    let sleeper = t.shared_bundle(&["sleep", "1000"]);
    let held = t.create(&sleeper);
    assert!(!spare.exists(), "the spare was not taken");
    let held_dir = t.cli.root.join(&held.id);
    let dir = fs::metadata(&held_dir).unwrap();
    assert_eq!(dir.ino(), first.ino(), "a new directory was made");
    let record = held_dir.join("state.json");
    assert_eq!(
        fs::metadata(&record).unwrap().ino(),
        kept.ino(),
        "a new record inode was made"
    );
    let text = fs::read_to_string(&record).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&text).expect("record is not whole JSON");
    assert_eq!(parsed["id"], held.id.as_str(), "{text}");
    assert!(
        kept.len() > text.len() as u64,
        "the kept record was not longer"
    );

    // Another run leaves a new spare; a taken name still fails and leaves
    // it alone.
    let (g, out) = t.run(&b);
    assert_eq!(out.code, 0, "{out}");
    t.assert_no_leftovers(&g.id, &b);
    let second = fs::metadata(&spare).expect("no spare after the second run");
    let taken = t.cli.create(&held.id, &sleeper, &[]);
    assert_one_error(&taken, &[&held.id]);
    assert_eq!(fs::metadata(&spare).unwrap().ino(), second.ino());

    // With a spare in place, a removed directory is really removed, and
    // the spare is never listed.
    let del = t.cli.cmd(&["delete", "--force", &held.id]);
    assert_eq!(del.code, 0, "{del}");
    assert_eq!(names(&t.cli.root), [".spare"]);
    let quiet = t.cli.cmd(&["list", "-q"]);
    assert_eq!(quiet.stdout, "", "{quiet}");

    // A directory holding more than its record (a created container's
    // exec fifo is still in it) never becomes the spare.
    fs::remove_dir_all(&spare).unwrap();
    let created = t.create(&sleeper);
    let del = t.cli.cmd(&["delete", "--force", &created.id]);
    assert_eq!(del.code, 0, "{del}");
    let left = fs::read_dir(&t.cli.root).unwrap().count();
    assert_eq!(left, 0, "a non-empty directory was kept");
}
