//! Cgroup limits and operations, asserted in the files of whichever layout
//! the host has. One suite, two layouts: on a v1/hybrid host each test
//! checks the v1 files; in the pure cgroup v2 qemu guest that
//! tests/cgroup_v2_vm.rs boots, the same test checks the v2 files (cpu.max,
//! cpu.weight, memory.max, memory.swap.max, io.max, cgroup.freeze, the eBPF
//! device filter, cgroup.kill, memory.events).

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

const MIB: i64 = 1 << 20;
const WAIT_FOR_GO: &str = "while [ ! -e /out/go ]; do sleep 0.05; done";

fn init_pid(t: &TestEnv, id: &str) -> i32 {
    let st = t.cli.state(id);
    st["pid"].as_i64().unwrap_or_else(|| panic!("no pid: {st}")) as i32
}

/// A container that runs `script` with a host directory bound at /out.
fn out_bundle(t: &TestEnv, script: &str) -> (Bundle, PathBuf) {
    let out = t.dir("out");
    let mut b = t.bundle(&["sh", "-c", script]);
    b.bind(&out, "/out", false);
    (b, out)
}

/// `create`s `b` with `resources` merged into linux.resources; returns the
/// guard and the container's cgroup directory for `controller`.
fn create_with(
    t: &TestEnv,
    b: &mut Bundle,
    resources: Value,
    controller: &str,
) -> (ContainerGuard, PathBuf) {
    for (k, v) in resources.as_object().unwrap() {
        b.set(&format!("/linux/resources/{k}"), v.clone());
    }
    let g = t.create(b);
    let dir = cgroup_dir_of(init_pid(t, &g.id), controller);
    (g, dir)
}

fn pid_alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

/// The container's cgroup directory on every hierarchy that `pid` is in
/// (v2: the one directory; v1: one per hierarchy, named by its first
/// controller or `name=`).
fn container_dirs(pid: i32) -> Vec<PathBuf> {
    if unified_layout() {
        return vec![cgroup_dir_of(pid, "memory")];
    }
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines()
        .filter_map(|l| l.split(':').nth(1))
        .filter(|ctrls| !ctrls.is_empty())
        .map(|ctrls| cgroup_dir_of(pid, ctrls.split(',').next().unwrap()))
        .collect()
}

/// The first whole disk in /sys/block (not loop, ram, zram, optical or
/// floppy), as (major, minor). The guest has exactly one: /dev/vda (254:0).
fn block_device() -> (u32, u32) {
    let mut names: Vec<String> = fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !["loop", "ram", "zram", "sr", "fd", "nbd"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .collect();
    names.sort();
    for n in names {
        let size = fs::read_to_string(format!("/sys/block/{n}/size")).unwrap_or_default();
        if size.trim().parse::<u64>().unwrap_or(0) == 0 {
            continue;
        }
        let dev = fs::read_to_string(format!("/sys/block/{n}/dev")).unwrap();
        let (ma, mi) = dev.trim().split_once(':').unwrap();
        return (ma.parse().unwrap(), mi.parse().unwrap());
    }
    panic!("no block device in /sys/block to throttle (the qemu guest has /dev/vda)")
}

#[test]
fn cpu_quota_period_and_cpuset_reach_their_files() {
    let t = TestEnv::new("v2_cpu_max");
    let mut b = t.shared_bundle(&["true"]);
    let cpu = json!({"cpu": {"quota": 50000, "period": 100000, "cpus": "0", "mems": "0"}});
    let (g, dir) = create_with(&t, &mut b, cpu, "cpu");
    if unified_layout() {
        assert_eq!(read_cgroup_file(&dir, "cpu.max"), "50000 100000");
    } else {
        assert_eq!(read_cgroup_file(&dir, "cpu.cfs_quota_us"), "50000");
        assert_eq!(read_cgroup_file(&dir, "cpu.cfs_period_us"), "100000");
    }
    let cpuset = cgroup_dir_of(init_pid(&t, &g.id), "cpuset");
    assert_eq!(read_cgroup_file(&cpuset, "cpuset.cpus"), "0");
    assert_eq!(read_cgroup_file(&cpuset, "cpuset.mems"), "0");
}

#[test]
fn cpu_shares_convert_to_cpu_weight() {
    let t = TestEnv::new("v2_cpu_weight");
    let mut b = t.shared_bundle(&["true"]);
    let (_g, dir) = create_with(&t, &mut b, json!({"cpu": {"shares": 1024}}), "cpu");
    // runc's formula: 1 + ((shares - 2) * 9999) / 262142.
    let (file, want) = (v1_or_v2("cpu.shares", "cpu.weight"), v1_or_v2("1024", "39"));
    assert_eq!(read_cgroup_file(&dir, file), want, "{file}");
}

#[test]
fn memory_limit_swap_and_reservation_convert() {
    let t = TestEnv::new("v2_memory_max");
    let mut b = t.shared_bundle(&["true"]);
    let mem = json!({"memory": {"limit": 64 * MIB, "swap": 96 * MIB, "reservation": 32 * MIB}});
    let (_g, dir) = create_with(&t, &mut b, mem, "memory");
    let want = if unified_layout() {
        // swap in the config is memory+swap; swap.max is swap alone.
        [
            ("memory.max", 64 * MIB),
            ("memory.swap.max", 32 * MIB),
            ("memory.low", 32 * MIB),
        ]
    } else {
        [
            ("memory.limit_in_bytes", 64 * MIB),
            ("memory.memsw.limit_in_bytes", 96 * MIB),
            ("memory.soft_limit_in_bytes", 32 * MIB),
        ]
    };
    for (file, v) in want {
        assert_eq!(read_cgroup_file(&dir, file), v.to_string(), "{file}");
    }
}

#[test]
fn memory_limit_oom_kill_is_counted_and_reported_by_events() {
    let t = TestEnv::new("v2_oom");
    let script = format!(
        "echo ready > /out/ready; {WAIT_FOR_GO}; dd if=/dev/zero of=/dev/null bs=64M count=1; \
         echo $? > /out/dd; while [ ! -e /out/end ]; do sleep 0.05; done"
    );
    let (mut b, out) = out_bundle(&t, &script);
    let mem = json!({"memory": {"limit": 32 * MIB, "swap": 32 * MIB}});
    for (k, v) in mem.as_object().unwrap() {
        b.set(&format!("/linux/resources/{k}"), v.clone());
    }
    let g = t.run_detached(&b);
    wait_for_line(&out.join("ready"));
    let dir = cgroup_dir_of(init_pid(&t, &g.id), "memory");
    let limit_file = v1_or_v2("memory.limit_in_bytes", "memory.max");
    assert_eq!(read_cgroup_file(&dir, limit_file), (32 * MIB).to_string());

    let ev_path = t.path().join("events.jsonl");
    let ev_file = fs::File::create(&ev_path).unwrap();
    let events = t
        .cli
        .spawn_with(&["events", "--interval", "1s", &g.id], |c| {
            c.stdout(ev_file);
        });
    let read_events = || fs::read_to_string(&ev_path).unwrap_or_default();
    assert!(
        wait_until(CMD_TIMEOUT, || read_events().contains("\"stats\"")),
        "events printed no stats event: {}",
        read_events()
    );
    fs::write(out.join("go"), "").unwrap();
    let dd = wait_for_line(&out.join("dd"));
    assert_eq!(dd.trim(), "137", "dd was not SIGKILLed by the OOM killer");
    let counter = v1_or_v2("memory.oom_control", "memory.events");
    let kills = keyed_value(&dir, counter, "oom_kill").unwrap_or(0);
    assert!(
        kills >= 1,
        "{counter} counts no oom_kill: {}",
        read_cgroup_file(&dir, counter)
    );
    let seen = wait_until(Duration::from_secs(5), || read_events().contains("\"oom\""));
    assert!(seen, "events reported no oom event: {}", read_events());

    fs::write(out.join("end"), "").unwrap();
    let ev = events.wait();
    assert_eq!(ev.code, 0, "events did not end with the container: {ev}");
    t.cli.wait_status(&g.id, "stopped");
}

#[test]
fn pids_limit_caps_a_fork_loop() {
    let t = TestEnv::new("v2_pids");
    // A failed fork ends busybox sh: the loop runs in a subshell.
    let script = "( for i in $(seq 1 40); do sleep 1000 & done ) 2> /out/err; \
                  echo done > /out/rc; exec sleep 1000";
    let (mut b, out) = out_bundle(&t, script);
    let (g, dir) = create_with(&t, &mut b, json!({"pids": {"limit": 20}}), "pids");
    assert_eq!(read_cgroup_file(&dir, "pids.max"), "20");
    let s = t.cli.start(&g.id);
    assert_eq!(s.code, 0, "{s}");
    wait_for_line(&out.join("rc"));
    let err = fs::read_to_string(out.join("err")).unwrap_or_default();
    assert!(
        err.contains("can't fork"),
        "no fork failure on stderr: {err:?}"
    );
    let current: u64 = read_cgroup_file(&dir, "pids.current").parse().unwrap();
    assert!(
        (2..=20).contains(&current),
        "pids.current {current} with a limit of 20"
    );
    let refused = keyed_value(&dir, "pids.events", "max").unwrap_or(0);
    assert!(refused >= 1, "pids.events counts no refused fork");
}

#[test]
fn blkio_read_bps_throttle_reaches_the_io_files() {
    let (major, minor) = block_device();
    let t = TestEnv::new("v2_io_max");
    let mut b = t.shared_bundle(&["true"]);
    let rule = json!({"major": major, "minor": minor, "rate": MIB});
    let ctrl = v1_or_v2("blkio", "io");
    let res = json!({"blockIO": {"throttleReadBpsDevice": [rule]}});
    let (_g, dir) = create_with(&t, &mut b, res, ctrl);
    let (file, want) = if unified_layout() {
        (
            "io.max",
            format!("{major}:{minor} rbps={MIB} wbps=max riops=max wiops=max"),
        )
    } else {
        (
            "blkio.throttle.read_bps_device",
            format!("{major}:{minor} {MIB}"),
        )
    };
    let text = read_cgroup_file(&dir, file);
    assert!(
        text.lines().any(|l| l == want),
        "{file} lacks {want:?}: {text:?}"
    );
}

/// Runs a container that makes /dev/k (1:11, /dev/kmsg) and opens it for
/// writing (no byte written); returns its output.
fn open_kmsg(t: &TestEnv, allow: bool) -> String {
    let script = "exec 2>&1; mknod /dev/k c 1 11 || exit 10; (: > /dev/k) && echo OPENED; echo end";
    let mut b = t.shared_bundle(&["sh", "-c", script]);
    let caps = json!([
        "CAP_AUDIT_WRITE",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_MKNOD"
    ]);
    b.set(
        "/process/capabilities",
        json!({"bounding": caps, "effective": caps, "permitted": caps}),
    );
    let mut rules = vec![json!({"allow": false, "access": "rwm"})];
    if allow {
        rules.push(json!({"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rw"}));
    }
    b.set("/linux/resources/devices", json!(rules));
    t.run_ok(&b)
}

#[test]
fn device_filter_denies_a_device_that_is_not_allowed() {
    let t = TestEnv::new("v2_devices");
    let denied = open_kmsg(&t, false);
    assert_eq!(
        denied, "sh: can't create /dev/k: Operation not permitted\nend\n",
        "opening an unlisted device must fail with EPERM"
    );
    let allowed = open_kmsg(&t, true);
    assert_eq!(allowed, "OPENED\nend\n", "an allowed device must open");
}

#[test]
fn pause_and_resume_toggle_the_freezer() {
    let t = TestEnv::new("v2_freeze");
    let b = t.shared_bundle(&["sleep", "1000"]);
    let g = t.run_detached(&b);
    let dir = cgroup_dir_of(init_pid(&t, &g.id), "freezer");
    let frozen = |want: bool| {
        if unified_layout() {
            let (f, ev) = (
                read_cgroup_file(&dir, "cgroup.freeze"),
                keyed_value(&dir, "cgroup.events", "frozen"),
            );
            assert_eq!(
                (f.as_str(), ev),
                (if want { "1" } else { "0" }, Some(u64::from(want)))
            );
        } else {
            let want = if want { "FROZEN" } else { "THAWED" };
            assert_eq!(read_cgroup_file(&dir, "freezer.state"), want);
        }
    };
    frozen(false);
    let p = t.cli.cmd(&["pause", &g.id]);
    assert_eq!(p.code, 0, "{p}");
    assert_eq!(t.cli.status(&g.id), "paused");
    frozen(true);
    let r = t.cli.cmd(&["resume", &g.id]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(t.cli.status(&g.id), "running");
    frozen(false);
}

#[test]
fn delete_force_of_a_paused_container_kills_every_process() {
    let t = TestEnv::new("v2_kill");
    let (mut b, out) = out_bundle(&t, "sleep 1000 & echo $! > /out/child; wait");
    // Without a pid namespace only the cgroup (cgroup.kill on v2) reaches
    // the child.
    b.remove_namespace("pid");
    let g = t.run_detached(&b);
    let child: i32 = wait_for_line(&out.join("child")).trim().parse().unwrap();
    let init = init_pid(&t, &g.id);
    let dirs = container_dirs(init);
    let p = t.cli.cmd(&["pause", &g.id]);
    assert_eq!(p.code, 0, "{p}");
    let d = t.cli.cmd(&["delete", "--force", &g.id]);
    assert_eq!(d.code, 0, "{d}");
    for pid in [init, child] {
        assert!(
            wait_until(CMD_TIMEOUT, || !pid_alive(pid)),
            "pid {pid} survived delete --force"
        );
    }
    let left: Vec<&PathBuf> = dirs.iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "cgroup directories left: {left:?}");
    t.assert_no_leftovers(&g.id, &b);
}

#[test]
fn delete_removes_the_cgroup_directories() {
    let t = TestEnv::new("v2_rmdir");
    let b = t.shared_bundle(&["true"]);
    let g = t.create(&b);
    let dirs = container_dirs(init_pid(&t, &g.id));
    assert!(dirs.iter().all(|d| d.is_dir()), "{dirs:?}");
    assert!(dirs.iter().all(|d| d.ends_with(&g.id)), "{dirs:?}");
    let s = t.cli.start(&g.id);
    assert_eq!(s.code, 0, "{s}");
    t.cli.wait_status(&g.id, "stopped");
    let d = t.cli.delete(&g.id);
    assert_eq!(d.code, 0, "{d}");
    let left: Vec<&PathBuf> = dirs.iter().filter(|d| d.exists()).collect();
    assert!(
        left.is_empty(),
        "cgroup directories left after delete: {left:?}"
    );
}

#[test]
fn exec_enters_the_container_cgroup() {
    let t = TestEnv::new("v2_exec");
    let b = t.shared_bundle(&["sleep", "1000"]);
    let g = t.run_detached(&b);
    let init = init_pid(&t, &g.id);
    let pid_file = t.path().join("exec.pid");
    let e = t.cli.cmd(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &g.id,
        "sleep",
        "1001",
    ]);
    assert_eq!(e.code, 0, "{e}");
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let cg = |p: i32| fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap();
    assert_eq!(
        cg(pid),
        cg(init),
        "exec'd pid {pid} is not in init's cgroups"
    );
    for dir in container_dirs(init) {
        let procs = read_cgroup_file(&dir, "cgroup.procs");
        assert!(
            procs.lines().any(|l| l == pid.to_string()),
            "{pid} not in {}: {procs}",
            dir.display()
        );
    }
}

#[test]
fn update_and_stats_use_the_layout_files() {
    let t = TestEnv::new("v2_update");
    let b = t.shared_bundle(&["sleep", "1000"]);
    let g = t.run_detached(&b);
    let init = init_pid(&t, &g.id);
    let u = t.cli.cmd(&[
        "update",
        "--memory",
        "128m",
        "--pids-limit",
        "100",
        "--cpu-share",
        "512",
        &g.id,
    ]);
    assert_eq!(u.code, 0, "{u}");
    let mem = cgroup_dir_of(init, "memory");
    let limit = v1_or_v2("memory.limit_in_bytes", "memory.max");
    assert_eq!(read_cgroup_file(&mem, limit), (128 * MIB).to_string());
    assert_eq!(
        read_cgroup_file(&cgroup_dir_of(init, "pids"), "pids.max"),
        "100"
    );
    let (file, want) = (v1_or_v2("cpu.shares", "cpu.weight"), v1_or_v2("512", "20"));
    assert_eq!(
        read_cgroup_file(&cgroup_dir_of(init, "cpu"), file),
        want,
        "{file}"
    );

    let s = t.cli.cmd(&["events", "--stats", &g.id]);
    assert_eq!(s.code, 0, "{s}");
    let v: Value = serde_json::from_str(s.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {s}"));
    assert_eq!(v["type"], "stats", "{v}");
    assert!(
        v["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 1,
        "{v}"
    );
    assert_eq!(v["data"]["pids"]["limit"], 100, "{v}");
    assert!(
        v["data"]["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "{v}"
    );
    assert_eq!(v["data"]["memory"]["usage"]["limit"], 128 * MIB, "{v}");
}
