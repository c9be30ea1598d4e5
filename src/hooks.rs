//! OCI hooks: each runs with the container's state JSON on stdin, its own
//! args and env, and an optional timeout. The caller decides whether a
//! failure is fatal (create-time hooks) or a warning (poststart, poststop).

use crate::error::{Error, Result};
use crate::sys;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use oci_spec::runtime::Hook;
use std::io::{Read, Seek, Write};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

/// Run `hooks` in order; stop at the first failure.
pub fn run_all(kind: &'static str, hooks: &[Hook], state: &serde_json::Value) -> Result<()> {
    let input = serde_json::to_vec(state).map_err(|e| Error::Other(e.to_string()))?;
    for h in hooks {
        run_one(kind, h, &input)?;
    }
    Ok(())
}

/// Run `hooks`; log failures as warnings and go on (poststart, poststop).
pub fn run_all_warn(kind: &'static str, hooks: &[Hook], state: &serde_json::Value) {
    if hooks.is_empty() {
        return;
    }
    let Ok(input) = serde_json::to_vec(state) else {
        return;
    };
    for h in hooks {
        if let Err(e) = run_one(kind, h, &input) {
            tracing::warn!("{e}");
        }
    }
}

fn run_one(kind: &'static str, h: &Hook, input: &[u8]) -> Result<()> {
    let path = h.path().display().to_string();
    let fail = |reason: String| Error::Hook {
        hook: kind,
        path: path.clone(),
        reason,
    };
    let mut out = memfd().map_err(|e| fail(format!("cannot capture output: {e}")))?;
    let mut cmd = Command::new(h.path());
    let args = h.args().as_deref().unwrap_or(&[]);
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let err_out = out.try_clone().map_err(|e| fail(e.to_string()))?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::from(
            out.try_clone().map_err(|e| fail(e.to_string()))?,
        ))
        .stderr(Stdio::from(err_out));
    // Its own process group, so a timeout ends whatever the hook started.
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("cannot be started: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is not an error.
        let _ = stdin.write_all(input);
    }
    if let Some(secs) = h.timeout() {
        if secs <= 0 {
            return Err(fail(format!(
                "has an invalid timeout {secs}: it must be positive"
            )));
        }
        let pidfd = sys::pidfd_open(child.id() as i32).map_err(|e| fail(e.to_string()))?;
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        let ms = (secs as u64 * 1000).min(i32::MAX as u64) as i32;
        let ready = loop {
            match poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other.unwrap_or(0),
            }
        };
        if ready == 0 {
            let group = nix::unistd::Pid::from_raw(-(child.id() as i32));
            let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!("timed out after {secs}s")));
        }
    }
    let status = child.wait().map_err(|e| fail(e.to_string()))?;
    if status.success() {
        return Ok(());
    }
    let mut text = String::new();
    let _ = out.rewind();
    let _ = out.read_to_string(&mut text);
    let text = text.trim();
    let how = match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(s)) => format!("was killed by signal {s}"),
        _ => "failed".into(),
    };
    Err(fail(if text.is_empty() {
        how
    } else {
        format!("{how}: {text}")
    }))
}

fn memfd() -> std::io::Result<std::fs::File> {
    let fd = nix::sys::memfd::memfd_create(
        c"cella-hook-output",
        nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
    )?;
    Ok(std::fs::File::from(fd))
}
