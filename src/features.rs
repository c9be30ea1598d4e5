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

/// What the seccomp support can do here: every action and operator; the
/// architectures libseccomp knows; the flags this libseccomp and kernel
/// accept (probed on a throwaway filter).
fn seccomp() -> Value {
    use libseccomp::{ScmpAction, ScmpFilterContext};
    let probe = |f: &dyn Fn(&mut ScmpFilterContext) -> bool| {
        ScmpFilterContext::new(ScmpAction::Allow)
            .map(|mut c| f(&mut c))
            .unwrap_or(false)
    };
    let mut supported = Vec::new();
    if probe(&|c| c.set_ctl_tsync(true).is_ok()) {
        supported.push("SECCOMP_FILTER_FLAG_TSYNC");
    }
    if probe(&|c| c.set_ctl_log(true).is_ok()) {
        supported.push("SECCOMP_FILTER_FLAG_LOG");
    }
    if probe(&|c| c.set_ctl_ssb(true).is_ok()) {
        supported.push("SECCOMP_FILTER_FLAG_SPEC_ALLOW");
    }
    if probe(&|c| c.set_ctl_waitkill(true).is_ok()) {
        supported.push("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV");
    }
    json!({
        "enabled": true,
        "actions": [
            "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
            "SCMP_ACT_TRAP"
        ],
        "operators": [
            "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
            "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"
        ],
        "archs": [
            "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K",
            "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",
            "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PARISC",
            "SCMP_ARCH_PARISC64", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE",
            "SCMP_ARCH_RISCV64", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_SH",
            "SCMP_ARCH_SHEB", "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"
        ],
        "knownFlags": [
            "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
        ],
        "supportedFlags": supported
    })
}

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
            "seccomp": seccomp(),
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
