//! Receiving the pty master a runtime sends over `--console-socket`, and
//! other fds sent with SCM_RIGHTS (the seccomp listener).

use super::CMD_TIMEOUT;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Receives one file descriptor sent with SCM_RIGHTS.
pub fn recv_fd(stream: &UnixStream) -> Result<OwnedFd, String> {
    recv_msg_with_fd(stream).map(|(_, fd)| fd)
}

/// Receives one message, the file descriptor sent with it, and the rest of
/// the stream up to EOF (a long message may arrive in pieces).
pub fn recv_msg_with_fd(stream: &UnixStream) -> Result<(Vec<u8>, OwnedFd), String> {
    let mut data = vec![0u8; 1 << 16];
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
        return Err("the message carried no file descriptor".into());
    }
    let (level, kind) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type) };
    if level != libc::SOL_SOCKET || kind != libc::SCM_RIGHTS {
        return Err(format!("unexpected control message {level}/{kind}"));
    }
    if unsafe { (*cmsg).cmsg_len } != unsafe { libc::CMSG_LEN(4) } as usize {
        return Err("the message carried more than one file descriptor".into());
    }
    let fd: libc::c_int = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    data.truncate(n as usize);
    let mut rest = Vec::new();
    let _ = (&*stream).read_to_end(&mut rest);
    data.extend(rest);
    Ok((data, fd))
}

/// Creates container `id` from `b` (which must have `terminal: true`) with
/// a console socket, starts it, and returns what it wrote to its terminal
/// up to `marker`, with the output of `create` (which must not carry the
/// terminal's text).
pub fn run_with_console(
    t: &super::TestEnv,
    b: &super::Bundle,
    id: &str,
    marker: &str,
) -> (super::Output, String) {
    let sock = t.path().join(format!("console-{id}.sock"));
    let server = console_server(&sock);
    let out = t
        .cli
        .create(id, b, &["--console-socket", sock.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");
    let master = server
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("console socket: {e}"));
    let s = t.cli.start(id);
    assert_eq!(s.code, 0, "{s}");
    (out, read_pty(master, marker))
}

/// Accepts one connection on `path` (within `CMD_TIMEOUT`) in a thread
/// and returns the file descriptor received over it.
pub fn console_server(path: &Path) -> JoinHandle<Result<OwnedFd, String>> {
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
pub fn read_pty(master: OwnedFd, marker: &str) -> String {
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
