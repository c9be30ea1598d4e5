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

/// Bind the pty peer on /dev/console, using the fd itself as the source.
pub fn bind_console(slave: &OwnedFd) -> Result<()> {
    let console = Path::new("/dev/console");
    match OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .mode(0o600)
        .open(console)
    {
        Ok(_) => {}
        Err(e) => return Err(Error::io("cannot create", console, e)),
    }
    let src = format!("/proc/self/fd/{}", slave.as_raw_fd());
    nix::mount::mount(
        Some(src.as_str()),
        console,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .ctx_path("cannot bind the pty on", console)
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
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .ctx("cannot create console socket")?;
    let addr = UnixAddr::new(path).ctx_path("bad console socket path", path)?;
    connect(sock.as_raw_fd(), &addr).map_err(|e| {
        Error::Other(format!(
            "cannot connect to console socket {}: {e}: is the receiver listening?",
            path.display()
        ))
    })?;
    let name = b"/dev/ptmx";
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(name)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .ctx_path("cannot send the pty master to", path)?;
    Ok(())
}
