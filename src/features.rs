//! The OCI runtime features document (`cella features`): what this build
//! implements and this host supports, so a client can check before it asks.

use serde_json::{json, Value};

/// Mount options `config.json` may use (see `rootfs/options.rs`).
pub const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "unbindable",
];

pub fn document() -> Value {
    let mut namespaces = vec!["cgroup", "ipc", "mount", "network", "pid", "user", "uts"];
    if std::path::Path::new("/proc/self/ns/time").exists() {
        namespaces.push("time");
    }
    let last_cap: u8 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    let mut caps: Vec<String> = caps::all()
        .into_iter()
        .filter(|c| c.index() <= last_cap)
        .map(|c| c.to_string())
        .collect();
    caps.sort();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::state::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": namespaces,
            "capabilities": caps,
            "cgroup": {
                "v1": true,
                "v2": true,
                "systemd": false,
                "systemdUser": false,
                "rdma": false
            },
            "seccomp": {"enabled": false},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "io.github.cella.version": env!("CARGO_PKG_VERSION"),
            "io.github.cella.cgroup.layouts": "v1,hybrid,v2"
        }
    })
}
