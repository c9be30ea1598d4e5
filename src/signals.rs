//! Signal names and numbers, and the blocked mask + signalfd the parent sets
//! up before cloning so a child that dies early is never missed.

use crate::error::{Context, Error, Result};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// The first and last real-time signals by name: "RTMIN" is 34, as glibc
/// (and so runc, crun and Docker) number it, whichever C library cella
/// is linked with (musl keeps 34 for itself and would say 35).
const RTMIN: i32 = 34;
const RTMAX: i32 = 64;

/// Parse "9", "KILL", "SIGKILL" or "sigkill" (and real-time "RTMIN+3").
pub fn parse(s: &str) -> Result<i32> {
    let bad = || {
        Error::Other(format!(
            "invalid signal {s:?}: use a number or a name such as TERM or SIGKILL"
        ))
    };
    if let Ok(n) = s.parse::<i32>() {
        if (1..=RTMAX).contains(&n) {
            return Ok(n);
        }
        return Err(bad());
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(off) = name.strip_prefix("RTMIN+") {
        let n = RTMIN + off.parse::<i32>().map_err(|_| bad())?;
        return if n <= RTMAX { Ok(n) } else { Err(bad()) };
    }
    if name == "RTMIN" {
        return Ok(RTMIN);
    }
    if name == "RTMAX" {
        return Ok(RTMAX);
    }
    let full = format!("SIG{name}");
    full.parse::<Signal>().map(|s| s as i32).map_err(|_| bad())
}

/// A signal's name for messages: "SIGTERM", "RTMIN+3", or its number.
pub fn name(sig: i32) -> String {
    match Signal::try_from(sig) {
        Ok(s) => s.as_str().to_string(),
        Err(_) if (RTMIN..=RTMAX).contains(&sig) => format!("RTMIN+{}", sig - RTMIN),
        Err(_) => format!("signal {sig}"),
    }
}

/// Block every signal in this process and return a signalfd reading them.
/// Returns the previous mask so children can restore it.
pub fn block_all() -> Result<(SignalFd, SigSet)> {
    // Not `SigSet::all()`: the C library leaves out of it the signals it
    // keeps for itself (glibc 32 and 33, musl 32 to 34), and one of those
    // sent to the runtime would kill it instead of being forwarded.
    let all = crate::sys::every_signal();
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), Some(&mut old))
        .ctx("cannot block signals")?;
    let fd = SignalFd::with_flags(&all, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .ctx("cannot create signalfd")?;
    Ok((fd, old))
}

/// In the child: an empty mask and default dispositions before exec.
pub fn reset_for_exec() -> Result<()> {
    for sig in Signal::iterator() {
        if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SIG_DFL never fails for a catchable signal. Ignored signals are
        // reset too, so the container starts clean.
        let _ = reset(sig);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .ctx("cannot unblock signals")
}

/// Ignore SIGPIPE, as Rust's runtime does before its `main` (see
/// main.rs): a write to a peer that has gone fails with EPIPE instead of
/// killing the runtime half-way through a start. Reset for the container
/// by `reset_for_exec`.
pub fn ignore_sigpipe() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler};
    let act = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN runs no handler code; it cannot violate any Rust
    // invariant.
    let _ = unsafe { sigaction(Signal::SIGPIPE, &act) };
}

fn reset(sig: Signal) -> nix::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler};
    let act = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: installing SIG_DFL runs no handler code; it cannot violate
    // any Rust invariant.
    unsafe { sigaction(sig, &act) }.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("9").unwrap(), 9);
        assert_eq!(parse("KILL").unwrap(), 9);
        assert_eq!(parse("SIGTERM").unwrap(), 15);
        assert_eq!(parse("hup").unwrap(), 1);
        assert_eq!(parse("RTMIN+1").unwrap(), 35);
        assert_eq!(parse("SIGRTMIN").unwrap(), 34);
        assert_eq!(parse("RTMAX").unwrap(), 64);
        assert!(parse("RTMIN+31").is_err());
        assert!(parse("BOGUS").is_err());
        assert!(parse("0").is_err());
        assert!(parse("999").is_err());
        assert_eq!(name(15), "SIGTERM");
        assert_eq!(name(37), "RTMIN+3");
        assert_eq!(name(32), "signal 32");
    }
}
