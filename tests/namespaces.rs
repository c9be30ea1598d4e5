//! Namespaces: new ones by default, user namespace mappings, joining an
//! existing namespace by path, hostname and sysctls.

mod common;

use common::*;
use std::fs;
use std::process::{Child, Command, Stdio};

/// The namespace link (`net:[4026531840]`) of `kind` for process `pid`.
fn ns_link(pid: &str, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn init_is_pid_1() {
    let t = TestEnv::new("pid1");
    let b = t.shared_bundle(&["sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'"]);
    // Only sh and ls (and possibly grep) are in the new PID namespace.
    let out = t.run_ok(&b);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1"), "{out}");
    let procs: u32 = lines.next().unwrap_or_default().parse().unwrap_or(0);
    assert!((1..=3).contains(&procs), "{out}");
}

#[test]
fn each_requested_namespace_is_new() {
    let t = TestEnv::new("new_ns");
    let kinds = ["pid", "net", "ipc", "uts", "mnt", "cgroup"];
    let script = format!(
        "for n in {}; do readlink /proc/self/ns/$n; done",
        kinds.join(" ")
    );
    let b = t.shared_bundle(&["sh", "-c", &script]);
    let out = t.run_ok(&b);
    let inside: Vec<&str> = out.lines().collect();
    assert_eq!(inside.len(), kinds.len(), "{out}");
    for (kind, link) in kinds.iter().zip(inside) {
        assert!(link.starts_with(&format!("{kind}:[")), "{out}");
        assert_ne!(
            link,
            ns_link("self", kind),
            "{kind} namespace is the host's"
        );
    }
}

#[test]
fn a_namespace_left_out_is_shared_with_the_host() {
    let t = TestEnv::new("host_net");
    let mut b = t.shared_bundle(&["readlink", "/proc/self/ns/net"]);
    b.remove_namespace("network");
    assert_eq!(t.run_ok(&b).trim(), ns_link("self", "net"));
}

#[test]
fn hostname_is_set() {
    let t = TestEnv::new("hostname");
    let host_before = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let mut b = t.shared_bundle(&["hostname"]);
    b.hostname(Some("box-1"));
    assert_eq!(t.run_ok(&b), "box-1\n");
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_before
    );
}

#[test]
fn new_network_namespace_has_only_loopback() {
    let t = TestEnv::new("netns");
    let b = t.shared_bundle(&["ls", "/sys/class/net"]);
    assert_eq!(t.run_ok(&b).trim(), "lo");
}

#[test]
fn sysctl_is_applied_in_the_new_network_namespace() {
    let t = TestEnv::new("sysctl");
    let key = "/proc/sys/net/ipv4/ip_forward";
    let host_before = fs::read_to_string(key).unwrap();
    let mut b = t.shared_bundle(&["cat", key]);
    b.sysctl("net.ipv4.ip_forward", "1");
    assert_eq!(t.run_ok(&b), "1\n");
    assert_eq!(
        fs::read_to_string(key).unwrap(),
        host_before,
        "host sysctl changed"
    );
}

#[test]
fn user_namespace_maps_ids() {
    let t = TestEnv::new("userns");
    let out_dir = t.dir("out");
    let script = "cat /proc/self/uid_map /proc/self/gid_map > /out/maps; id -u > /out/id; \
                  exec sleep 1000";
    let mut b = t.bundle(&["sh", "-c", script]);
    b.user_namespace(100000, 65536)
        .bind(&out_dir, "/out", false);
    // The container's root is host uid 100000, which may not create the
    // mount point in the root-owned rootfs, nor write to a root-owned dir.
    fs::create_dir_all(b.rootfs().join("out")).unwrap();
    std::os::unix::fs::chown(&out_dir, Some(100000), Some(100000)).unwrap();
    let g = t.run_detached(&b);
    let id_out = wait_for_line(&out_dir.join("id"));
    assert_eq!(id_out, "0\n");
    let maps = fs::read_to_string(out_dir.join("maps")).unwrap();
    let rows: Vec<String> = maps.lines().map(squash).collect();
    assert_eq!(rows, ["0 100000 65536", "0 100000 65536"], "{maps}");
    // Seen from the host, the container's root is uid 100000.
    let pid = t.cli.state(&g.id)["pid"].as_i64().unwrap();
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        squash(uid_line),
        "Uid: 100000 100000 100000 100000",
        "{status}"
    );
    assert_ne!(ns_link(&pid.to_string(), "user"), ns_link("self", "user"));
}

/// A host process in a new UTS namespace whose hostname is `name`; killed
/// on drop.
struct NsHolder(Child);

impl NsHolder {
    fn start(t: &TestEnv, name: &str) -> NsHolder {
        let ready = t.path().join("holder-ready");
        let script = format!(
            "/bin/busybox hostname {name} && : > {} && exec /bin/busybox sleep 1000",
            ready.display()
        );
        let child = Command::new("unshare")
            .args(["--uts", "/bin/busybox", "sh", "-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare (util-linux) is needed");
        let holder = NsHolder(child);
        assert!(
            wait_until(CMD_TIMEOUT, || ready.exists()),
            "holder never got ready"
        );
        holder
    }
}

impl Drop for NsHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn joins_an_existing_namespace_by_path() {
    let t = TestEnv::new("join_ns");
    let host_name = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let holder = NsHolder::start(&t, "joined-uts");
    let pid = holder.0.id().to_string();
    let ns_path = format!("/proc/{pid}/ns/uts");
    let script = "hostname; readlink /proc/self/ns/uts";
    let mut b = t.shared_bundle(&["sh", "-c", script]);
    // A hostname with a joined UTS namespace would rename the holder's.
    b.hostname(None).namespace("uts", Some(&ns_path));
    let out = t.run_ok(&b);
    assert_eq!(out, format!("joined-uts\n{}\n", ns_link(&pid, "uts")));
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_name
    );
    // The holder's namespace is untouched and still alive.
    let holder_name = Command::new("nsenter")
        .args(["-t", &pid, "-u", "/bin/busybox", "hostname"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&holder_name.stdout), "joined-uts\n");
}
