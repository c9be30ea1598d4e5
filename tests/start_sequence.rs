//! What the engine does while it starts a container: clean failure part
//! way through, time namespace offsets, devices, domainname, oom score,
//! /dev/console, rootfs propagation, the old root's detach, the read-only
//! paths under /proc, absolute cgroup paths, hook timeouts.

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn write_script(path: &Path, body: &str) {
    fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Live processes whose command line mentions `needle` (a container id:
/// the runtime's init carries the runtime's own command line).
fn processes_naming(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == me || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(raw) = fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmd.contains(needle) {
            found.push(format!("{name}: {cmd}"));
        }
    }
    found
}

/// Asserts a failed `create` left no state, cgroup, mount or process.
fn assert_failed_cleanly(t: &TestEnv, id: &str, b: &Bundle) {
    t.assert_no_leftovers(id, b);
    let procs = processes_naming(id);
    assert!(procs.is_empty(), "processes of {id} left: {procs:#?}");
    let s = t.cli.cmd(&["state", id]);
    assert_ne!(s.code, 0, "state of a container that failed to start: {s}");
}

// ------------------------------------------------------------ failures

#[test]
fn missing_bind_source_fails_create_and_leaves_nothing() {
    let t = TestEnv::new("bind_missing");
    let source = t.path().join(format!("no-such-source-{}", t.id()));
    let mut b = t.bundle(&["true"]);
    b.bind(&source, "/data", false);
    let id = t.id();
    let _g = t.guard(&id);
    let out = t.cli.create(&id, &b, &[]);
    assert_one_error(&out, &[source.to_str().unwrap()]);
    assert_failed_cleanly(&t, &id, &b);
}

#[test]
fn failing_create_container_hook_fails_create_and_leaves_nothing() {
    let t = TestEnv::new("hook_cc_fail");
    let hook = t.path().join("fail-hook.sh");
    write_script(&hook, "exit 1");
    let h = hook.to_str().unwrap();
    let mut b = t.bundle(&["sleep", "1000"]);
    b.hook("createContainer", h, &[h], &[]);
    let id = t.id();
    let _g = t.guard(&id);
    let out = t.cli.create(&id, &b, &[]);
    assert_one_error(&out, &["createContainer", h]);
    assert_failed_cleanly(&t, &id, &b);
}

#[test]
fn hook_timeout_fails_create_quickly_and_leaves_nothing() {
    let t = TestEnv::new("hook_timeout");
    let id = t.id();
    // argv[0] carries the id so a surviving hook is found in /proc.
    let argv0 = format!("hook-sleep-{id}");
    let h = "/bin/sleep";
    let mut b = t.bundle(&["sleep", "1000"]);
    b.hook("createRuntime", h, &[&argv0, "5"], &[]);
    b.config["hooks"]["createRuntime"][0]["timeout"] = json!(1);
    let _g = t.guard(&id);
    let started = Instant::now();
    let out = t.cli.create(&id, &b, &[]);
    let took = started.elapsed();
    assert_ne!(
        out.code, 0,
        "create succeeded despite the hook timeout: {out}"
    );
    assert!(
        took < Duration::from_secs(4),
        "create took {took:?} with a 1 s hook timeout: {out}"
    );
    assert_one_error(&out, &[h]);
    let err = out.stderr.to_lowercase();
    assert!(
        err.contains("timeout") || err.contains("timed out"),
        "the error does not mention the timeout: {out}"
    );
    assert_failed_cleanly(&t, &id, &b);
}

/// A timed-out hook is killed with everything it started (its process
/// group), not just the hook process itself.
#[test]
fn hook_timeout_kills_what_the_hook_started() {
    let t = TestEnv::new("hook_timeout_group");
    let id = t.id();
    let pid_file = t.dir("hook").join("child.pid");
    let script = format!("sleep 30 & echo $! > {}; sleep 5", pid_file.display());
    let mut b = t.bundle(&["sleep", "1000"]);
    b.hook("createRuntime", "/bin/sh", &["sh", "-c", &script], &[]);
    b.config["hooks"]["createRuntime"][0]["timeout"] = json!(1);
    let _g = t.guard(&id);
    let out = t.cli.create(&id, &b, &[]);
    assert_ne!(
        out.code, 0,
        "create succeeded despite the hook timeout: {out}"
    );
    let child: i32 = fs::read_to_string(&pid_file)
        .expect("the hook wrote its child's pid")
        .trim()
        .parse()
        .unwrap();
    let gone = wait_until(Duration::from_secs(5), || {
        fs::read_to_string(format!("/proc/{child}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
    });
    if !gone {
        let _ = std::process::Command::new("kill")
            .args(["-9", &child.to_string()])
            .status();
    }
    assert!(
        gone,
        "the hook's background child {child} survived the timeout"
    );
    assert_failed_cleanly(&t, &id, &b);
}

// ------------------------------------------------------------ namespaces

#[test]
fn time_namespace_applies_the_offsets() {
    let t = TestEnv::new("timens");
    let script = "readlink /proc/self/ns/time; cat /proc/self/timens_offsets; cat /proc/uptime";
    let mut b = t.shared_bundle(&["sh", "-c", script]);
    b.namespace("time", None);
    // /proc/uptime follows the boottime clock; monotonic is checked in
    // timens_offsets. Different values catch swapped clocks.
    b.set(
        "/linux/timeOffsets",
        json!({"monotonic": {"secs": 86400, "nanosecs": 0},
               "boottime": {"secs": 172800, "nanosecs": 0}}),
    );
    let host_ns = fs::read_link("/proc/self/ns/time");
    let Ok(host_ns) = host_ns else {
        // No time namespaces in this kernel: a clear refusal.
        let id = t.id();
        let _g = t.guard(&id);
        let out = t.cli.create(&id, &b, &[]);
        assert_one_error(&out, &["time"]);
        t.assert_no_leftovers(&id, &b);
        return;
    };
    let uptime = |s: &str| -> f64 {
        let first = s.split_whitespace().next().unwrap_or_default();
        first.parse().unwrap_or_else(|_| panic!("bad uptime {s:?}"))
    };
    let host_before = uptime(&fs::read_to_string("/proc/uptime").unwrap());
    let out = t.run_ok(&b);
    let host_after = uptime(&fs::read_to_string("/proc/uptime").unwrap());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("time:["), "{out}");
    assert_ne!(
        lines[0],
        host_ns.to_string_lossy(),
        "the container is in the host's time namespace:\n{out}"
    );
    assert_eq!(squash(lines[1]), "monotonic 86400 0", "{out}");
    assert_eq!(squash(lines[2]), "boottime 172800 0", "{out}");
    let inside = uptime(lines[3]);
    assert!(
        inside >= host_before + 172800.0 && inside <= host_after + 172800.0 + 1.0,
        "uptime inside {inside}, host {host_before}..{host_after}:\n{out}"
    );
}

#[test]
fn domainname_is_set() {
    let t = TestEnv::new("domainname");
    let host_before = fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
    let name = format!("dom-{}.test", std::process::id());
    let mut b = t.shared_bundle(&["cat", "/proc/sys/kernel/domainname"]);
    b.set("/domainname", json!(name));
    assert_eq!(t.run_ok(&b), format!("{name}\n"));
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/domainname").unwrap(),
        host_before,
        "the host's domainname changed"
    );
}

// ------------------------------------------------------------ process

#[test]
fn oom_score_adj_is_applied() {
    let t = TestEnv::new("oom_adj");
    let mut b = t.shared_bundle(&["cat", "/proc/self/oom_score_adj"]);
    b.set("/process/oomScoreAdj", json!(500));
    assert_eq!(t.run_ok(&b), "500\n");
}

#[test]
fn configured_char_device_is_created_and_usable() {
    let t = TestEnv::new("devices");
    let script = "stat -c '%F|%t|%T|%a' /dev/mynull; echo x > /dev/mynull && echo wrote; \
                  head -c 1 /dev/mynull | wc -c";
    let mut b = t.shared_bundle(&["sh", "-c", script]);
    b.set(
        "/linux/devices",
        json!([{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
                "fileMode": 0o666, "uid": 0, "gid": 0}]),
    );
    let out = t.run_ok(&b);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(
        lines,
        ["character special file|1|3|666", "wrote", "0"],
        "{out}"
    );
}

#[test]
fn terminal_is_bound_on_dev_console() {
    let t = TestEnv::new("dev_console");
    let script = "tty; stat -c '%F|%t|%T' /dev/console; echo END";
    let mut b = t.shared_bundle(&["sh", "-c", script]);
    b.terminal(true);
    let id = t.id();
    let _g = t.guard(&id);
    let (_, text) = run_with_console(&t, &b, &id, "END");
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    assert!(lines.len() >= 3, "{text:?}");
    let pts = lines[0].strip_prefix("/dev/pts/");
    let pts: u32 = pts
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("tty is not a pts: {text:?}"));
    let fields: Vec<&str> = lines[1].split('|').collect();
    assert_eq!(fields.len(), 3, "{text:?}");
    assert_eq!(fields[0], "character special file", "{text:?}");
    let hex = |s: &str| u32::from_str_radix(s, 16).unwrap_or(u32::MAX);
    assert_eq!(hex(fields[1]), 136, "/dev/console is not a pts: {text:?}");
    assert_eq!(hex(fields[2]), pts, "/dev/console is not the tty: {text:?}");
    t.cli.wait_status(&id, "stopped");
}

// ------------------------------------------------------------ rootfs

/// A bind mount of `dir` on itself made shared, so a container's view of
/// it has a visible propagation; undone on drop.
struct SharedMount(PathBuf);

impl SharedMount {
    fn new(dir: PathBuf) -> SharedMount {
        let run = |args: &[&str]| {
            let st = std::process::Command::new("mount").args(args).status();
            assert!(st.is_ok_and(|s| s.success()), "mount {args:?} failed");
        };
        let p = dir.to_str().unwrap().to_string();
        run(&["--bind", &p, &p]);
        let guard = SharedMount(dir);
        run(&["--make-shared", &p]);
        guard
    }
}

impl Drop for SharedMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-l", self.0.to_str().unwrap()])
            .status();
    }
}

/// The container's root line of `/proc/self/mountinfo` output.
fn root_mount(mountinfo: &str) -> String {
    let line = mountinfo
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/"));
    line.unwrap_or_else(|| panic!("no root mount in:\n{mountinfo}"))
        .to_string()
}

#[test]
fn rootfs_propagation_private_is_applied() {
    let t = TestEnv::new("rootfs_prop");
    let shared = SharedMount::new(t.dir("shared"));
    let dir = shared.0.join("bundle");
    fs::create_dir(&dir).unwrap();
    copy_rootfs(&dir.join("rootfs"));
    let mut b = Bundle::new(dir, json!("rootfs"), &["cat", "/proc/self/mountinfo"]);

    // The default (rslave) keeps the rootfs a slave of the host's mount,
    // which shows the test can see the difference.
    let default_root = root_mount(&t.run_ok(&b));
    assert!(default_root.contains(" master:"), "{default_root}");

    b.set("/linux/rootfsPropagation", json!("private"));
    let private_root = root_mount(&t.run_ok(&b));
    assert!(
        !private_root.contains(" master:") && !private_root.contains(" shared:"),
        "rootfsPropagation private left {private_root}"
    );

    // rshared leaves the bundle's parent mount shared, where pivot_root
    // fails: the runtime must make that one mount private first.
    b.set("/linux/rootfsPropagation", json!("rshared"));
    root_mount(&t.run_ok(&b));
}

/// Lines of the container's mountinfo mounted on its "/": its root, and
/// the host's old root too if that were still stacked on it.
fn mounted_on_root(mountinfo: &str) -> Vec<&str> {
    mountinfo
        .lines()
        .filter(|l| l.split_whitespace().nth(4) == Some("/"))
        .collect()
}

#[test]
fn the_old_root_is_gone_before_the_program_runs() {
    let t = TestEnv::new("old_root");
    let mut b = t.bundle(&["cat", "/proc/self/mountinfo"]);
    // The plain start: the runtime detaches init's old root while init
    // finishes its set-up.
    let plain = t.run_ok(&b);
    assert_eq!(mounted_on_root(&plain).len(), 1, "{plain}");
    // With a runtime hook, init detaches it itself.
    b.hook("prestart", "/bin/true", &["true"], &[]);
    let hooked = t.run_ok(&b);
    assert_eq!(mounted_on_root(&hooked).len(), 1, "{hooked}");
    // Both leave the same mounts.
    assert_eq!(
        plain.lines().count(),
        hooked.lines().count(),
        "{plain}\n{hooked}"
    );
}

/// The mounts on and under /proc in `mountinfo`, each as its point,
/// options, type and super options (ids and devices left out).
fn proc_mounts(mountinfo: &str) -> Vec<String> {
    let mut out: Vec<String> = mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let dash = f.iter().position(|x| *x == "-")?;
            let point = *f.get(4)?;
            (point == "/proc" || point.starts_with("/proc/")).then(|| {
                format!(
                    "{} {} {} {}",
                    point,
                    f[5],
                    f[dash + 1],
                    f.get(dash + 3).unwrap_or(&"")
                )
            })
        })
        .collect();
    out.sort();
    out
}

#[test]
fn readonly_paths_under_proc_are_the_same_made_by_the_runtime_or_init() {
    let t = TestEnv::new("proc_ro");
    let mut b = t.shared_bundle(&["cat", "/proc/self/mountinfo"]);
    let run = |b: &Bundle| {
        let (_, out, log) = t.run_logged(b, |_| {});
        let by_runtime = log.contains("the runtime made the read-only paths under /proc");
        (proc_mounts(&out.stdout), by_runtime)
    };
    // The plain start: the runtime makes them, from init's mount namespace.
    let (plain, by_runtime) = run(&b);
    assert!(by_runtime, "the runtime did not make them");
    for p in ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"] {
        let ro = format!("{p} ro,");
        assert!(
            plain.iter().any(|l| l.starts_with(&ro)),
            "{p} not read-only: {plain:#?}"
        );
    }
    // With a runtime hook, init makes them itself: the same mounts.
    b.hook("prestart", "/bin/true", &["true"], &[]);
    let (hooked, by_runtime) = run(&b);
    assert!(!by_runtime, "the runtime made them with a hook");
    assert_eq!(plain, hooked);
}

/// An ext4 image on a loop device, mounted on a directory; unmounted and
/// detached on drop.
struct LoopMount {
    image: PathBuf,
    device: String,
    dir: PathBuf,
}

impl LoopMount {
    fn new(image: PathBuf, dir: PathBuf) -> LoopMount {
        let out = |cmd: &str, args: &[&str]| {
            let o = std::process::Command::new(cmd).args(args).output();
            let o = o.unwrap_or_else(|e| panic!("{cmd}: {e}"));
            assert!(o.status.success(), "{cmd} {args:?}: {o:?}");
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        let img = image.to_str().unwrap();
        fs::File::create(&image).unwrap().set_len(32 << 20).unwrap();
        out("mkfs.ext4", &["-q", "-F", img]);
        let device = out("losetup", &["--find", "--show", img]);
        let guard = LoopMount { image, device, dir };
        out("mount", &[&guard.device, guard.dir.to_str().unwrap()]);
        guard
    }

    /// Open the device exclusively, as mkfs or fsck would: refused (EBUSY)
    /// while a mounted filesystem, in any mount namespace, holds it.
    fn open_exclusive(&self) -> std::io::Result<fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_EXCL)
            .open(&self.device)
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        // The test unmounts it itself when it gets that far.
        let _ = std::process::Command::new("umount")
            .arg(&self.dir)
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::process::Command::new("losetup")
            .args(["-d", &self.device])
            .status();
        let _ = fs::remove_file(&self.image);
    }
}

#[test]
fn the_rootfs_filesystem_is_free_when_run_returns() {
    let t = TestEnv::new("rootfs_free");
    let mut b = t.bundle(&["true"]);
    let rootfs = b.rootfs();
    let disk = LoopMount::new(t.path().join("disk.img"), rootfs.clone());
    copy_rootfs(&rootfs);
    assert!(
        disk.open_exclusive().is_err(),
        "the device opened exclusively while mounted: the check shows nothing"
    );
    // The container's mounts, its rootfs among them, are gone by the time
    // `run` returns: unmounted on the host, the filesystem is free at once.
    b.args(&["sh", "-c", "test -x /bin/busybox && echo ran"]);
    assert_eq!(t.run_ok(&b).trim(), "ran");
    let st = std::process::Command::new("umount").arg(&rootfs).status();
    assert!(st.is_ok_and(|s| s.success()), "umount {rootfs:?}");
    if let Err(e) = disk.open_exclusive() {
        panic!(
            "{}: {e}: a mount of the container's outlived `run`",
            disk.device
        );
    }
}

#[test]
fn bogus_rootfs_propagation_is_refused() {
    let t = TestEnv::new("rootfs_prop_bad");
    let mut b = t.bundle(&["true"]);
    b.set("/linux/rootfsPropagation", json!("bogus"));
    let id = t.id();
    let _g = t.guard(&id);
    let out = t.cli.create(&id, &b, &[]);
    assert_one_error(&out, &["rootfsPropagation", "bogus"]);
    assert_failed_cleanly(&t, &id, &b);
}

// ------------------------------------------------------------ cgroups

/// Removes `/<parent>/<leaf>` and `/<parent>` from every hierarchy on drop.
struct CgroupCleanup {
    parent: String,
    leaf: String,
}

impl Drop for CgroupCleanup {
    fn drop(&mut self) {
        for h in hierarchies() {
            let _ = fs::remove_dir(h.join(&self.parent).join(&self.leaf));
            let _ = fs::remove_dir(h.join(&self.parent));
        }
    }
}

fn hierarchies() -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir("/sys/fs/cgroup") else {
        return Vec::new();
    };
    entries.flatten().map(|e| e.path()).collect()
}

#[test]
fn absolute_cgroups_path_is_used_and_removed() {
    let t = TestEnv::new("cgpath_abs");
    let parent = format!("cella-test-{}", t.id());
    let id = t.id();
    let _cleanup = CgroupCleanup {
        parent: parent.clone(),
        leaf: id.clone(),
    };
    let mut b = t.shared_bundle(&["sleep", "1000"]);
    b.set("/linux/cgroupsPath", json!(format!("/{parent}/{id}")));
    let g = t.guard(&id);
    let out = t.cli.run_with(&id, &b, &["-d"]);
    assert_eq!(out.code, 0, "{out}");
    let pid = t.cli.state(&id)["pid"].as_i64().unwrap();
    let procs_file = Path::new("/sys/fs/cgroup/memory")
        .join(&parent)
        .join(&id)
        .join("cgroup.procs");
    let procs = fs::read_to_string(&procs_file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", procs_file.display()));
    assert!(
        procs.lines().any(|l| l.trim() == pid.to_string()),
        "pid {pid} not in {}: {procs:?}",
        procs_file.display()
    );

    assert_eq!(t.cli.kill(&id, "KILL").code, 0);
    t.cli.wait_status(&id, "stopped");
    let d = t.cli.delete(&id);
    assert_eq!(d.code, 0, "{d}");
    let left: Vec<PathBuf> = hierarchies()
        .into_iter()
        .map(|h| h.join(&parent))
        .filter(|p| p.exists())
        .collect();
    assert!(left.is_empty(), "cgroup directories left: {left:#?}");
    t.assert_no_leftovers(&g.id, &b);
}
