//! The container's filesystem: root, spec mounts, masked and read-only
//! paths, devices, bind mounts.

mod common;

use common::*;
use serde_json::json;
use std::fs;

#[test]
fn root_is_the_bundle_rootfs() {
    let t = TestEnv::new("root_is_rootfs");
    // The host has /etc/os-release; the busybox rootfs does not.
    assert!(std::path::Path::new("/etc/os-release").exists());
    let b = t.shared_bundle(&[
        "sh",
        "-c",
        "ls /; [ -e /etc/os-release ] && echo HOST-VISIBLE; true",
    ]);
    let out = t.run_ok(&b);
    let entries: Vec<&str> = out.split_whitespace().collect();
    for e in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        assert!(entries.contains(&e), "/ lacks {e}: {out}");
    }
    assert!(
        !out.contains("HOST-VISIBLE"),
        "host files are visible: {out}"
    );
}

#[test]
fn readonly_root_refuses_writes_but_a_tmpfs_is_writable() {
    let t = TestEnv::new("readonly_root");
    let script = "touch /x 2>/dev/null; echo root=$?; touch /tmp/y; echo tmp=$?";
    let mut b = t.shared_bundle(&["sh", "-c", script]);
    b.mount("/tmp", "tmpfs", "tmpfs", &["nosuid", "nodev", "mode=1777"]);
    assert_eq!(t.run_ok(&b), "root=1\ntmp=0\n");
    assert!(!b.rootfs().join("x").exists() && !b.rootfs().join("tmp/y").exists());
}

#[test]
fn writable_root_writes_reach_the_bundle_rootfs() {
    let t = TestEnv::new("writable_root");
    let mut b = t.bundle(&["sh", "-c", "echo data > /written"]);
    b.readonly_root(false);
    t.run_ok(&b);
    assert_eq!(
        fs::read_to_string(b.rootfs().join("written")).unwrap(),
        "data\n"
    );
}

#[test]
fn spec_mounts_have_their_types_and_flags() {
    let t = TestEnv::new("spec_mounts");
    let b = t.shared_bundle(&["cat", "/proc/self/mounts"]);
    let out = t.run_ok(&b);
    let mounts: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let find = |dest: &str| {
        mounts
            .iter()
            .rev()
            .find(|m| m.get(1) == Some(&dest))
            .cloned()
    };
    let expected = [
        ("/", None),
        ("/proc", Some("proc")),
        ("/dev", Some("tmpfs")),
        ("/dev/pts", Some("devpts")),
        ("/dev/shm", Some("tmpfs")),
        ("/dev/mqueue", Some("mqueue")),
        ("/sys", Some("sysfs")),
    ];
    for (dest, fstype) in expected {
        let m = find(dest).unwrap_or_else(|| panic!("{dest} is not mounted:\n{out}"));
        if let Some(ty) = fstype {
            assert_eq!(m[2], ty, "{dest} has the wrong type:\n{out}");
        }
    }
    let opts = |dest: &str| {
        find(dest).unwrap()[3]
            .split(',')
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert!(
        opts("/").contains(&"ro".into()),
        "root not read-only:\n{out}"
    );
    assert!(
        opts("/sys").contains(&"ro".into()),
        "/sys not read-only:\n{out}"
    );
    for flag in ["nosuid", "noexec", "nodev"] {
        assert!(
            opts("/dev/shm").contains(&flag.into()),
            "/dev/shm lacks {flag}:\n{out}"
        );
    }
    let cgroup_mounts: Vec<_> = mounts
        .iter()
        .filter(|m| m[1].starts_with("/sys/fs/cgroup"))
        .collect();
    assert!(
        cgroup_mounts.iter().any(|m| m[2].starts_with("cgroup")),
        "no cgroup filesystem under /sys/fs/cgroup:\n{out}"
    );
    // The default spec mounts the cgroup view "ro,nosuid,noexec,nodev":
    // the tmpfs and every hierarchy on it.
    for m in cgroup_mounts {
        let o: Vec<&str> = m[3].split(',').collect();
        for flag in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(o.contains(&flag), "{} lacks {flag}:\n{out}", m[1]);
        }
    }
}

#[test]
fn masked_paths_read_empty() {
    let t = TestEnv::new("masked_paths");
    // /proc/kcore and others in the default list may be absent on this
    // kernel: the runtime must skip those. These two exist and are non-empty.
    for p in ["/proc/keys", "/proc/timer_list"] {
        assert!(!fs::read(p).unwrap().is_empty(), "host {p} is empty");
    }
    let script = "for f in /proc/keys /proc/timer_list; do echo $f $(cat $f | wc -c); done";
    let b = t.shared_bundle(&["sh", "-c", script]);
    assert_eq!(t.run_ok(&b), "/proc/keys 0\n/proc/timer_list 0\n");
}

#[test]
fn readonly_paths_refuse_writes() {
    let t = TestEnv::new("readonly_paths");
    // Writing the hostname would be harmless (own UTS namespace) if allowed.
    let script = "echo other > /proc/sys/kernel/hostname 2>/dev/null; echo rc=$?; hostname; \
                  grep ' /proc/sys ' /proc/self/mounts";
    let b = t.shared_bundle(&["sh", "-c", script]);
    let out = t.run_ok(&b);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("rc=1"), "{out}");
    assert_eq!(lines.next(), Some("cella-test"), "{out}");
    let mount = lines
        .next()
        .unwrap_or_else(|| panic!("/proc/sys is not a mount: {out}"));
    let opts = mount.split_whitespace().nth(3).unwrap_or_default();
    assert!(opts.split(',').any(|o| o == "ro"), "{out}");
}

#[test]
fn default_devices_exist_and_work() {
    let t = TestEnv::new("default_devices");
    let script = "for d in null zero full random urandom tty; do [ -c /dev/$d ] && echo $d; done; \
                  echo x > /dev/null && echo null-writable; \
                  head -c 5 /dev/zero | wc -c; head -c 5 /dev/urandom | wc -c";
    let b = t.shared_bundle(&["sh", "-c", script]);
    let out = t.run_ok(&b);
    assert_eq!(
        squash(&out),
        "null zero full random urandom tty null-writable 5 5",
        "{out}"
    );
    // Exact mode, owner and numbers, whatever the runtime's umask.
    let script =
        "for d in null zero full random urandom tty; do stat -c '%n %a %u:%g %t:%T' /dev/$d; done";
    let b = t.shared_bundle(&["sh", "-c", script]);
    let out = t.run_ok(&b);
    let expected = "/dev/null 666 0:0 1:3\n/dev/zero 666 0:0 1:5\n/dev/full 666 0:0 1:7\n\
                    /dev/random 666 0:0 1:8\n/dev/urandom 666 0:0 1:9\n/dev/tty 666 0:0 5:0\n";
    assert_eq!(out, expected);
}

#[test]
fn dev_symlinks_exist() {
    let t = TestEnv::new("dev_symlinks");
    let script = "for l in fd stdin stdout stderr ptmx; do echo $l $(readlink /dev/$l); done";
    let b = t.shared_bundle(&["sh", "-c", script]);
    let out = t.run_ok(&b);
    let expected = "fd /proc/self/fd\nstdin /proc/self/fd/0\nstdout /proc/self/fd/1\n\
                    stderr /proc/self/fd/2\nptmx pts/ptmx\n";
    assert_eq!(out, expected);
}

#[test]
fn device_rules_deny_other_devices() {
    let t = TestEnv::new("device_rules");
    // With CAP_MKNOD a node for /dev/kmsg (1:11, not in the default allow
    // list) can be made, but the default "deny all" device rule must refuse
    // to open it. (Opening it write-only writes nothing.)
    let script = "mknod /dev/kmsg2 c 1 11 && echo made; (: > /dev/kmsg2) 2>&1";
    let mut b = t.shared_bundle(&["sh", "-c", script]);
    let caps = serde_json::json!([
        "CAP_AUDIT_WRITE",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_MKNOD"
    ]);
    for set in ["bounding", "effective", "permitted"] {
        b.set(&format!("/process/capabilities/{set}"), caps.clone());
    }
    let (g, out) = t.run(&b);
    assert_ne!(out.code, 0, "{}: opening 1:11 worked: {out}", g.id);
    assert!(out.stdout.starts_with("made\n"), "{out}");
    assert!(out.stdout.contains("Operation not permitted"), "{out}");
}

#[test]
fn bind_mount_with_ro_is_read_only() {
    let t = TestEnv::new("bind_ro");
    let host = t.dir("data");
    fs::write(host.join("file"), "hello\n").unwrap();
    let script = "cat /mnt/data/file; touch /mnt/data/new 2>/dev/null; echo rc=$?";
    let mut b = t.bundle(&["sh", "-c", script]);
    b.bind(&host, "/mnt/data", true);
    assert_eq!(t.run_ok(&b), "hello\nrc=1\n");
    assert!(!host.join("new").exists());
}

/// A read-only path is read-only all the way down: a config mount beneath
/// it does not stay writable. (The recursive bind stacks a copy of that
/// mount over it: the last line for it is the one the container sees.)
#[test]
fn readonly_path_covers_mounts_beneath_it() {
    let t = TestEnv::new("readonly_below");
    let host = t.dir("data");
    let script = "touch /mnt/data/new 2>/dev/null; echo rc=$?; \
                  grep ' /mnt/data ' /proc/self/mounts | tail -1 | cut -d' ' -f4 | cut -d, -f1";
    let mut b = t.bundle(&["sh", "-c", script]);
    b.bind(&host, "/mnt/data", false);
    b.set("/linux/readonlyPaths", serde_json::json!(["/mnt"]));
    assert_eq!(t.run_ok(&b), "rc=1\nro\n");
    assert!(!host.join("new").exists());
}

#[test]
fn bind_mount_rw_writes_reach_the_host() {
    let t = TestEnv::new("bind_rw");
    let host = t.dir("data");
    let mut b = t.bundle(&["sh", "-c", "echo from-container > /mnt/data/new"]);
    b.bind(&host, "/mnt/data", false);
    t.run_ok(&b);
    assert_eq!(
        fs::read_to_string(host.join("new")).unwrap(),
        "from-container\n"
    );
    // The runtime created the missing mount point inside the rootfs.
    assert!(b.rootfs().join("mnt/data").is_dir());
}

/// The mounts the runtime builds detached while init mounts the rest (the
/// plain case), /dev with /dev/pts, /dev/shm and the device nodes, and the
/// v1 cgroup view (a tmpfs with one bind per hierarchy), are the same as
/// when init builds them (a createRuntime hook makes it so): the same
/// nodes, modes and links, the same mounts with the same options, each
/// hierarchy bound from the container's own cgroup, read-only, and, like
/// the rest of the rootfs, receiving the host's mount events but sending
/// none back (rslave), or neither (rprivate). Run in a mount namespace of
/// the test's own where every mount is shared, so there is propagation to
/// see.
#[test]
fn prebuilt_mounts_are_the_same_whoever_builds_them() {
    if unified_layout() {
        eprintln!("a pure cgroup v2 host has no v1 view (one bind): nothing to compare");
        return;
    }
    let t = TestEnv::new("cgroup_view");
    let script = "ls /sys/fs/cgroup; grep -E ' /(sys/fs/cgroup|dev)' /proc/self/mountinfo; \
                  stat -c '%n %F %a %u %g %t %T %N' /dev/* /dev/pts/* /dev/shm/. /dev/mqueue/.; \
                  grep -qx 1 /sys/fs/cgroup/pids/cgroup.procs && echo own-cgroup";
    let run = |hook: bool, propagation: &str| {
        let mut b = t.shared_bundle(&["sh", "-c", script]);
        // With a cgroup namespace the view is fresh cgroup mounts instead.
        b.remove_namespace("cgroup");
        b.set("/linux/rootfsPropagation", json!(propagation));
        if hook {
            b.hook("createRuntime", "/bin/true", &["true"], &[]);
        }
        let (id, out, log) = t.run_logged(&b, |c| {
            // SAFETY: between fork and exec only async-signal-safe system
            // calls are made, on this process's own mount namespace.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(c, || {
                    if libc::unshare(libc::CLONE_NEWNS) != 0
                        || libc::mount(
                            c"none".as_ptr(),
                            c"/".as_ptr(),
                            std::ptr::null(),
                            libc::MS_SHARED | libc::MS_REC,
                            std::ptr::null(),
                        ) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                })
            };
        });
        for what in ["Dev", "CgroupView"] {
            let by_runtime = log
                .lines()
                .any(|l| l.contains("the runtime built mount") && l.contains(what));
            assert_eq!(by_runtime, !hook, "who built {what} ({id}):\n{log}");
        }
        // Per mount: point, root (the container's cgroup, id made
        // generic), options, propagation, type, source, super options.
        let mut view = Vec::new();
        for line in out.stdout.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            if f.len() < 10 || !f.contains(&"-") {
                view.push(line.to_string());
                continue;
            }
            let dash = f.iter().position(|x| *x == "-").unwrap();
            let propagation: Vec<&str> = f[6..dash]
                .iter()
                .map(|o| o.split(':').next().unwrap())
                .collect();
            let root = f[3].replace(&id, "ID");
            view.push(format!(
                "{} {root} {} {propagation:?} {}",
                f[4],
                f[5],
                f[dash + 1..].join(" ")
            ));
        }
        // mountinfo lists mounts by id: trees made earlier come earlier.
        view.sort();
        view
    };
    let hierarchies = fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_type().unwrap().is_dir())
        .count();
    for (propagation, expect) in [("rslave", "[\"master\"]"), ("rprivate", "[]")] {
        let by_runtime = run(false, propagation);
        let by_init = run(true, propagation);
        assert_eq!(
            by_runtime, by_init,
            "{propagation}: the mounts differ with who built them"
        );
        assert!(
            by_runtime.iter().any(|l| l == "own-cgroup"),
            "{propagation}: pids is not the container's cgroup: {by_runtime:#?}"
        );
        for want in [
            "/dev/null character special file 666 0 0 1 3",
            "/dev/ptmx symbolic link 777 0 0 0 0 '/dev/ptmx' -> 'pts/ptmx'",
            "/dev/pts/ptmx character special file 666 0 0 5 2",
            "/dev/shm/. directory 1777 0 0 0 0",
        ] {
            assert!(
                by_runtime.iter().any(|l| l.starts_with(want)),
                "{propagation}: no {want:?} in {by_runtime:#?}"
            );
        }
        for dev in ["/dev ", "/dev/pts ", "/dev/shm ", "/dev/mqueue "] {
            assert!(
                by_runtime.iter().any(|l| l.starts_with(dev)),
                "{propagation}: {dev}is not mounted: {by_runtime:#?}"
            );
        }
        let binds: Vec<&String> = by_runtime
            .iter()
            .filter(|l| l.starts_with("/sys/fs/cgroup/"))
            .collect();
        assert_eq!(binds.len(), hierarchies, "{by_runtime:#?}");
        for l in binds {
            assert!(l.contains(" ro,"), "{propagation}: not read-only: {l}");
            assert!(l.contains(expect), "{propagation}: want {expect}: {l}");
        }
    }
}

/// A missing mount target is made as what its source is: an empty file
/// for a file (in a directory that exists: made there by fd), directories
/// for a directory (parents too), and a target that is a dangling symlink
/// is made where the link leads, inside the rootfs.
#[test]
fn missing_bind_targets_are_made_as_their_source_is() {
    let t = TestEnv::new("bind_targets");
    let host = t.dir("data");
    fs::write(host.join("file"), "in dir\n").unwrap();
    let host_file = t.path().join("single");
    fs::write(&host_file, "single\n").unwrap();
    let script = "cat /etc/cella-single /new/deep/dir/file /linked/file; \
                  [ -f /etc/cella-single ] && [ -d /new/deep/dir ] && echo kinds-ok";
    let mut b = t.bundle(&["sh", "-c", script]);
    std::os::unix::fs::symlink("/made/target", b.rootfs().join("linked")).unwrap();
    b.bind(&host_file, "/etc/cella-single", true)
        .bind(&host, "/new/deep/dir", true)
        .bind(&host, "/linked", true);
    assert_eq!(t.run_ok(&b), "single\nin dir\nin dir\nkinds-ok\n");
    // The link's target was made inside the rootfs, not on the host.
    assert!(b.rootfs().join("made/target").is_dir());
    assert!(!std::path::Path::new("/made").exists());
}
