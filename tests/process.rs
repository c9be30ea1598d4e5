//! The container process: environment, cwd, user, umask, rlimits,
//! capabilities, no_new_privs, and a terminal passed over --console-socket.

mod common;

use common::*;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

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

/// Receives one file descriptor sent with SCM_RIGHTS.
fn recv_fd(stream: &UnixStream) -> Result<OwnedFd, String> {
    let mut data = [0u8; 512];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // u64 storage keeps the control buffer aligned for cmsghdr.
    let mut control = [0u64; 16];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(format!("recvmsg: {}", std::io::Error::last_os_error()));
    }
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    if cmsg.is_null() {
        return Err("message carried no file descriptor".into());
    }
    let (level, kind) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type) };
    if level != libc::SOL_SOCKET || kind != libc::SCM_RIGHTS {
        return Err(format!("unexpected control message {level}/{kind}"));
    }
    let fd: libc::c_int = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Accepts one connection on `path` (within `CMD_TIMEOUT`) in a thread
/// and returns the file descriptor received over it.
fn console_server(path: &Path) -> std::thread::JoinHandle<Result<OwnedFd, String>> {
    let listener = UnixListener::bind(path).unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + CMD_TIMEOUT;
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
                    return recv_fd(&stream);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return Err("nobody connected to the console socket".into());
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    })
}

/// Reads the pty master until `marker` shows up, EOF/EIO, or the timeout.
fn read_pty(master: OwnedFd, marker: &str) -> String {
    let mut file = File::from(master);
    let fd = file.as_raw_fd();
    let mut text = String::new();
    let deadline = Instant::now() + CMD_TIMEOUT;
    while !text.contains(marker) && Instant::now() < deadline {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        if unsafe { libc::poll(&mut pfd, 1, 100) } <= 0 {
            continue;
        }
        let mut buf = [0u8; 1024];
        match file.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    text
}

#[test]
fn terminal_is_sent_over_the_console_socket() {
    let t = TestEnv::new("console");
    let sock = t.path().join("console.sock");
    let server = console_server(&sock);
    let script = "tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-ttys; echo END";
    let mut b = t.shared_bundle(&["sh", "-c", script]);
    b.terminal(true);
    let id = t.id();
    let _g = t.guard(&id);
    let out = t
        .cli
        .create(&id, &b, &["--console-socket", sock.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");
    let master = server
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("console socket: {e}"));
    let s = t.cli.start(&id);
    assert_eq!(s.code, 0, "{s}");
    let text = read_pty(master, "END");
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
