//! The container's terminal: a pty made in the container's own devpts, its
//! peer opened through the master (never by path), bound on /dev/console,
//! and the master handed to the caller over `--console-socket`.

use crate::error::{Context, Error, Result};
use crate::sys;
use nix::sys::socket::{
    connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};
use std::fs::OpenOptions;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// Open a new pty in the container's /dev/pts (after pivot_root).
pub fn open_pty() -> Result<Pty> {
    let master: OwnedFd = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open("/dev/pts/ptmx")
        .map_err(|e| Error::io("cannot open", "/dev/pts/ptmx", e))?
        .into();
    sys::unlockpt(master.as_fd()).ctx("cannot unlock pty")?;
    let slave = sys::open_pty_peer(master.as_fd()).ctx("cannot open pty peer")?;
    Ok(Pty { master, slave })
}

/// Bind the pty peer on /dev/console. The target is created and opened
/// without following links, and the bind goes from fd to fd, so a
/// /dev/console planted as a symlink cannot redirect it (CVE-2025-52565).
pub fn bind_console(slave: &OwnedFd) -> Result<()> {
    let console = Path::new("/dev/console");
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .mode(0o600)
        .open(console)
        .map_err(|e| Error::io("cannot create", console, e))?;
    let target = crate::rootfs::open_nofollow(console)?;
    crate::rootfs::bind_fd(slave.as_fd(), target.as_fd())
        .map_err(|e| Error::path("cannot bind the pty on", console, e))
}

/// Make the pty peer this process's controlling terminal and stdio.
pub fn make_stdio(slave: OwnedFd) -> Result<()> {
    nix::unistd::setsid().ctx("cannot start a new session")?;
    sys::set_controlling_tty(slave.as_fd()).ctx("cannot set the controlling terminal")?;
    nix::unistd::dup2_stdin(&slave).ctx("cannot dup pty to stdin")?;
    nix::unistd::dup2_stdout(&slave).ctx("cannot dup pty to stdout")?;
    nix::unistd::dup2_stderr(&slave).ctx("cannot dup pty to stderr")?;
    Ok(())
}

/// Send the pty master to the unix socket at `path` with SCM_RIGHTS, as
/// runc does, so conmon or containerd's shim can own the terminal.
pub fn send_to_socket(path: &Path, master: &OwnedFd) -> Result<()> {
    send_fd_to_socket(path, b"/dev/ptmx", master).map_err(|e| {
        Error::Other(format!(
            "cannot send the pty master to console socket {}: {e}: is the receiver listening?",
            path.display()
        ))
    })
}

/// Connect to the unix socket at `path` and send `data` with `fd` attached.
pub fn send_fd_to_socket(
    path: &Path,
    data: &[u8],
    fd: &OwnedFd,
) -> std::result::Result<(), nix::errno::Errno> {
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let addr = UnixAddr::new(path)?;
    connect(sock.as_raw_fd(), &addr)?;
    let fds = [fd.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(data)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    Ok(())
}
