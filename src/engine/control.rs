//! Operations on a live container through its cgroup: pause, resume,
//! update, the process list, statistics and OOM events, and signalling
//! every process.

use crate::cgroups::{self, CgroupPaths};
use crate::error::{Error, Result};
use crate::state::{Record, Status, Store};
use oci_spec::runtime::LinuxResources;
use std::io::Write;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

fn live(store: &Store, id: &str, verb: &str) -> Result<(Record, Status)> {
    let rec = store.load(id)?;
    let status = store.status(&rec);
    if matches!(status, Status::Stopped | Status::Creating) {
        return Err(Error::State(format!(
            "cannot {verb} container \"{id}\": container not running (it is {status})"
        )));
    }
    Ok((rec, status))
}

pub fn pause(store: &Store, id: &str) -> Result<()> {
    let _lock = store.lock(id)?;
    let (rec, status) = live(store, id, "pause")?;
    if status == Status::Paused {
        return Err(Error::State(format!(
            "container \"{id}\" is already paused"
        )));
    }
    rec.cgroup.set_frozen(true)
}

pub fn resume(store: &Store, id: &str) -> Result<()> {
    let _lock = store.lock(id)?;
    let (rec, status) = live(store, id, "resume")?;
    if status != Status::Paused {
        return Err(Error::State(format!(
            "cannot resume container \"{id}\": it is {status}, not paused"
        )));
    }
    rec.cgroup.set_frozen(false)
}

/// Change the limits of a live container; device rules are left alone.
pub fn update(store: &Store, id: &str, r: &LinuxResources) -> Result<()> {
    let _lock = store.lock(id)?;
    let (rec, _) = live(store, id, "update")?;
    cgroups::apply_resources(&rec.cgroup, r, None)
}

/// Host pids of every process in the container.
pub fn pids(store: &Store, id: &str) -> Result<Vec<i32>> {
    let rec = store.load(id)?;
    let mut pids = rec.cgroup.procs();
    pids.sort_unstable();
    Ok(pids)
}

/// One `stats` event, in runc's JSON shape.
pub fn stats_event(store: &Store, id: &str) -> Result<serde_json::Value> {
    let (rec, _) = live(store, id, "read statistics of")?;
    Ok(serde_json::json!({"type": "stats", "id": id, "data": cgroups::stats::collect(&rec.cgroup)}))
}

/// Stream events to `out` until the container stops: a `stats` event every
/// `interval`, and an `oom` event as soon as the kernel OOM-kills a process
/// in the container (checked every 100 ms, and once more after init exits,
/// so the kill that ended it is reported too).
pub fn events(store: &Store, id: &str, interval: Duration, out: &mut dyn Write) -> Result<()> {
    let (rec, _) = live(store, id, "watch events of")?;
    let pidfd = crate::sys::pidfd_open(rec.pid)
        .map_err(|e| Error::sys("cannot watch container init", e))?;
    let mut ooms = cgroups::stats::oom_kills(&rec.cgroup);
    let mut next_stats = Instant::now();
    let emit = |out: &mut dyn Write, v: serde_json::Value| -> Result<()> {
        writeln!(out, "{v}")
            .and_then(|_| out.flush())
            .map_err(|e| Error::Other(format!("cannot write event: {e}")))
    };
    loop {
        let now = Instant::now();
        if now >= next_stats {
            emit(
                out,
                serde_json::json!({"type": "stats", "id": id, "data": cgroups::stats::collect(&rec.cgroup)}),
            )?;
            next_stats = now + interval;
        }
        let n = cgroups::stats::oom_kills(&rec.cgroup);
        if n > ooms {
            ooms = n;
            emit(out, serde_json::json!({"type": "oom", "id": id}))?;
        }
        let wait = next_stats
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(100));
        let mut fds = [nix::poll::PollFd::new(
            pidfd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ms = nix::poll::PollTimeout::try_from(wait.as_millis() as i32)
            .unwrap_or(nix::poll::PollTimeout::ZERO);
        if let Ok(1..) = nix::poll::poll(&mut fds, ms) {
            if cgroups::stats::oom_kills(&rec.cgroup) > ooms {
                emit(out, serde_json::json!({"type": "oom", "id": id}))?;
            }
            return Ok(());
        }
    }
}

/// Send `signal` to every process in the cgroup. SIGKILL is sent with the
/// cgroup frozen, so nothing can fork away in between, then thawed (a v1
/// frozen task only dies once thawed). On v2, `cgroup.kill` does it in one
/// write.
pub fn signal_all(cg: &CgroupPaths, signal: i32) {
    if signal == libc::SIGKILL {
        if let Some(h) = cg.hierarchies.iter().find(|h| h.v2 && cg.unified_only()) {
            if std::fs::write(h.dir.join("cgroup.kill"), "1").is_ok() {
                return;
            }
        }
        let _ = cg.set_frozen(true);
        for pid in cg.procs() {
            let _ = crate::sys::kill(pid, signal);
        }
        let _ = cg.set_frozen(false);
        return;
    }
    for pid in cg.procs() {
        let _ = crate::sys::kill(pid, signal);
    }
}
