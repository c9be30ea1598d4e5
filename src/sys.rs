//! The raw system calls nix does not wrap. This is one of the few modules
//! allowed to use `unsafe`; each block says why it is sound.

use nix::errno::Errno;
use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The outcome of [`clone_fork`]: which side of the fork we are on.
pub enum Forked {
    Parent(i32),
    Child,
}

/// `clone(2)` with fork semantics (no new stack): the child continues from
/// this call on a copy of the parent's memory, already inside the namespaces
/// that `flags` asks for.
///
/// Only sound while the calling process is single-threaded, exactly like
/// `fork(2)`: cella never starts a thread before this point.
pub fn clone_fork(flags: libc::c_ulong) -> nix::Result<Forked> {
    // SAFETY: a NULL stack makes clone behave like fork(2); the parent and
    // child each keep their own copy of the address space. No pointers are
    // passed, and the process is single-threaded (stated by the caller), so
    // no lock can be held by a thread that does not exist in the child.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags | libc::SIGCHLD as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as i32)),
    }
}

/// Drop capability number `cap` from the bounding set
/// (`prctl(PR_CAPBSET_DROP)`).
pub fn capbset_drop(cap: u8) -> nix::Result<()> {
    // SAFETY: PR_CAPBSET_DROP takes one integer argument; no memory is
    // passed.
    let ret = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
    Errno::result(ret).map(drop)
}

/// A close-on-exec eventfd (`eventfd(2)`), counter at zero.
pub fn eventfd() -> nix::Result<OwnedFd> {
    // SAFETY: eventfd takes two integers and returns a new fd or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A file descriptor that refers to a process (`pidfd_open(2)`): it becomes
/// readable when the process exits, whoever its parent is.
pub fn pidfd_open(pid: i32) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and returns a new fd or -1.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// Mark every fd from `first` upwards close-on-exec, so nothing the runtime
/// opened can reach the container's program (CVE-2024-21626).
pub fn cloexec_from(first: u32) -> nix::Result<()> {
    // SAFETY: close_range takes integers only; with CLOSE_RANGE_CLOEXEC it
    // closes nothing, it only sets a flag.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    Errno::result(ret).map(drop)
}

/// Make `fd` the controlling terminal of this (session leader) process.
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> nix::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument; fd is a live descriptor.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    Errno::result(ret).map(drop)
}

/// Unlock a pty master so its peer can be opened.
pub fn unlockpt(master: BorrowedFd<'_>) -> nix::Result<()> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int through the pointer, which lives on
    // this stack frame for the duration of the call.
    let ret = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) };
    Errno::result(ret).map(drop)
}

/// Open the peer (slave) of a pty master through the master itself
/// (`TIOCGPTPEER`), never through a path in /dev/pts that the container could
/// have replaced (CVE-2025-52565).
pub fn open_pty_peer(master: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes the open flags as its integer argument and
    // returns a new fd.
    let ret = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    let fd = Errno::result(ret)?;
    // SAFETY: the kernel returned a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Read a terminal's window size.
pub fn get_winsize(fd: BorrowedFd<'_>) -> nix::Result<libc::winsize> {
    // SAFETY: winsize is plain old data; all-zero is a valid value.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize through the pointer to a live local.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    Errno::result(ret).map(|_| ws)
}

/// Set a terminal's window size.
pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> nix::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize through the pointer to a live local.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    Errno::result(ret).map(drop)
}

/// Join a fresh anonymous session keyring, so the container does not share
/// the caller's keys.
pub fn join_session_keyring(name: &CStr) -> nix::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: the name pointer is a valid NUL-terminated string for the
    // duration of the call; the kernel copies it.
    let ret =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    Errno::result(ret).map(drop)
}

/// Set the process umask and return the old one.
pub fn umask(mask: u32) -> u32 {
    // SAFETY: umask cannot fail and touches only this process's umask.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}

/// Process start time in clock ticks since boot (field 22 of /proc/PID/stat),
/// used to tell a container's init from a later process that reuses its pid.
/// Also returns the one-letter process state.
pub fn proc_start_time(pid: i32) -> Option<(u64, char)> {
    let stat = crate::kfile::read(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: parse
    // from the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // `rest` starts at field 3; start time is field 22.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((start, state))
}

/// Set the NIS domain name of this UTS namespace (nix has no wrapper).
pub fn setdomainname(name: &str) -> nix::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, which live for
    // the duration of the call; the kernel copies them.
    let ret = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(ret).map(drop)
}

#[repr(C)]
#[derive(Default)]
struct BpfProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct BpfProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// Load a `BPF_PROG_TYPE_CGROUP_DEVICE` program. On a verifier error the
/// verifier's log comes back as the error text.
pub fn bpf_load_device_program(insns: &[u64]) -> Result<OwnedFd, String> {
    let license = c"GPL";
    let mut log = vec![0u8; 16 * 1024];
    let attr = BpfProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        ..Default::default()
    };
    // SAFETY: attr is a properly laid out bpf_attr prefix for
    // BPF_PROG_LOAD; every pointer in it (instructions, license, log
    // buffer) points at memory that outlives the call, and the size passed
    // is the struct's own.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const BpfProgLoad,
            std::mem::size_of::<BpfProgLoad>(),
        )
    };
    if ret < 0 {
        let errno = Errno::last();
        let text = String::from_utf8_lossy(&log);
        let text = text.trim_end_matches('\0').trim();
        return Err(if text.is_empty() {
            errno.to_string()
        } else {
            format!("{errno}: {text}")
        });
    }
    // SAFETY: the kernel returned a new program fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// Attach a device program to a cgroup v2 directory (`BPF_F_ALLOW_MULTI`,
/// so programs of parent cgroups keep applying as well).
pub fn bpf_attach_device_program(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> nix::Result<()> {
    let attr = BpfProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    // SAFETY: attr is a bpf_attr prefix for BPF_PROG_ATTACH holding only
    // integers; it lives for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const BpfProgAttach,
            std::mem::size_of::<BpfProgAttach>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// Duplicate a descriptor another library owns, so we hold our own.
pub fn dup_raw(fd: RawFd) -> nix::Result<OwnedFd> {
    // SAFETY: the caller got `fd` from a live owner (libseccomp's filter
    // context) that keeps it open for the duration of this call; dup makes
    // an independent descriptor.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    nix::unistd::dup(borrowed)
}

/// `struct clone_args` of clone3(2), up to the `cgroup` field.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `clone3(2)` with fork semantics, the child born directly in the cgroup
/// v2 directory `cgroup` (`CLONE_INTO_CGROUP`): no migration afterwards,
/// so no wait for the kernel's cgroup write lock. Same single-thread
/// requirement as [`clone_fork`].
pub fn clone_into_cgroup(flags: libc::c_ulong, cgroup: BorrowedFd<'_>) -> nix::Result<Forked> {
    let args = CloneArgs {
        flags: flags | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..Default::default()
    };
    // SAFETY: with no stack given, clone3 behaves like fork(2): the child
    // runs on a copy-on-write copy of this stack. `args` is a valid
    // clone_args of the size passed and lives through the call; the
    // process is single-threaded (stated by the caller).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as i32)),
    }
}

/// Mount attributes for [`mount_setattr`] (`MOUNT_ATTR_*` in linux/mount.h).
pub mod mount_attr {
    pub const RDONLY: u64 = 0x1;
    pub const NOSUID: u64 = 0x2;
    pub const NODEV: u64 = 0x4;
    pub const NOEXEC: u64 = 0x8;
    /// The atime mode is a field, not a bit: clear it, then set one of
    /// RELATIME (0), NOATIME or STRICTATIME.
    pub const ATIME_MASK: u64 = 0x70;
    pub const RELATIME: u64 = 0x0;
    pub const NOATIME: u64 = 0x10;
    pub const STRICTATIME: u64 = 0x20;
    pub const NODIRATIME: u64 = 0x80;
}

/// Change the attributes of the mount at `path` and, with `recursive`, of
/// every mount beneath it, in one call (`mount_setattr(2)`, Linux 5.12).
/// Attributes in neither `set` nor `clear` stay as they are.
pub fn mount_setattr(
    path: &std::path::Path,
    recursive: bool,
    set: u64,
    clear: u64,
) -> nix::Result<()> {
    let path = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
        .map_err(|_| Errno::EINVAL)?;
    let flags = if recursive { libc::AT_RECURSIVE } else { 0 };
    setattr(libc::AT_FDCWD, &path, flags, set, clear, 0)
}

/// Whether this kernel has mount_setattr(2) (Linux 5.12): asked with a
/// call that can only fail.
pub fn mount_setattr_exists() -> bool {
    // SAFETY: a null attribute pointer with size 0 and fd -1 is rejected
    // (EBADF or EINVAL) before anything is read; only ENOSYS says the call
    // is missing.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            std::ptr::null::<u8>(),
            0usize,
        )
    };
    !(r < 0 && Errno::last() == Errno::ENOSYS)
}

/// [`mount_setattr`] on the mount `fd` refers to (a detached one from
/// `fsmount`, say) and every mount beneath it, with a propagation type
/// (`MS_SLAVE`, `MS_PRIVATE`, ...; 0 leaves it) for all of them too.
pub fn mount_setattr_tree(
    fd: std::os::fd::BorrowedFd<'_>,
    set: u64,
    clear: u64,
    propagation: u64,
) -> nix::Result<()> {
    use std::os::fd::AsRawFd;
    setattr(
        fd.as_raw_fd(),
        c"",
        libc::AT_RECURSIVE | libc::AT_EMPTY_PATH,
        set,
        clear,
        propagation,
    )
}

fn setattr(
    dirfd: libc::c_int,
    path: &std::ffi::CStr,
    flags: libc::c_int,
    set: u64,
    clear: u64,
    propagation: u64,
) -> nix::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation,
        userns_fd: 0,
    };
    // SAFETY: the path is a valid NUL-terminated string and attr a
    // properly sized, initialised struct mount_attr; both outlive the
    // call, and the kernel only reads them. dirfd is a descriptor the
    // caller holds open (or AT_FDCWD).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// `kill(2)` by signal number: nix's `Signal` has no real-time signals.
pub fn kill(pid: i32, sig: i32) -> nix::Result<()> {
    // SAFETY: kill takes plain integers and touches no memory of ours.
    let ret = unsafe { libc::kill(pid, sig) };
    Errno::result(ret).map(drop)
}

/// The set of every signal, 1 to 64, including those the C library keeps
/// for itself and leaves out of `sigfillset` (the kernel ignores SIGKILL
/// and SIGSTOP in a mask).
pub fn every_signal() -> nix::sys::signal::SigSet {
    // SAFETY: sigset_t is plain data (an array of words); all zero bits is
    // the empty set, and sigemptyset makes it so in any case.
    let mut raw: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `raw` is a valid, writable sigset_t.
    unsafe { libc::sigemptyset(&mut raw) };
    // SAFETY: both C libraries' sigset_t on Linux begin with the kernel's
    // 64-bit mask (signal n at bit n-1), and sigset_t is larger than 8
    // bytes and at least 8-byte aligned.
    unsafe {
        (&mut raw as *mut libc::sigset_t)
            .cast::<u64>()
            .write(u64::MAX)
    };
    // SAFETY: `raw` was initialised by sigemptyset and holds valid signals.
    unsafe { nix::sys::signal::SigSet::from_sigset_t_unchecked(raw) }
}

/// The command line from the `argc` and `argv` that C's `main` received.
///
/// Rust's standard library for glibc targets learns the arguments from
/// glibc, which passes them to every `.init_array` function; musl does not,
/// so a binary linked with musl (`scripts/build-release.sh`) must take them
/// from `main` itself.
///
/// # Safety
///
/// `argv` must point to `argc` valid, NUL-terminated strings, as the
/// arguments of the C `main` do for the life of the process.
pub unsafe fn args_from_main(
    argc: libc::c_int,
    argv: *const *const libc::c_char,
) -> Vec<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    let n = usize::try_from(argc).unwrap_or(0);
    let mut args = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: the caller guarantees `argc` entries of `argv`, each a
        // NUL-terminated string that lives as long as the process.
        let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
        args.push(std::ffi::OsStr::from_bytes(arg.to_bytes()).to_os_string());
    }
    args
}

/// Give each of fds 0, 1 and 2 that is closed a /dev/null, as Rust's
/// runtime does before its `main` (cella starts without it, see main.rs):
/// otherwise the next file opened would become stdin, stdout or stderr.
pub fn sanitize_stdio() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is an array of three initialised pollfd that outlives
    // the call; a zero timeout makes it return at once.
    let ret = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) };
    if ret < 0 {
        return;
    }
    for p in fds {
        if p.revents & libc::POLLNVAL != 0 {
            // The lowest free fd is the closed one; keep it open for good,
            // and across exec (no O_CLOEXEC): it is stdio.
            if let Ok(f) = nix::fcntl::open(
                "/dev/null",
                nix::fcntl::OFlag::O_RDWR,
                nix::sys::stat::Mode::empty(),
            ) {
                let _ = std::os::fd::IntoRawFd::into_raw_fd(f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_signal_includes_the_c_librarys_own() {
        let all = super::every_signal();
        for n in [1, 9, 15, 32, 33, 34, 35, 64] {
            // SAFETY: sigismember reads a valid set; n is a signal number.
            let member = unsafe { libc::sigismember(all.as_ref(), n) };
            assert_eq!(member, 1, "signal {n} is not in the set");
        }
    }
}
