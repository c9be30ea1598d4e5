//! Known container-runtime CVEs, each replayed as an attack that must be
//! blocked. Host files are never written: attacks aim at decoys the tests
//! own, and real host files (core_pattern, ip_forward) are only compared
//! before and after. Masked and read-only paths being applied after every
//! other mount is covered by security.rs
//! (`config_mounts_cannot_unmask_masked_or_readonly_paths`).

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::symlink;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const CORE_PATTERN: &str = "/proc/sys/kernel/core_pattern";

/// A file's text; panics naming the file.
fn read(p: impl AsRef<Path>) -> String {
    let p = p.as_ref();
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Lines of the host's /proc/self/mountinfo that mention `path`.
fn host_mounts_on(path: &Path) -> Vec<String> {
    let p = path.to_str().unwrap();
    read("/proc/self/mountinfo")
        .lines()
        .filter(|l| l.contains(p))
        .map(str::to_string)
        .collect()
}

/// Drops the config's /dev tmpfs: the rootfs's own /dev is used as it is.
fn without_dev_tmpfs(b: &mut Bundle) {
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["destination"] != "/dev");
}

/// No capabilities at all, so that a capability-less reader passes the
/// kernel's "caller's caps are a superset" ptrace check and only the
/// target's dumpable flag decides whether /proc/PID/exe may be read.
fn no_caps(b: &mut Bundle) {
    let none = json!([]);
    b.set(
        "/process/capabilities",
        json!({"bounding": none, "effective": none, "permitted": none}),
    );
}

/// `readlink -v /proc/PID/exe` as root without any capability (so without
/// CAP_SYS_PTRACE). Err holds its error message.
fn capless_readlink(pid: i64) -> Result<String, String> {
    let out = Command::new("setpriv")
        .args(["--bounding-set=-all", "--inh-caps=-all", "--"])
        .args(["readlink", "-v", &format!("/proc/{pid}/exe")])
        .output()
        .expect("setpriv (util-linux) is needed");
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    match out.status.success() {
        true => Ok(text(&out.stdout)),
        false => Err(text(&out.stderr)),
    }
}

/// Inside the container: try to read and open for writing the exe of the
/// process with container pid `$1`; then read our own shell's exe, which
/// must work (the attack would detect a readable target).
const EXE_ATTACK: &str = "readlink /proc/$1/exe; echo readlink=$?; \
    dd if=/dev/null of=/proc/$1/exe conv=notrunc 2>&1 | grep -o 'Permission denied'; \
    readlink /proc/$$/exe";

/// The exe of `host_pid` (container pid `ns_pid`) can neither be read by
/// a capability-less root on the host nor read or opened for writing from
/// inside container `id`.
fn assert_exe_out_of_reach(t: &TestEnv, id: &str, host_pid: i64, ns_pid: i64) {
    let host = capless_readlink(host_pid);
    assert!(
        host.as_ref()
            .is_err_and(|e| e.contains("Permission denied")),
        "a capability-less root on the host read the exe of {host_pid}: {host:?}"
    );
    let ns = ns_pid.to_string();
    let inside = t.cli.cmd(&["exec", id, "sh", "-c", EXE_ATTACK, "sh", &ns]);
    let want = "readlink=1\nPermission denied\n/bin/busybox\n";
    assert_eq!(inside.stdout, want, "{inside}");
}

#[test]
fn cve_2019_5736_created_init_exe_is_out_of_reach() {
    // CVE-2019-5736: until it execs, the container's init *is* the
    // runtime binary. Were it dumpable, a process in the container could
    // open /proc/<init>/exe and overwrite the host's runtime binary.
    let t = TestEnv::new("cve5736_init");
    let mut b = t.shared_bundle(&["sleep", "1000"]);
    no_caps(&mut b);
    let g = t.create(&b);
    let pid = t.cli.state(&g.id)["pid"].as_i64().unwrap();
    assert_exe_out_of_reach(&t, &g.id, pid, 1);
    // Mutation check: once init has exec'd its program it is dumpable and
    // the very same reader succeeds.
    assert_eq!(t.cli.start(&g.id).code, 0);
    let mut after = Err(String::new());
    let exec = wait_until(CMD_TIMEOUT, || {
        after = capless_readlink(pid);
        after.as_ref().is_ok_and(|p| p.ends_with("/bin/busybox"))
    });
    assert!(
        exec,
        "init's exe stayed out of reach after start: {after:?}"
    );
}

/// A listening unix socket with a backlog of 0, already holding one
/// pending connection: the next `connect` blocks until we accept.
fn full_listener(path: &Path) -> (UnixListener, UnixStream) {
    let listener = UnixListener::bind(path).unwrap();
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let filler = UnixStream::connect(path).unwrap();
    (listener, filler)
}

/// The child of `parent` in `init`'s pid namespace whose exe is still the
/// runtime binary: an exec process that has not exec'd yet. Returns its
/// (host pid, container pid).
fn unexeced_child(parent: u32, init: i64) -> Option<(i64, i64)> {
    let ns = fs::read_link(format!("/proc/{init}/ns/pid")).ok()?;
    let runtime = fs::canonicalize(cella_bin()).ok()?;
    for e in fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i64>() else {
            continue;
        };
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |k: &str| {
            let line = status.lines().find(|l| l.starts_with(k)).unwrap_or("");
            line.split_whitespace().last().unwrap_or("").to_string()
        };
        // (A rebuilt binary shows as "PATH (deleted)".)
        let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        if field("PPid:") != parent.to_string()
            || fs::read_link(format!("/proc/{pid}/ns/pid")).ok() != Some(ns.clone())
            || !exe.to_string_lossy().starts_with(runtime.to_str()?)
        {
            continue;
        }
        return Some((pid, field("NSpid:").parse().ok()?));
    }
    None
}

#[test]
fn cve_2019_5736_exec_process_exe_is_out_of_reach_before_execve() {
    // CVE-2019-5736 through `exec`: the exec process runs the runtime
    // binary inside the container until its execve. The test holds it
    // there: `exec -t` hands the pty to a console socket whose backlog is
    // full, so the runtime blocks in connect() while its process waits to
    // be told to start.
    let t = TestEnv::new("cve5736_exec");
    let mut b = t.shared_bundle(&["sleep", "1000"]);
    no_caps(&mut b);
    let g = t.run_detached(&b);
    let init = t.cli.state(&g.id)["pid"].as_i64().unwrap();
    let sock = t.path().join("console.sock");
    let (listener, filler) = full_listener(&sock);
    let s = sock.to_str().unwrap();
    let exec = t
        .cli
        .spawn(&["exec", "-t", "-d", "--console-socket", s, &g.id, "true"]);
    let mut found = None;
    let seen = wait_until(CMD_TIMEOUT, || {
        found = unexeced_child(exec.pid(), init);
        found.is_some()
    });
    assert!(seen, "no exec process waiting with the runtime's exe");
    let (host_pid, ns_pid) = found.unwrap();
    assert_exe_out_of_reach(&t, &g.id, host_pid, ns_pid);
    // Mutation check: the same reader can read init's (dumpable) exe.
    let init_exe = capless_readlink(init).unwrap_or_else(|e| panic!("init: {e}"));
    assert!(init_exe.ends_with("/bin/busybox"), "{init_exe}");
    // Release the runtime: accept the filler's and then its connection.
    drop(filler);
    listener.set_nonblocking(true).unwrap();
    let mut conns = Vec::new();
    wait_until(CMD_TIMEOUT, || {
        conns.extend(listener.accept().ok());
        conns.len() == 2
    });
    let out = exec.wait();
    assert_eq!(out.code, 0, "{out}");
}

/// Runs `bin --root ROOT ARGS..` (a copy of the runtime), killed by
/// timeout(1) after `CMD_TIMEOUT`. Output goes to files, not pipes, which
/// a detached container would hold open.
fn run_copy(bin: &Path, root: &Path, args: &[&str]) -> Output {
    let mut files = [tempfile::tempfile().unwrap(), tempfile::tempfile().unwrap()];
    let status = Command::new("timeout")
        .args(["-s", "KILL", &CMD_TIMEOUT.as_secs().to_string()])
        .arg(bin)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(files[0].try_clone().unwrap())
        .stderr(files[1].try_clone().unwrap())
        .status()
        .unwrap();
    let mut text = |i: usize| {
        std::io::Seek::rewind(&mut files[i]).unwrap();
        std::io::read_to_string(&files[i]).unwrap()
    };
    let (stdout, stderr) = (text(0), text(1));
    let code = exit_code(status);
    Output {
        code,
        stdout,
        stderr,
    }
}

/// Scans every process's exe in a loop until /out/stop: a readable exe
/// that is not busybox is logged, then opened for writing (dd writes
/// nothing). /out/canread shows reading a dumpable process works.
const EXE_SCANNER: &str = r#"sleep 1000 & victim=$!; echo ready > /out/ready
while [ ! -e /out/stop ]; do
  for p in /proc/[0-9]*; do
    l=$(readlink $p/exe 2>/dev/null) || continue
    if [ "$l" = /bin/busybox ]; then
      [ "$p" = /proc/$victim ] && : > /out/canread; continue
    fi
    echo "seen $p $l" >> /out/log
    dd if=/dev/null of=$p/exe conv=notrunc 2>/dev/null && echo "opened $p $l" >> /out/log
  done
done; kill $victim"#;

#[test]
fn cve_2019_5736_exec_race_never_exposes_the_runtime_binary() {
    // CVE-2019-5736, the original exploit's shape: a process in the
    // container scans /proc/*/exe while the host runs `exec` again and
    // again. Without the defence it would see the runtime's binary and
    // open it for writing. The runtime used is a copy the test owns, so
    // its contents and mtime can be compared even while others rebuild.
    let t = TestEnv::new("cve5736_race");
    let bin = t.path().join("runtime-copy");
    fs::copy(cella_bin(), &bin).unwrap();
    let (content, mtime) = (
        fs::read(&bin).unwrap(),
        fs::metadata(&bin).unwrap().modified(),
    );
    let out = t.dir("out");
    let mut b = t.shared_bundle(&["sh", "-c", EXE_SCANNER]);
    b.bind(&out, "/out", false);
    b.write();
    let id = t.id();
    let _g = t.guard(&id);
    let copy = |args: &[&str]| run_copy(&bin, &t.cli.root, args);
    let r = copy(&["run", "-d", "--bundle", b.path_str(), &id]);
    assert_eq!(r.code, 0, "{r}");
    wait_for_line(&out.join("ready"));
    for i in 0..30 {
        let e = copy(&["exec", &id, "true"]);
        assert_eq!(e.code, 0, "exec #{i}: {e}");
    }
    fs::write(out.join("stop"), "").unwrap();
    t.cli.wait_status(&id, "stopped");
    let log = fs::read_to_string(out.join("log")).unwrap_or_default();
    assert_eq!(log, "", "the container reached a non-busybox exe");
    let canread = out.join("canread").exists();
    assert!(canread, "the scanner never read a dumpable exe");
    let same = fs::read(&bin).unwrap() == content;
    assert!(same, "the runtime binary changed");
    assert_eq!(fs::metadata(&bin).unwrap().modified().ok(), mtime.ok());
    assert_eq!(t.cli.delete(&id).code, 0);
    t.assert_no_leftovers(&id, &b);
}

/// Prints INSIDE when the cwd is the directory `pwd -P` names inside the
/// container (same device and inode), else ESCAPE; then lists `..`.
const CWD_CHECK: &str = r#"a=$(stat -c %d:%i .); p=$(pwd -P 2>/dev/null)
b=$(stat -c %d:%i "$p" 2>/dev/null)
if [ -n "$a" ] && [ "$a" = "$b" ]; then echo "INSIDE $p"; else echo "ESCAPE $p"; fi; ls -a .."#;

/// Either a refusal (one error line naming the cwd) or a cwd inside the
/// container that shows none of the host's marker files.
fn assert_cwd_contained(out: &Output, cwd: &str) {
    if out.code != 0 {
        assert_one_error(out, &[cwd]);
        return;
    }
    assert!(out.stdout.starts_with("INSIDE /"), "{cwd}: {out}");
    assert!(!out.stdout.contains("host-marker"), "{cwd}: {out}");
}

#[test]
fn cve_2024_21626_cwd_cannot_be_a_leaked_runtime_fd() {
    // CVE-2024-21626: a cwd of /proc/self/fd/N naming a directory fd the
    // runtime leaked (a host cgroup or state directory) would start the
    // process in a host directory, from where `../..` is the host's root.
    let t = TestEnv::new("cve21626");
    fs::write(t.path().join("host-marker"), "").unwrap();
    let b0 = t.shared_bundle(&["sleep", "1000"]);
    fs::write(b0.path().join("host-marker"), "").unwrap();
    for n in 3..=15 {
        let cwd = format!("/proc/self/fd/{n}");
        let mut b = t.shared_bundle(&["sh", "-c", CWD_CHECK]);
        fs::write(b.path().join("host-marker"), "").unwrap();
        b.cwd(&cwd);
        let (g, out) = t.run(&b);
        assert_cwd_contained(&out, &cwd);
        t.assert_no_leftovers(&g.id, &b);
    }
    let g = t.run_detached(&b0);
    for n in 3..=15 {
        let cwd = format!("/proc/self/fd/{n}");
        let out = t
            .cli
            .cmd(&["exec", "--cwd", &cwd, &g.id, "sh", "-c", CWD_CHECK]);
        assert_cwd_contained(&out, &cwd);
    }
}

#[test]
fn cve_2024_21626_check_detects_a_host_directory_cwd() {
    // Mutation check of the test above: a host directory the caller hands
    // in on purpose (--preserve-fds) and cd's into is reported as ESCAPE.
    let t = TestEnv::new("cve21626_mut");
    let dir = fs::File::open(t.dir("host-dir")).unwrap();
    let raw = dir.as_raw_fd();
    let script = format!("cd /proc/self/fd/3/.; {CWD_CHECK}");
    let b = t.shared_bundle(&["sh", "-c", &script]);
    b.write();
    let id = t.id();
    let _g = t.guard(&id);
    let args = ["run", "--preserve-fds", "1", "--bundle", b.path_str(), &id];
    let out = t
        .cli
        .spawn_with(&args, |c| unsafe {
            c.pre_exec(move || {
                let ok = libc::dup2(raw, 3) == 3 && libc::fcntl(3, libc::F_SETFD, 0) == 0;
                ok.then_some(()).ok_or_else(std::io::Error::last_os_error)
            });
        })
        .wait();
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.starts_with("ESCAPE"), "{out}");
    assert!(
        out.stdout.contains("\nhost-dir\n"),
        "`ls -a ..` lists the host: {out}"
    );
}

#[test]
fn cve_2024_21626_no_runtime_fd_reaches_the_container() {
    // The other half of CVE-2024-21626: whatever the runtime had open must
    // not survive into the container's processes (init and exec).
    let t = TestEnv::new("cve21626_fds");
    let g = t.run_detached(&t.shared_bundle(&["sleep", "1000"]));
    let init = t.cli.state(&g.id)["pid"].as_i64().unwrap();
    let pid_file = t.path().join("exec.pid");
    let pf = pid_file.to_str().unwrap();
    let e = t
        .cli
        .cmd(&["exec", "-d", "--pid-file", pf, &g.id, "sleep", "1000"]);
    assert_eq!(e.code, 0, "{e}");
    let exec_pid: i64 = read(&pid_file).trim().parse().unwrap();
    for pid in [init, exec_pid] {
        let mut fds: Vec<String> = fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        fds.sort();
        let links: Vec<String> = fds
            .iter()
            .map(|f| format!("{f} -> {:?}", fs::read_link(format!("/proc/{pid}/fd/{f}"))))
            .collect();
        assert_eq!(fds, ["0", "1", "2"], "pid {pid}: {links:#?}");
    }
}

fn mknod_chr(path: &Path, major: u32, minor: u32) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let dev = libc::makedev(major, minor);
    let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, dev) };
    assert_eq!(rc, 0, "mknod {}", path.display());
}

/// A bundle of its own rootfs without a /dev tmpfs, whose `dev/<name>`
/// is a symlink to `target` (a path inside the container). Unless `name`
/// is "null", dev/null is the real null device.
fn planted_dev(t: &TestEnv, name: &str, target: &str, args: &[&str]) -> Bundle {
    let mut b = t.bundle(args);
    without_dev_tmpfs(&mut b);
    let dev = b.rootfs().join("dev");
    symlink(target, dev.join(name)).unwrap();
    if name != "null" {
        mknod_chr(&dev.join("null"), 1, 3);
    }
    b
}

/// A decoy file inside the rootfs at /decoy.
fn rootfs_decoy(b: &Bundle) -> PathBuf {
    let p = b.rootfs().join("decoy");
    fs::write(&p, "decoy\n").unwrap();
    p
}

const MASK_ATTACK: &str = "for f in /proc/timer_list /proc/keys; do echo pwned > $f; done";

#[test]
fn cve_2025_31133_dev_null_symlink_is_not_used_to_mask() {
    // CVE-2025-31133: masked paths are masked by bind-mounting /dev/null.
    // A rootfs whose /dev/null is a symlink (to core_pattern, or anything)
    // would have the runtime bind the link's target over /proc/timer_list
    // etc., writable: writing there would write core_pattern on the host.
    let t = TestEnv::new("cve31133");
    let core = read(CORE_PATTERN);
    let b = planted_dev(&t, "null", CORE_PATTERN, &["cat", "/proc/timer_list"]);
    let (g, out) = t.run(&b);
    if out.code == 0 {
        // Only reading: never risk writing the host's core_pattern.
        assert_eq!(out.stdout, "", "the masked path shows core_pattern");
    } else {
        assert_one_error(&out, &["/dev/null"]);
    }
    t.assert_no_leftovers(&g.id, &b);

    let b = planted_dev(&t, "null", "/decoy", &["sh", "-c", MASK_ATTACK]);
    let decoy = rootfs_decoy(&b);
    let (g, out) = t.run(&b);
    if out.code != 0 {
        assert_one_error(&out, &["/dev/null"]);
    }
    assert_eq!(read(&decoy), "decoy\n", "the masked paths were the decoy");
    t.assert_no_leftovers(&g.id, &b);

    // A device that is not 1:3 (here /dev/zero's 1:5) is no /dev/null.
    // (head: a /proc/keys that is /dev/zero never ends.)
    let mut b = t.bundle(&["sh", "-c", "head -c 9 /proc/keys | wc -c"]);
    without_dev_tmpfs(&mut b);
    mknod_chr(&b.rootfs().join("dev/null"), 1, 5);
    let (g, out) = t.run(&b);
    match out.code {
        0 => assert_eq!(out.stdout.trim(), "0", "/proc/keys was masked with 1:5"),
        _ => assert_one_error(&out, &["/dev/null"]),
    }
    t.assert_no_leftovers(&g.id, &b);
    assert_eq!(read(CORE_PATTERN), core, "the host's core_pattern changed");
}

#[test]
fn cve_2025_31133_check_detects_a_decoy_over_a_masked_path() {
    // Mutation check: the decoy bound over /proc/timer_list and
    // /proc/keys (what the attack would achieve) is written by the script;
    // the planted dev/null link leads to the decoy inside the container.
    let t = TestEnv::new("cve31133_mut");
    let mut b = planted_dev(&t, "null", "/decoy", &["sh", "-c", MASK_ATTACK]);
    let decoy = rootfs_decoy(&b);
    b.bind(&decoy, "/proc/timer_list", false)
        .set("/linux/maskedPaths", json!([]));
    // (No 2>/dev/null: that /dev/null is the link.)
    b.args(&["sh", "-c", &format!("{MASK_ATTACK}; cat /dev/null")]);
    let (g, out) = t.run(&b);
    assert_eq!((out.code, out.stdout.as_str()), (0, "pwned\n"), "{out}");
    assert_eq!(read(&decoy), "pwned\n");
    t.assert_no_leftovers(&g.id, &b);
}

/// `create --console-socket` of `b`; on success, start it and return what
/// the container printed on its terminal.
fn create_with_console(t: &TestEnv, b: &Bundle) -> (String, Result<String, Output>) {
    let sock = t.path().join(format!("console-{}.sock", t.id()));
    let server = console_server(&sock);
    let id = t.id();
    let g = t.guard(&id);
    let out = t
        .cli
        .create(&id, b, &["--console-socket", sock.to_str().unwrap()]);
    if out.code != 0 {
        // Unblock the server thread, then report.
        let _ = UnixStream::connect(&sock);
        let _ = server.join();
        return (g.id.clone(), Err(out));
    }
    let master = server.join().unwrap().expect("no pty master");
    assert_eq!(t.cli.start(&id).code, 0);
    let text = read_pty(master, "END");
    (g.id.clone(), Ok(text))
}

#[test]
fn cve_2025_52565_dev_console_symlink_is_not_followed() {
    // CVE-2025-52565: the pty is bind-mounted on /dev/console. A rootfs
    // whose /dev/console is a symlink would redirect that bind onto the
    // link's target: a host file bound into the container, or
    // /proc/sys/kernel/core_pattern, then written through the terminal.
    let t = TestEnv::new("cve52565");
    let core = read(CORE_PATTERN);
    let host_decoy = t.path().join("host-decoy");
    fs::write(&host_decoy, "decoy\n").unwrap();
    let script = "grep -c -e ' /decoy ' -e ' /proc/sys/kernel/core_pattern ' \
                  /proc/self/mountinfo; cat /decoy; echo END";
    for target in ["/decoy", CORE_PATTERN] {
        let mut b = planted_dev(&t, "console", target, &["sh", "-c", script]);
        b.terminal(true).bind(&host_decoy, "/decoy", false);
        let (id, res) = create_with_console(&t, &b);
        match res {
            Err(out) => assert_one_error(&out, &["/dev/console"]),
            Ok(text) => assert!(text.contains("0\r\ndecoy\r\n"), "{target}: {text:?}"),
        }
        assert_eq!(read(&host_decoy), "decoy\n");
        assert_eq!(host_mounts_on(&host_decoy), Vec::<String>::new());
        let _ = t.cli.try_cmd(&["delete", "--force", &id]);
        t.assert_no_leftovers(&id, &b);
    }
    // Mutation check: the planted link does lead to the decoy inside.
    let mut b = planted_dev(&t, "console", "/decoy", &["cat", "/dev/console"]);
    b.bind(&host_decoy, "/decoy", false);
    assert_eq!(t.run_ok(&b), "decoy\n");
    assert_eq!(read(CORE_PATTERN), core, "the host's core_pattern changed");
}

#[test]
fn cve_2025_52881_procfs_writes_ignore_mounts_over_proc() {
    // CVE-2025-52881 / CVE-2019-16884: the runtime writes sysctls and
    // oom_score_adj through /proc. A config mount placed over
    // /proc/sys/net/ipv4/ip_forward or /proc/self/oom_score_adj would
    // redirect those writes to whatever was mounted there (runc's
    // variant: to a host file such as core_pattern). cella writes through
    // a private procfs instance, so the decoys must stay untouched while
    // the real values are set.
    let t = TestEnv::new("cve52881");
    let host_forward = read("/proc/sys/net/ipv4/ip_forward");
    let (ipf, oom) = (t.path().join("decoy-ipf"), t.path().join("decoy-oom"));
    fs::write(&ipf, "decoy\n").unwrap();
    fs::write(&oom, "decoy\n").unwrap();
    let script = "echo container > /proc/sys/net/ipv4/ip_forward; \
                  echo 321 > /proc/self/oom_score_adj";
    let mut b = t.shared_bundle(&["sh", "-c", script]);
    b.bind(&ipf, "/proc/sys/net/ipv4/ip_forward", false)
        .bind(&oom, "/proc/self/oom_score_adj", false)
        .sysctl("net.ipv4.ip_forward", "1")
        .set("/process/oomScoreAdj", json!(123))
        .set("/linux/readonlyPaths", json!([]));
    let g = t.create(&b);
    let pid = t.cli.state(&g.id)["pid"].as_i64().unwrap();
    assert_eq!(read(&ipf), "decoy\n", "the sysctl went to the decoy");
    assert_eq!(read(&oom), "decoy\n", "oom_score_adj went to the decoy");
    assert_eq!(read(format!("/proc/{pid}/oom_score_adj")), "123\n");
    let net = format!("--net=/proc/{pid}/ns/net");
    let fwd = Command::new("nsenter")
        .args([&net, "cat", "/proc/sys/net/ipv4/ip_forward"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&fwd.stdout), "1\n", "{fwd:?}");
    // Mutation check: a write through the container's /proc paths does
    // land on the decoys.
    assert_eq!(t.cli.start(&g.id).code, 0);
    t.cli.wait_status(&g.id, "stopped");
    assert_eq!(read(&ipf), "container\n");
    assert_eq!(read(&oom), "321\n");
    assert_eq!(read("/proc/sys/net/ipv4/ip_forward"), host_forward);
    assert_eq!(t.cli.delete(&g.id).code, 0);
    t.assert_no_leftovers(&g.id, &b);
}

#[test]
fn cve_2015_1335_mount_destination_symlinks_resolve_in_root() {
    // CVE-2015-1335 class: a rootfs symlink on a mount destination's path
    // (`/evil -> /host/dir`, or `../../..`-style) followed on the host
    // would create directories and mount over the host's own files.
    let t = TestEnv::new("cve1335");
    let host = t.dir("host-dir");
    fs::write(host.join("marker"), "marker\n").unwrap();
    let script = "awk '$9 == \"tmpfs\" {print $5}' /proc/self/mountinfo | grep target | sort";
    let mut b = t.bundle(&["sh", "-c", script]);
    let rel = format!("{}{}", "../".repeat(32), host.display());
    symlink(&host, b.rootfs().join("evil")).unwrap();
    symlink(&rel, b.rootfs().join("evil2")).unwrap();
    // Mutation check: both links, followed on the host, do lead there.
    for l in ["evil", "evil2"] {
        assert_eq!(fs::canonicalize(b.rootfs().join(l)).unwrap(), host);
    }
    b.mount("/evil/target", "tmpfs", "tmpfs", &[])
        .mount("/evil2/target2", "tmpfs", "tmpfs", &[]);
    let (g, out) = t.run(&b);
    assert_eq!(out.code, 0, "{out}");
    let h = host.display();
    assert_eq!(out.stdout, format!("{h}/target\n{h}/target2\n"), "{out}");
    let entries = fs::read_dir(&host).unwrap().count();
    assert_eq!(entries, 1, "something appeared in the host dir");
    assert_eq!(read(host.join("marker")), "marker\n");
    assert_eq!(host_mounts_on(&host), Vec::<String>::new());
    let in_root = b.rootfs().join(host.strip_prefix("/").unwrap());
    assert!(in_root.join("target").is_dir() && in_root.join("target2").is_dir());
    t.assert_no_leftovers(&g.id, &b);
}
