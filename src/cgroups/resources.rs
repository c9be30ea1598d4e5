//! Writing `linux.resources` into the container's cgroup, on v1 and v2.
//! Values given in v1 terms (cpu shares, blkio weight) are converted for v2
//! the way runc converts them, so one config works on both.

use super::{CgroupPaths, Hierarchy};
use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};
use std::fs;

/// Devices every container may use whatever its rules say (the same set
/// runc and crun allow): null, zero, full, tty, random, urandom, the pty
/// multiplexer and its slaves, plus mknod of anything.
const DEFAULT_ALLOWED: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 5:0 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

pub fn apply(paths: &CgroupPaths, r: &LinuxResources, extra_devices: &[String]) -> Result<()> {
    refuse_unsupported(r)?;
    if let Some(m) = r.memory() {
        if let Some(limit) = m.limit() {
            set(
                paths,
                "memory",
                "memory.limit_in_bytes",
                "memory.max",
                limit_str(limit),
            )?;
        }
        if let Some(res) = m.reservation() {
            set(
                paths,
                "memory",
                "memory.soft_limit_in_bytes",
                "memory.low",
                limit_str(res),
            )?;
        }
        if let Some(swap) = m.swap() {
            // v1 counts memory+swap; v2 counts swap alone.
            let h = need(paths, "memory", "memory.memsw.limit_in_bytes")?;
            if h.v2 {
                let v2 = match (swap, m.limit()) {
                    (-1, _) => "max".to_string(),
                    (s, Some(l)) if l > 0 => (s - l).max(0).to_string(),
                    (s, _) => s.to_string(),
                };
                write(h, "memory.swap.max", &v2)?;
            } else {
                write(h, "memory.memsw.limit_in_bytes", &swap.to_string())?;
            }
        }
        if let Some(sw) = m.swappiness() {
            let h = need(paths, "memory", "memory.swappiness")?;
            if !h.v2 {
                write(h, "memory.swappiness", &sw.to_string())?;
            }
        }
        if m.disable_oom_killer() == Some(true) {
            let h = need(paths, "memory", "memory.oom_control")?;
            if !h.v2 {
                write(h, "memory.oom_control", "1")?;
            }
        }
    }
    if let Some(p) = r.pids() {
        let v = if p.limit() <= 0 {
            "max".to_string()
        } else {
            p.limit().to_string()
        };
        set(paths, "pids", "pids.max", "pids.max", v)?;
    }
    if let Some(c) = r.cpu() {
        if let Some(shares) = c.shares() {
            let h = need(paths, "cpu", "cpu.shares")?;
            if h.v2 {
                write(h, "cpu.weight", &shares_to_weight(shares).to_string())?;
            } else {
                write(h, "cpu.shares", &shares.to_string())?;
            }
        }
        if c.quota().is_some() || c.period().is_some() {
            let h = need(paths, "cpu", "cpu.cfs_quota_us")?;
            if h.v2 {
                let quota = match c.quota() {
                    Some(q) if q > 0 => q.to_string(),
                    _ => "max".to_string(),
                };
                let period = c.period().unwrap_or(100_000);
                write(h, "cpu.max", &format!("{quota} {period}"))?;
            } else {
                if let Some(p) = c.period() {
                    write(h, "cpu.cfs_period_us", &p.to_string())?;
                }
                if let Some(q) = c.quota() {
                    write(h, "cpu.cfs_quota_us", &q.to_string())?;
                }
            }
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            set(
                paths,
                "cpuset",
                "cpuset.cpus",
                "cpuset.cpus",
                cpus.to_string(),
            )?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            set(
                paths,
                "cpuset",
                "cpuset.mems",
                "cpuset.mems",
                mems.to_string(),
            )?;
        }
    }
    apply_devices(paths, r.devices().as_deref().unwrap_or(&[]), extra_devices)
}

/// Fields this build does not implement yet are refused by name rather than
/// silently ignored.
fn refuse_unsupported(r: &LinuxResources) -> Result<()> {
    let mut unsupported = Vec::new();
    if r.block_io().is_some() {
        unsupported.push("blockIO");
    }
    if r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty()) {
        unsupported.push("hugepageLimits");
    }
    if r.network().is_some() {
        unsupported.push("network");
    }
    if r.rdma().as_ref().is_some_and(|v| !v.is_empty()) {
        unsupported.push("rdma");
    }
    if r.unified().as_ref().is_some_and(|v| !v.is_empty()) {
        unsupported.push("unified");
    }
    if let Some(c) = r.cpu() {
        if c.realtime_runtime().is_some() || c.realtime_period().is_some() {
            unsupported.push("cpu.realtimeRuntime/realtimePeriod");
        }
    }
    if unsupported.is_empty() {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "linux.resources.{} is not supported by this version of cella: remove it from config.json",
            unsupported.join(", linux.resources.")
        )))
    }
}

/// v1 device rules: deny everything, then replay the config's rules in
/// order, then the defaults and the config's own devices. On v2 the rules
/// need an eBPF program, which this version does not load yet.
fn apply_devices(paths: &CgroupPaths, rules: &[LinuxDeviceCgroup], extra: &[String]) -> Result<()> {
    let Some(h) = paths.hierarchies.iter().find(|h| h.has("devices")) else {
        if !rules.is_empty() {
            tracing::warn!(
                "no devices cgroup controller: device rules are not enforced by a cgroup"
            );
        }
        return Ok(());
    };
    write(h, "devices.deny", "a")?;
    for rule in rules {
        let line = device_rule(rule);
        let file = if rule.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        write(h, file, &line)?;
    }
    for line in DEFAULT_ALLOWED
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
    {
        write(h, "devices.allow", line)?;
    }
    Ok(())
}

fn device_rule(rule: &LinuxDeviceCgroup) -> String {
    let typ = match rule.typ() {
        Some(LinuxDeviceType::B) => "b",
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => "c",
        Some(LinuxDeviceType::P) => "p",
        Some(LinuxDeviceType::A) | None => "a",
    };
    let num = |n: Option<i64>| n.map_or("*".to_string(), |v| v.to_string());
    let access = rule.access().clone().unwrap_or_else(|| "rwm".into());
    if typ == "a" {
        return "a".into();
    }
    format!("{typ} {}:{} {access}", num(rule.major()), num(rule.minor()))
}

/// runc's conversion from cgroup v1 cpu.shares [2, 262144] to v2 cpu.weight
/// [1, 10000].
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

fn limit_str(v: i64) -> String {
    if v < 0 {
        "-1".into()
    } else {
        v.to_string()
    }
}

fn need<'a>(paths: &'a CgroupPaths, controller: &str, file: &str) -> Result<&'a Hierarchy> {
    paths.find(controller).ok_or_else(|| {
        Error::Other(format!(
            "cannot set {file}: the {controller} cgroup controller is not mounted or not enabled on this host"
        ))
    })
}

fn set(paths: &CgroupPaths, controller: &str, v1: &str, v2: &str, value: String) -> Result<()> {
    let h = need(paths, controller, v1)?;
    if h.v2 {
        let value = if value == "-1" { "max".into() } else { value };
        write(h, v2, &value)
    } else {
        write(h, v1, &value)
    }
}

fn write(h: &Hierarchy, file: &str, value: &str) -> Result<()> {
    let path = h.dir.join(file);
    fs::write(&path, value)
        .map_err(|e| Error::Other(format!("cannot write {value:?} to {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_convert_like_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(0), 0);
    }
}
