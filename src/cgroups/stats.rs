//! Reading a container's cgroup statistics, in the JSON shape of runc's
//! `events` (so tools that parse runc's output can parse cella's), and the
//! OOM-kill counter that `events` watches.

use super::{CgroupPaths, Hierarchy};
use serde_json::{json, Map, Value};
use std::fs;

fn read(h: &Hierarchy, file: &str) -> Option<String> {
    crate::kfile::read(h.dir.join(file)).ok()
}

fn num(h: &Hierarchy, file: &str) -> u64 {
    read(h, file)
        .and_then(|s| {
            let s = s.trim();
            if s == "max" {
                Some(0)
            } else {
                s.parse().ok()
            }
        })
        .unwrap_or(0)
}

/// "key value" lines (memory.stat, cpu.stat, memory.events) as a map.
fn kv(h: &Hierarchy, file: &str) -> Map<String, Value> {
    read(h, file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), json!(v.trim().parse::<u64>().unwrap_or(0))))
        })
        .collect()
}

fn get(m: &Map<String, Value>, k: &str) -> u64 {
    m.get(k).and_then(Value::as_u64).unwrap_or(0)
}

/// How many processes the kernel has OOM-killed in the container's cgroup.
pub fn oom_kills(paths: &CgroupPaths) -> u64 {
    let Some(h) = paths.find("memory") else {
        return 0;
    };
    let file = if h.v2 {
        "memory.events"
    } else {
        "memory.oom_control"
    };
    get(&kv(h, file), "oom_kill")
}

/// Every statistic the mounted controllers offer.
pub fn collect(paths: &CgroupPaths) -> Value {
    let mut data = Map::new();
    if let Some(c) = cpu(paths) {
        data.insert("cpu".into(), c);
    }
    if let Some(m) = memory(paths) {
        data.insert("memory".into(), m);
    }
    if let Some(h) = paths.find("pids") {
        data.insert(
            "pids".into(),
            json!({"current": num(h, "pids.current"), "limit": num(h, "pids.max")}),
        );
    }
    if let Some(b) = blkio(paths) {
        data.insert("blkio".into(), b);
    }
    if let Some(h) = hugetlb(paths) {
        data.insert("hugetlb".into(), h);
    }
    Value::Object(data)
}

fn cpu(paths: &CgroupPaths) -> Option<Value> {
    let h = paths.find("cpu").or_else(|| paths.find("cpuacct"))?;
    if h.v2 {
        let st = kv(h, "cpu.stat");
        return Some(json!({
            "usage": {
                "total": get(&st, "usage_usec") * 1000,
                "kernel": get(&st, "system_usec") * 1000,
                "user": get(&st, "user_usec") * 1000,
            },
            "throttling": {
                "periods": get(&st, "nr_periods"),
                "throttled_periods": get(&st, "nr_throttled"),
                "throttled_time": get(&st, "throttled_usec") * 1000,
            }
        }));
    }
    let acct = paths.find("cpuacct");
    let (total, percpu, user, kernel) = match acct {
        Some(a) => {
            // cpuacct.stat counts USER_HZ ticks (100 a second).
            let st = kv(a, "cpuacct.stat");
            let per: Vec<u64> = read(a, "cpuacct.usage_percpu")
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            (
                num(a, "cpuacct.usage"),
                per,
                get(&st, "user") * 10_000_000,
                get(&st, "system") * 10_000_000,
            )
        }
        None => (0, Vec::new(), 0, 0),
    };
    let st = paths
        .find("cpu")
        .map(|c| kv(c, "cpu.stat"))
        .unwrap_or_default();
    Some(json!({
        "usage": {"total": total, "percpu": percpu, "kernel": kernel, "user": user},
        "throttling": {
            "periods": get(&st, "nr_periods"),
            "throttled_periods": get(&st, "nr_throttled"),
            "throttled_time": get(&st, "throttled_time"),
        }
    }))
}

fn memory(paths: &CgroupPaths) -> Option<Value> {
    let h = paths.find("memory")?;
    let raw = kv(h, "memory.stat");
    if h.v2 {
        let events = kv(h, "memory.events");
        return Some(json!({
            "cache": get(&raw, "file"),
            "usage": {
                "usage": num(h, "memory.current"),
                "limit": num(h, "memory.max"),
                "max": num(h, "memory.peak"),
                "failcnt": get(&events, "max"),
            },
            "swap": {"usage": num(h, "memory.swap.current"), "limit": num(h, "memory.swap.max")},
            "raw": raw,
        }));
    }
    let usage = |prefix: &str| {
        json!({
            "usage": num(h, &format!("{prefix}.usage_in_bytes")),
            "limit": num(h, &format!("{prefix}.limit_in_bytes")),
            "max": num(h, &format!("{prefix}.max_usage_in_bytes")),
            "failcnt": num(h, &format!("{prefix}.failcnt")),
        })
    };
    Some(json!({
        "cache": get(&raw, "cache"),
        "usage": usage("memory"),
        "swap": usage("memory.memsw"),
        "kernel": usage("memory.kmem"),
        "raw": raw,
    }))
}

fn blkio(paths: &CgroupPaths) -> Option<Value> {
    let h = paths.find("io").or_else(|| paths.find("blkio"))?;
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    if h.v2 {
        for line in read(h, "io.stat").unwrap_or_default().lines() {
            let mut parts = line.split_whitespace();
            let Some((major, minor)) = parts.next().and_then(|d| d.split_once(':')) else {
                continue;
            };
            let (major, minor): (u64, u64) =
                (major.parse().unwrap_or(0), minor.parse().unwrap_or(0));
            for kvp in parts {
                let Some((k, v)) = kvp.split_once('=') else {
                    continue;
                };
                let v: u64 = v.parse().unwrap_or(0);
                let entry =
                    |op: &str| json!({"major": major, "minor": minor, "op": op, "value": v});
                match k {
                    "rbytes" => bytes.push(entry("Read")),
                    "wbytes" => bytes.push(entry("Write")),
                    "rios" => ios.push(entry("Read")),
                    "wios" => ios.push(entry("Write")),
                    _ => {}
                }
            }
        }
    } else {
        let parse = |file: &str| -> Vec<Value> {
            read(h, file)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    let (ma, mi) = f.first()?.split_once(':')?;
                    (f.len() == 3).then(|| {
                        json!({"major": ma.parse::<u64>().unwrap_or(0), "minor": mi.parse::<u64>().unwrap_or(0), "op": f[1], "value": f[2].parse::<u64>().unwrap_or(0)})
                    })
                })
                .collect()
        };
        bytes = parse("blkio.throttle.io_service_bytes_recursive");
        ios = parse("blkio.throttle.io_serviced_recursive");
    }
    Some(json!({"ioServiceBytesRecursive": bytes, "ioServicedRecursive": ios}))
}

fn hugetlb(paths: &CgroupPaths) -> Option<Value> {
    let h = paths.find("hugetlb")?;
    let mut out = Map::new();
    for ent in fs::read_dir(&h.dir).ok()?.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        let size = if h.v2 {
            name.strip_prefix("hugetlb.")
                .and_then(|s| s.strip_suffix(".current"))
        } else {
            name.strip_prefix("hugetlb.")
                .and_then(|s| s.strip_suffix(".usage_in_bytes"))
        };
        let Some(size) = size else { continue };
        let v = if h.v2 {
            json!({"usage": num(h, &name), "max": num(h, &format!("hugetlb.{size}.max")), "failcnt": get(&kv(h, &format!("hugetlb.{size}.events")), "max")})
        } else {
            json!({"usage": num(h, &name), "max": num(h, &format!("hugetlb.{size}.max_usage_in_bytes")), "failcnt": num(h, &format!("hugetlb.{size}.failcnt"))})
        };
        out.insert(size.to_string(), v);
    }
    Some(Value::Object(out))
}
