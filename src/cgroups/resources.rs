//! Writing `linux.resources` into the container's cgroup, on v1 and v2.
//! Values given in v1 terms (cpu shares, blkio weight, memory+swap) are
//! converted for v2 the way runc converts them, so one config works on both.

use super::convert::{blkio_weight_to_io_weight, shares_to_weight, swap_v1_to_v2};
use super::{CgroupPaths, Hierarchy};
use crate::error::{Error, Result};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory, LinuxResources,
    LinuxThrottleDevice,
};
use std::fs;
use std::path::Path;

/// Devices every container may use whatever its rules say (the set runc
/// and crun allow): mknod of anything, null, zero, full, tty, random,
/// urandom, the pty multiplexer and its slaves, tun.
pub const DEFAULT_ALLOWED: &[&str] = &[
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

/// Apply every limit. `devices` is `Some` at create (rules plus the
/// container's own device nodes) and `None` for `update`, which leaves the
/// device rules alone.
pub fn apply(paths: &CgroupPaths, r: &LinuxResources, devices: Option<&[String]>) -> Result<()> {
    if let Some(m) = r.memory() {
        memory(paths, m)?;
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
        cpu(paths, c)?;
    }
    if let Some(b) = r.block_io() {
        blkio(paths, b)?;
    }
    for h in r.hugepage_limits().iter().flatten() {
        let size = h.page_size();
        let hier = need(paths, "hugetlb", "hugetlb limits")?;
        if hier.v2 {
            write(hier, &format!("hugetlb.{size}.max"), &limit_v2(h.limit()))?;
        } else {
            write(
                hier,
                &format!("hugetlb.{size}.limit_in_bytes"),
                &h.limit().to_string(),
            )?;
        }
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            let h = need_v1(paths, "net_cls", "linux.resources.network.classID")?;
            write(h, "net_cls.classid", &id.to_string())?;
        }
        for p in n.priorities().iter().flatten() {
            let h = need_v1(paths, "net_prio", "linux.resources.network.priorities")?;
            write(
                h,
                "net_prio.ifpriomap",
                &format!("{} {}", p.name(), p.priority()),
            )?;
        }
    }
    for (dev, limit) in r.rdma().iter().flatten() {
        let h = need(paths, "rdma", "linux.resources.rdma")?;
        let mut v = dev.clone();
        if let Some(x) = limit.hca_handles() {
            v.push_str(&format!(" hca_handle={x}"));
        }
        if let Some(x) = limit.hca_objects() {
            v.push_str(&format!(" hca_object={x}"));
        }
        write(h, "rdma.max", &v)?;
    }
    for (key, value) in r.unified().iter().flatten() {
        if key.contains('/') || key.starts_with('.') || !key.contains('.') {
            return Err(Error::Config(format!(
                "linux.resources.unified key {key:?} is not a cgroup v2 file name"
            )));
        }
        let h = paths.hierarchies.iter().find(|h| h.v2).ok_or_else(|| {
            Error::Config(format!(
                "linux.resources.unified ({key}) needs cgroup v2, which is not mounted on this host"
            ))
        })?;
        write(h, key, value)?;
    }
    if let Some(extra) = devices {
        apply_devices(paths, r.devices().as_deref().unwrap_or(&[]), extra)?;
    }
    Ok(())
}

fn memory(paths: &CgroupPaths, m: &LinuxMemory) -> Result<()> {
    if m.kernel().is_some() || m.kernel_tcp().is_some() {
        tracing::warn!("linux.resources.memory.kernel and kernelTCP are deprecated and ignored");
    }
    let h = match (
        m.limit(),
        m.reservation(),
        m.swap(),
        m.swappiness(),
        m.disable_oom_killer(),
    ) {
        (None, None, None, None, None | Some(false)) => return Ok(()),
        _ => need(paths, "memory", "memory limits")?,
    };
    if h.v2 {
        if let Some(l) = m.limit() {
            write(h, "memory.max", &limit_v2(l))?;
        }
        if let Some(r) = m.reservation() {
            write(h, "memory.low", &limit_v2(r))?;
        }
        if let Some(s) = m.swap() {
            write(h, "memory.swap.max", &swap_v1_to_v2(s, m.limit()))?;
        }
        if m.swappiness().is_some() {
            tracing::warn!("memory.swappiness has no cgroup v2 equivalent: ignored");
        }
        if m.disable_oom_killer() == Some(true) {
            return Err(Error::Config(
                "linux.resources.memory.disableOOMKiller has no cgroup v2 equivalent: remove it"
                    .into(),
            ));
        }
        return Ok(());
    }
    // v1: memsw must never be below the limit, so order the two writes by
    // which way the limit moves.
    match (m.limit(), m.swap()) {
        (Some(l), Some(s)) => {
            let grow =
                s == -1 || read_i64(h, "memory.memsw.limit_in_bytes").is_some_and(|cur| s > cur);
            if grow {
                write(h, "memory.memsw.limit_in_bytes", &s.to_string())?;
                write(h, "memory.limit_in_bytes", &l.to_string())?;
            } else {
                write(h, "memory.limit_in_bytes", &l.to_string())?;
                write(h, "memory.memsw.limit_in_bytes", &s.to_string())?;
            }
        }
        (Some(l), None) => write(h, "memory.limit_in_bytes", &l.to_string())?,
        (None, Some(s)) => write(h, "memory.memsw.limit_in_bytes", &s.to_string())?,
        (None, None) => {}
    }
    if let Some(r) = m.reservation() {
        write(h, "memory.soft_limit_in_bytes", &r.to_string())?;
    }
    if let Some(sw) = m.swappiness() {
        if sw > 100 {
            return Err(Error::Config(format!(
                "linux.resources.memory.swappiness {sw} is out of range: use 0 to 100"
            )));
        }
        write(h, "memory.swappiness", &sw.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        write(h, "memory.oom_control", "1")?;
    }
    Ok(())
}

fn cpu(paths: &CgroupPaths, c: &LinuxCpu) -> Result<()> {
    let any = c.shares().is_some()
        || c.quota().is_some()
        || c.period().is_some()
        || c.burst().is_some()
        || c.idle().is_some()
        || c.realtime_runtime().is_some()
        || c.realtime_period().is_some();
    if any {
        let h = need(paths, "cpu", "cpu limits")?;
        if h.v2 {
            if let Some(s) = c.shares() {
                write(h, "cpu.weight", &shares_to_weight(s).to_string())?;
            }
            if c.quota().is_some() || c.period().is_some() {
                let quota = match c.quota() {
                    Some(q) if q > 0 => q.to_string(),
                    _ => "max".to_string(),
                };
                write(
                    h,
                    "cpu.max",
                    &format!("{quota} {}", c.period().unwrap_or(100_000)),
                )?;
            }
            if let Some(b) = c.burst() {
                write(h, "cpu.max.burst", &b.to_string())?;
            }
            if let Some(i) = c.idle() {
                write(h, "cpu.idle", &i.to_string())?;
            }
            if c.realtime_runtime().is_some() || c.realtime_period().is_some() {
                return Err(Error::Config(
                    "linux.resources.cpu.realtimeRuntime/realtimePeriod are cgroup v1 only: remove them on this cgroup v2 host".into(),
                ));
            }
        } else {
            if let Some(s) = c.shares() {
                write(h, "cpu.shares", &s.to_string())?;
            }
            if let Some(p) = c.period() {
                write(h, "cpu.cfs_period_us", &p.to_string())?;
            }
            if let Some(q) = c.quota() {
                write(h, "cpu.cfs_quota_us", &q.to_string())?;
            }
            if let Some(b) = c.burst() {
                write(h, "cpu.cfs_burst_us", &b.to_string())?;
            }
            if let Some(p) = c.realtime_period() {
                write(h, "cpu.rt_period_us", &p.to_string())?;
            }
            if let Some(r) = c.realtime_runtime() {
                write(h, "cpu.rt_runtime_us", &r.to_string())?;
            }
            if c.idle().is_some() {
                return Err(Error::Config(
                    "linux.resources.cpu.idle needs cgroup v2".into(),
                ));
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
    Ok(())
}

fn blkio(paths: &CgroupPaths, b: &LinuxBlockIo) -> Result<()> {
    let h = need(
        paths,
        if paths.find("io").is_some() {
            "io"
        } else {
            "blkio"
        },
        "blockIO limits",
    )?;
    if h.v2 {
        if let Some(w) = b.weight() {
            write(
                h,
                "io.weight",
                &format!("default {}", blkio_weight_to_io_weight(w)),
            )?;
        }
        for d in b.weight_device().iter().flatten() {
            if let Some(w) = d.weight() {
                write(
                    h,
                    "io.weight",
                    &format!(
                        "{}:{} {}",
                        d.major(),
                        d.minor(),
                        blkio_weight_to_io_weight(w)
                    ),
                )?;
            }
        }
        for (list, key) in throttles(b) {
            for t in list {
                write(
                    h,
                    "io.max",
                    &format!("{}:{} {key}={}", t.major(), t.minor(), t.rate()),
                )?;
            }
        }
        return Ok(());
    }
    let weight_file = if h.dir.join("blkio.weight").exists() {
        "blkio.weight"
    } else {
        "blkio.bfq.weight"
    };
    if let Some(w) = b.weight() {
        write(h, weight_file, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight() {
        write(h, "blkio.leaf_weight", &w.to_string())?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            write(
                h,
                &format!("{weight_file}_device"),
                &format!("{}:{} {w}", d.major(), d.minor()),
            )?;
        }
        if let Some(w) = d.leaf_weight() {
            write(
                h,
                "blkio.leaf_weight_device",
                &format!("{}:{} {w}", d.major(), d.minor()),
            )?;
        }
    }
    for (list, key) in throttles(b) {
        let file = match key {
            "rbps" => "blkio.throttle.read_bps_device",
            "wbps" => "blkio.throttle.write_bps_device",
            "riops" => "blkio.throttle.read_iops_device",
            _ => "blkio.throttle.write_iops_device",
        };
        for t in list {
            write(
                h,
                file,
                &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
            )?;
        }
    }
    Ok(())
}

fn throttles(b: &LinuxBlockIo) -> [(&[LinuxThrottleDevice], &'static str); 4] {
    [
        (slice(b.throttle_read_bps_device()), "rbps"),
        (slice(b.throttle_write_bps_device()), "wbps"),
        (slice(b.throttle_read_iops_device()), "riops"),
        (slice(b.throttle_write_iops_device()), "wiops"),
    ]
}

fn slice<T>(v: &Option<Vec<T>>) -> &[T] {
    v.as_deref().unwrap_or(&[])
}

/// v1 device rules: deny everything, then the config's rules in order, then
/// the defaults and the container's own devices. On v2 the same rules
/// become an eBPF program (see `devices_bpf`).
fn apply_devices(paths: &CgroupPaths, rules: &[LinuxDeviceCgroup], extra: &[String]) -> Result<()> {
    if let Some(h) = paths.hierarchies.iter().find(|h| h.has("devices")) {
        // One open per file: the kernel takes one rule per write, and a
        // start writes a dozen of them.
        let deny = Writer::open(h, "devices.deny")?;
        let allow = Writer::open(h, "devices.allow")?;
        deny.write("a")?;
        for rule in rules {
            let file = if rule.allow() { &allow } else { &deny };
            file.write(&device_rule(rule))?;
        }
        for line in DEFAULT_ALLOWED
            .iter()
            .copied()
            .chain(extra.iter().map(String::as_str))
        {
            allow.write(line)?;
        }
        return Ok(());
    }
    if let Some(h) = paths.hierarchies.iter().find(|h| h.v2) {
        return super::devices_bpf::install(&h.dir, rules, extra);
    }
    if !rules.is_empty() {
        tracing::warn!("no device cgroup: device rules are not enforced");
    }
    Ok(())
}

/// A cgroup file kept open for several writes, each one value.
struct Writer {
    path: std::path::PathBuf,
    file: fs::File,
}

impl Writer {
    fn open(h: &Hierarchy, file: &str) -> Result<Writer> {
        let path = h.dir.join(file);
        let file = fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| {
                Error::Other(format!(
                    "cannot open {}: {}",
                    path.display(),
                    crate::error::io_text(&e)
                ))
            })?;
        Ok(Writer { path, file })
    }

    fn write(&self, value: &str) -> Result<()> {
        use std::io::Write;
        match (&self.file).write(value.as_bytes()) {
            Ok(n) if n == value.len() => Ok(()),
            Ok(_) => Err(write_error(
                &self.path,
                value,
                &std::io::Error::from_raw_os_error(libc::EIO),
            )),
            Err(e) => Err(write_error(&self.path, value, &e)),
        }
    }
}

fn write_error(path: &Path, value: &str, e: &std::io::Error) -> Error {
    Error::Other(format!(
        "cannot write {value:?} to {}: {}",
        path.display(),
        crate::error::io_text(e)
    ))
}

pub fn device_rule(rule: &LinuxDeviceCgroup) -> String {
    let typ = match rule.typ() {
        Some(LinuxDeviceType::B) => "b",
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => "c",
        Some(LinuxDeviceType::P) => "p",
        Some(LinuxDeviceType::A) | None => "a",
    };
    let num = |n: Option<i64>| n.map_or("*".to_string(), |v| v.to_string());
    let access = rule.access().clone().unwrap_or_else(|| "rwm".into());
    if typ == "a" && rule.major().is_none() && rule.minor().is_none() {
        return format!("a *:* {access}");
    }
    format!("{typ} {}:{} {access}", num(rule.major()), num(rule.minor()))
}

fn limit_v2(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

fn read_i64(h: &Hierarchy, file: &str) -> Option<i64> {
    crate::kfile::read(h.dir.join(file))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn need<'a>(paths: &'a CgroupPaths, controller: &str, what: &str) -> Result<&'a Hierarchy> {
    paths.find(controller).ok_or_else(|| {
        Error::Other(format!(
            "cannot set {what}: the {controller} cgroup controller is not mounted or not enabled on this host"
        ))
    })
}

fn need_v1<'a>(paths: &'a CgroupPaths, controller: &str, what: &str) -> Result<&'a Hierarchy> {
    match paths.hierarchies.iter().find(|h| h.has(controller)) {
        Some(h) => Ok(h),
        None => Err(Error::Other(format!(
            "cannot set {what}: the {controller} controller (cgroup v1 only) is not mounted on this host"
        ))),
    }
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
    fs::write(&path, value).map_err(|e| write_error(&path, value, &e))
}
