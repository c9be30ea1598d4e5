//! The parent/child channel: a `SOCK_SEQPACKET` socketpair carrying typed
//! messages, one datagram each, with an optional file descriptor attached
//! (the pty master). A child-side failure travels as [`Msg::Error`] and
//! becomes the parent's error.

use crate::error::{Context, Error, Result};
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{Deserialize, Serialize};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Msg {
    // parent -> child
    /// Id maps are written (new user namespace only), or, for `exec`'s
    /// helper, go on. Carries the child's pid as the host sees it.
    Go { pid: i32 },
    /// The cgroup is made and limited. Carries the child's pid as the host
    /// sees it (for hook state) and, in order, the files attached: one
    /// write end per hierarchy the child still has to move itself into
    /// (see `cgroups::JoinFile`).
    Placed { pid: i32, files: Vec<String> },
    /// The runtime-namespace hooks (prestart, createRuntime) have run.
    HooksDone,
    /// Exec now: `exec`'s helper, and a `run` init with startContainer
    /// hooks (any other `run` init execs as soon as it is ready).
    Start,
    /// The config's mount at this index, built detached by the runtime, is
    /// attached; none attached: init mounts it itself. Sent, in config
    /// order, for each mount both sides know of (`Launch::prebuilt_mounts`).
    Prebuilt { mount: usize },
    /// The old root init pivoted away from is detached (see
    /// `rootfs::OldRootDetacher`).
    Detached,
    // child -> parent
    /// The namespaces exist: the parent may run createRuntime hooks.
    NamespacesReady,
    /// pivot_root is done; the old root (attached) is for the runtime to
    /// detach (`Launch::runtime_detaches`).
    Pivoted,
    /// The config's /proc mount is made; attached, its root, for the
    /// runtime to make the read-only paths under it (`rootfs::procpaths`).
    ProcMounted,
    /// The pty master is attached to this message.
    Pty,
    /// The seccomp notify fd is attached to this message.
    SeccompFd,
    /// Set-up is complete; the child waits to be started.
    Ready,
    /// `exec`: the pid (in the host's pid namespace) of the process that
    /// will exec, forked inside the container's pid namespace.
    Pid { pid: i32 },
    /// Set-up failed at `step`.
    Error {
        step: String,
        errno: i32,
        path: Option<String>,
        msg: String,
    },
}

/// The most descriptors one message carries: one per mounted cgroup
/// hierarchy (a v1 host has at most about fifteen).
const MAX_FDS: usize = 32;

pub struct Channel {
    fd: OwnedFd,
}

/// Make the two ends: (parent, child). Both are close-on-exec, so the
/// child's end vanishes at its execve and the parent reads EOF.
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .ctx("cannot create sync socketpair")?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, msg: &Msg) -> Result<()> {
        self.send_with_fd(msg, None)
    }

    pub fn send_with_fd(&self, msg: &Msg, fd: Option<RawFd>) -> Result<()> {
        match fd {
            Some(fd) => self.send_with_fds(msg, &[fd]),
            None => self.send_with_fds(msg, &[]),
        }
    }

    pub fn send_with_fds(&self, msg: &Msg, fds: &[RawFd]) -> Result<()> {
        let data = serde_json::to_vec(msg).map_err(|e| Error::Other(e.to_string()))?;
        let iov = [IoSlice::new(&data)];
        let cmsg: Vec<ControlMessage> = if fds.is_empty() {
            Vec::new()
        } else {
            vec![ControlMessage::ScmRights(fds)]
        };
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .ctx("cannot send on sync socket")?;
        Ok(())
    }

    /// The next message, or `None` when the other side has gone (closed
    /// its end, exec'd or died).
    pub fn recv(&self) -> Result<Option<(Msg, Option<OwnedFd>)>> {
        Ok(self.recv_fds()?.map(|(m, fds)| (m, fds.into_iter().next())))
    }

    /// Like [`Channel::recv`], with every descriptor the message carried.
    pub fn recv_fds(&self) -> Result<Option<(Msg, Vec<OwnedFd>)>> {
        self.recv_flags(MsgFlags::empty())
    }

    /// Send a message after the clone. When that fails, the child has died
    /// or is dying, and what it reported before (an error message waiting
    /// to be read) is the error to give, not the failed send.
    pub fn send_to_child(&self, msg: &Msg, fds: &[RawFd]) -> Result<()> {
        self.send_with_fds(msg, fds)
            .map_err(|e| self.reported_error_or(e))
    }

    /// For a failure of the parent's that the child's death can cause (a
    /// send, or a call on the child's pid after it exited): the error the
    /// child reported before it went, if one is waiting to be read (behind
    /// any other messages it sent first), else `err`.
    pub fn reported_error_or(&self, err: Error) -> Error {
        loop {
            match self.recv_flags(MsgFlags::MSG_DONTWAIT) {
                Ok(Some((m @ Msg::Error { .. }, _))) => return m.into_error(),
                Ok(Some(_)) => continue,
                _ => return err,
            }
        }
    }

    fn recv_flags(&self, flags: MsgFlags) -> Result<Option<(Msg, Vec<OwnedFd>)>> {
        // On the stack: a heap buffer this size costs an allocation and
        // its release on every message.
        let mut buf = [0u8; 8192];
        let mut cbuf = nix::cmsg_space!([RawFd; MAX_FDS]);
        let mut reset_seen = false;
        let (n, fds) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cbuf),
                MsgFlags::MSG_CMSG_CLOEXEC | flags,
            ) {
                Ok(r) => {
                    if r.flags.contains(MsgFlags::MSG_CTRUNC) {
                        return Err(Error::Other(
                            "sync protocol error: descriptors were truncated".into(),
                        ));
                    }
                    let mut fds = Vec::new();
                    for c in r.cmsgs().ctx("bad control message on sync socket")? {
                        if let ControlMessageOwned::ScmRights(got) = c {
                            fds.extend(got.into_iter().map(owned));
                        }
                    }
                    break (r.bytes, fds);
                }
                Err(nix::errno::Errno::EINTR) => continue,
                // The other side closed with messages of ours unread: the
                // kernel reports that once, ahead of what it sent before
                // it went (its error report, say), which is read next.
                Err(nix::errno::Errno::ECONNRESET) if !reset_seen => {
                    reset_seen = true;
                    continue;
                }
                Err(e) => return Err(Error::sys("cannot read sync socket", e)),
            }
        };
        if n == 0 {
            return Ok(None);
        }
        let msg = serde_json::from_slice(&buf[..n])
            .map_err(|e| Error::Other(format!("bad message on sync socket: {e}")))?;
        Ok(Some((msg, fds)))
    }

    /// Wait for one specific message; an error message or EOF becomes an
    /// error.
    pub fn expect(&self, want: &Msg) -> Result<Option<OwnedFd>> {
        match self.recv()? {
            Some((m, fd)) if &m == want => Ok(fd),
            Some((m, _)) => Err(m.into_error()),
            None => Err(Error::Other(format!(
                "sync protocol error: the other side hung up while waiting for {want:?}"
            ))),
        }
    }

    /// After `Start`: the child's end closes at its execve (close-on-exec),
    /// so EOF means the program runs; a message means it failed.
    pub fn wait_exec(&self) -> Result<()> {
        match self.recv()? {
            None => Ok(()),
            Some((m, _)) => Err(m.into_error()),
        }
    }
}

impl Msg {
    /// The error a message stands for where another was expected: the
    /// child's own report, or a protocol error.
    pub fn into_error(self) -> Error {
        match self {
            Msg::Error {
                step,
                errno,
                path,
                msg,
            } => Error::Child {
                step,
                path,
                msg,
                errno,
            },
            m => Error::Other(format!("sync protocol error: unexpected {m:?}")),
        }
    }
}

/// A wake-up from the child that leaves the parent on its own CPU, for a
/// message the child goes on working after: `Pivoted`. A socket wakes its
/// reader with a "sync" wake-up, which tells the scheduler the sender is
/// about to sleep, and the parent, woken to detach init's old root, then
/// ran on init's CPU, beside it, in one start in six, while the other CPU
/// idled (one in twelve with this). An eventfd wakes it plainly. Made
/// before the clone; both sides hold it.
pub struct Doorbell(OwnedFd);

impl Doorbell {
    pub fn new() -> Result<Doorbell> {
        crate::sys::eventfd()
            .map(Doorbell)
            .ctx("cannot create eventfd")
    }

    /// Child side: wake the parent, after a message it does not wait on
    /// the socket for.
    pub fn ring(&self) -> Result<()> {
        nix::unistd::write(&self.0, &1u64.to_ne_bytes()).ctx("cannot write eventfd")?;
        Ok(())
    }

    /// Parent side: wait until the child rings or exits (`pidfd`); either
    /// way, what it sent is then on the socket.
    pub fn wait(&self, pidfd: BorrowedFd<'_>) -> Result<()> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut fds = [
            PollFd::new(self.0.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd, PollFlags::POLLIN),
        ];
        loop {
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("cannot wait for container init", e)),
            }
        }
    }
}

fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just received with SCM_RIGHTS; the kernel created it
    // in our fd table and nothing else refers to it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
