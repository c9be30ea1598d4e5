//! The foreground monitor of `run`: a single-threaded loop on the signalfd
//! (and, with a terminal, on stdin and the pty master). Signals go on to the
//! container's init; init's exit is reaped and becomes our exit status.

use crate::error::{Error, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signalfd::SignalFd;
use nix::sys::termios::{self, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Supervise `pid` until it exits; return the status to exit with
/// (its code, or 128 + the signal that killed it).
pub fn supervise(pid: i32, signals: &SignalFd, pty: Option<&OwnedFd>) -> Result<i32> {
    let _raw = pty.and_then(|_| RawTerminal::enter());
    if let Some(master) = pty {
        resize_from_stdin(master.as_fd());
    }
    let stdin = std::io::stdin();
    let mut stdin_open = pty.is_some();
    loop {
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = pty {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("poll in monitor", e)),
            Ok(_) => {}
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (sig_ready, master_ready, stdin_ready) = (ready(0), ready(1), ready(2));
        drop(fds);
        if master_ready {
            if let Some(m) = pty {
                let _ = copy(m.as_fd(), std::io::stdout().as_fd());
            }
        }
        if stdin_ready {
            if let Some(m) = pty {
                if !copy(stdin.as_fd(), m.as_fd()) {
                    stdin_open = false;
                }
            }
        }
        if sig_ready {
            while let Ok(Some(info)) = signals.read_signal() {
                let sig = info.ssi_signo as i32;
                if sig == libc::SIGCHLD {
                    if let Some(code) = reap(pid) {
                        if let Some(m) = pty {
                            while copy(m.as_fd(), std::io::stdout().as_fd()) {}
                        }
                        return Ok(code);
                    }
                } else if sig == libc::SIGWINCH && pty.is_some() {
                    if let Some(m) = pty {
                        resize_from_stdin(m.as_fd());
                    }
                } else {
                    let _ = crate::sys::kill(pid, sig);
                }
            }
        }
    }
}

/// Reap every exited child; return init's status once it is among them.
fn reap(init: i32) -> Option<i32> {
    let mut result = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() == init => result = Some(code),
            Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == init => {
                result = Some(128 + sig as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return result,
            Ok(_) => {}
        }
    }
}

/// Copy what is available from one fd to another; false at EOF or error.
fn copy(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 8192];
    match nix::unistd::read(from, &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            let mut off = 0;
            while off < n {
                match nix::unistd::write(to, &buf[off..n]) {
                    Ok(w) => off += w,
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(_) => return false,
                }
            }
            true
        }
    }
}

fn resize_from_stdin(master: BorrowedFd<'_>) {
    if let Ok(ws) = crate::sys::get_winsize(std::io::stdin().as_fd()) {
        let _ = crate::sys::set_winsize(master, ws.ws_row, ws.ws_col);
    }
}

/// The caller's terminal in raw mode for the life of this guard.
struct RawTerminal {
    saved: Termios,
}

impl RawTerminal {
    fn enter() -> Option<RawTerminal> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}
