//! Commands that work through the container's cgroup: update, events, ps.

use crate::engine::control;
use crate::state::Store;
use anyhow::{bail, Context as _, Result};
use clap::Args;
use serde_json::{json, Value};
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug, PartialEq)]
pub struct UpdateArgs {
    /// Container id
    pub id: String,
    /// A JSON LinuxResources object from FILE, or '-' for stdin; the flags below override it
    #[arg(long, short, value_name = "FILE")]
    pub resources: Option<PathBuf>,
    /// Memory limit (bytes, or with a k/m/g suffix; -1 for none)
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (-1 for unlimited swap)
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Relative CPU weight (cgroup v1 shares; converted on v2)
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    /// CPU CFS period in microseconds
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds (-1 for none)
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Real-time period in microseconds (v1)
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// Real-time runtime in microseconds (v1)
    #[arg(long = "cpu-rt-runtime")]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs the container may use (e.g. 0-1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes (-1 or 0 for none)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10 to 1000)
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
}

#[derive(Args, Debug, PartialEq)]
pub struct EventsArgs {
    /// Container id
    pub id: String,
    /// Print one stats event and exit
    #[arg(long)]
    pub stats: bool,
    /// Interval between stats events, e.g. 5s, 500ms
    #[arg(long, default_value = "5s")]
    pub interval: String,
}

#[derive(Args, Debug, PartialEq)]
pub struct PsArgs {
    /// Container id
    pub id: String,
    /// table (ps output filtered to the container) or json (a list of pids)
    #[arg(long, short, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Arguments for ps(1) (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// Sizes as runc takes them: bytes, or a number with k, m, g, t (binary),
/// optionally followed by b or ib; -1 for unlimited.
pub fn parse_size(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.trim_end_matches("ib").trim_end_matches('b');
    let (digits, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = digits
        .trim()
        .parse()
        .with_context(|| format!("invalid size {s:?}: use bytes or a number with k, m, g or t"))?;
    Ok((v * mult as f64) as i64)
}

pub fn update(store: &Store, a: &UpdateArgs) -> Result<i32> {
    let mut r: Value = match &a.resources {
        None => json!({}),
        Some(p) => {
            let mut text = String::new();
            if p.as_os_str() == "-" {
                std::io::stdin().read_to_string(&mut text)?;
            } else {
                text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read {}", p.display()))?;
            }
            serde_json::from_str(&text)
                .with_context(|| format!("malformed resources JSON in {}", p.display()))?
        }
    };
    let mut set = |section: &str, key: &str, v: Value| {
        r[section][key] = v;
    };
    if let Some(v) = &a.memory {
        set("memory", "limit", json!(parse_size(v)?));
    }
    if let Some(v) = &a.memory_reservation {
        set("memory", "reservation", json!(parse_size(v)?));
    }
    if let Some(v) = &a.memory_swap {
        set("memory", "swap", json!(parse_size(v)?));
    }
    if let Some(v) = a.cpu_share {
        set("cpu", "shares", json!(v));
    }
    if let Some(v) = a.cpu_period {
        set("cpu", "period", json!(v));
    }
    if let Some(v) = a.cpu_quota {
        set("cpu", "quota", json!(v));
    }
    if let Some(v) = a.cpu_rt_period {
        set("cpu", "realtimePeriod", json!(v));
    }
    if let Some(v) = a.cpu_rt_runtime {
        set("cpu", "realtimeRuntime", json!(v));
    }
    if let Some(v) = &a.cpuset_cpus {
        set("cpu", "cpus", json!(v));
    }
    if let Some(v) = &a.cpuset_mems {
        set("cpu", "mems", json!(v));
    }
    if let Some(v) = a.pids_limit {
        set("pids", "limit", json!(v));
    }
    if let Some(v) = a.blkio_weight {
        set("blockIO", "weight", json!(v));
    }
    let res: oci_spec::runtime::LinuxResources = serde_json::from_value(r)
        .context("invalid resources: expected an OCI LinuxResources object")?;
    control::update(store, &a.id, &res)?;
    Ok(0)
}

pub fn parse_interval(s: &str) -> Result<Duration> {
    let t = s.trim();
    let (num, unit) = t.split_at(
        t.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(t.len()),
    );
    let v: f64 = num
        .parse()
        .with_context(|| format!("invalid interval {s:?}: use e.g. 5s or 500ms"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" | "" => v,
        "m" => v * 60.0,
        _ => bail!("invalid interval {s:?}: use e.g. 5s or 500ms"),
    };
    if secs <= 0.0 {
        bail!("interval {s:?} must be positive");
    }
    Ok(Duration::from_secs_f64(secs))
}

pub fn events(store: &Store, a: &EventsArgs) -> Result<i32> {
    if a.stats {
        println!("{}", control::stats_event(store, &a.id)?);
        return Ok(0);
    }
    let interval = parse_interval(&a.interval)?;
    control::events(store, &a.id, interval, &mut std::io::stdout().lock())?;
    Ok(0)
}

pub fn ps(store: &Store, a: &PsArgs) -> Result<i32> {
    let pids = control::pids(store, &a.id)?;
    if a.format == "json" {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    let args: Vec<String> = if a.ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        a.ps_args.clone()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("cannot run ps")?;
    if !out.status.success() {
        bail!(
            "ps {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps output has no PID column: include pid in the ps format")?;
    println!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("10m").unwrap(), 10 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("-1").unwrap(), -1);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_interval("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("x").is_err());
    }
}
