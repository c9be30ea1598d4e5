//! `cella features`: the OCI runtime features document (runtime-spec v1.2,
//! features.md and schema/features-schema.json), checked field by field,
//! and checked against what this host actually offers.

mod common;

use common::*;
use serde_json::{Map, Value};
use std::fs;
use std::path::Path;

/// The hooks of runtime-spec v1.2 (config.md, "POSIX-platform Hooks").
const SPEC_HOOKS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// The namespace types the features schema allows.
const SPEC_NAMESPACES: [&str; 8] = [
    "mount", "pid", "network", "uts", "ipc", "user", "cgroup", "time",
];

/// Runs `features`, asserting success and a clean stderr, and parses stdout.
fn features() -> Value {
    let t = TestEnv::new("features");
    let out = t.cli.cmd(&["features"]);
    assert_eq!(out.code, 0, "features failed: {out}");
    assert!(
        out.stderr.trim().is_empty(),
        "features wrote to stderr: {out}"
    );
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("features printed no JSON document ({e}): {out}"))
}

/// `major.minor.patch` with an optional `-prerelease` / `+build` suffix.
fn semver(s: &str) -> Option<(u64, u64, u64)> {
    let core = s.split(['-', '+']).next()?;
    let suffix = &s[core.len()..];
    if suffix == "-" || suffix == "+" {
        return None;
    }
    let nums: Vec<&str> = core.split('.').collect();
    if nums.len() != 3 {
        return None;
    }
    let mut parsed = [0u64; 3];
    for (slot, n) in parsed.iter_mut().zip(&nums) {
        let digits = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
        if !digits || (n.len() > 1 && n.starts_with('0')) {
            return None;
        }
        *slot = n.parse().ok()?;
    }
    Some((parsed[0], parsed[1], parsed[2]))
}

/// The strings of an array of strings; panics naming `what` otherwise.
fn strings<'a>(v: &'a Value, what: &str) -> Vec<&'a str> {
    let arr = v
        .as_array()
        .unwrap_or_else(|| panic!("{what} must be an array: {v}"));
    arr.iter()
        .map(|x| {
            x.as_str()
                .unwrap_or_else(|| panic!("{what} must hold strings only: {v}"))
        })
        .collect()
}

/// `v[key]`, which must be absent or an array of strings.
fn optional_strings<'a>(obj: &'a Map<String, Value>, key: &str, what: &str) -> Vec<&'a str> {
    obj.get(key)
        .map(|v| strings(v, &format!("{what}.{key}")))
        .unwrap_or_default()
}

/// `obj[key]`, which must be absent or an object whose `enabled` (if
/// present) is a boolean.
fn check_enabled_object(obj: &Map<String, Value>, key: &str, what: &str) {
    let Some(v) = obj.get(key) else { return };
    let o = v
        .as_object()
        .unwrap_or_else(|| panic!("{what}.{key} must be an object: {v}"));
    if let Some(e) = o.get("enabled") {
        assert!(
            e.is_boolean(),
            "{what}.{key}.enabled must be a boolean: {v}"
        );
    }
}

fn is_cap_name(s: &str) -> bool {
    let rest = s.strip_prefix("CAP_").unwrap_or("");
    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
}

#[test]
fn features_document_matches_the_schema() {
    let f = features();
    let top = f.as_object().expect("the document must be a JSON object");

    // Required: ociVersionMin and ociVersionMax.
    let mut versions = Vec::new();
    for key in ["ociVersionMin", "ociVersionMax"] {
        let v = top.get(key).unwrap_or_else(|| panic!("{key} is missing"));
        let s = v
            .as_str()
            .unwrap_or_else(|| panic!("{key} must be a string: {v}"));
        let parsed = semver(s).unwrap_or_else(|| panic!("{key} is not semver: {s:?}"));
        versions.push(parsed);
    }
    assert!(
        versions[0] <= versions[1],
        "ociVersionMin is above ociVersionMax: {f}"
    );

    optional_strings(top, "hooks", "features");
    optional_strings(top, "mountOptions", "features");
    optional_strings(top, "potentiallyUnsafeConfigAnnotations", "features");
    if let Some(a) = top.get("annotations") {
        let a = a.as_object().expect("annotations must be an object");
        for (k, v) in a {
            assert!(v.is_string(), "annotation {k:?} must be a string: {v}");
        }
    }

    let Some(linux) = top.get("linux") else {
        return;
    };
    let linux = linux.as_object().expect("linux must be an object");
    for ns in optional_strings(linux, "namespaces", "linux") {
        assert!(
            SPEC_NAMESPACES.contains(&ns),
            "linux.namespaces has {ns:?}, not a namespace of the spec"
        );
    }
    for cap in optional_strings(linux, "capabilities", "linux") {
        assert!(is_cap_name(cap), "linux.capabilities has {cap:?}");
    }
    if let Some(cg) = linux.get("cgroup") {
        let cg = cg.as_object().expect("linux.cgroup must be an object");
        for key in ["v1", "v2", "systemd", "systemdUser", "rdma"] {
            if let Some(v) = cg.get(key) {
                assert!(v.is_boolean(), "linux.cgroup.{key} must be a boolean: {v}");
            }
        }
    }
    for key in ["seccomp", "apparmor", "selinux", "intelRdt"] {
        check_enabled_object(linux, key, "linux");
    }
    if let Some(s) = linux.get("seccomp").and_then(Value::as_object) {
        for key in [
            "actions",
            "operators",
            "archs",
            "knownFlags",
            "supportedFlags",
        ] {
            optional_strings(s, key, "linux.seccomp");
        }
    }
    if let Some(m) = linux.get("mountExtensions") {
        let m = m
            .as_object()
            .expect("linux.mountExtensions must be an object");
        check_enabled_object(m, "idmap", "linux.mountExtensions");
    }
}

#[test]
fn features_lists_every_hook_of_the_spec() {
    let f = features();
    let hooks = strings(&f["hooks"], "hooks");
    for h in SPEC_HOOKS {
        assert!(hooks.contains(&h), "hooks lacks {h:?}: {hooks:?}");
    }
    for h in &hooks {
        assert!(SPEC_HOOKS.contains(h), "hooks has unknown {h:?}");
    }
}

#[test]
fn features_lists_the_mount_options_the_tests_rely_on() {
    let f = features();
    let opts = strings(&f["mountOptions"], "mountOptions");
    for o in ["ro", "rw", "nosuid", "nodev", "noexec", "rbind", "rslave"] {
        assert!(opts.contains(&o), "mountOptions lacks {o:?}: {opts:?}");
    }
}

#[test]
fn features_namespaces_match_the_kernel() {
    let f = features();
    let ns = strings(&f["linux"]["namespaces"], "linux.namespaces");
    let mut sorted = ns.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), ns.len(), "duplicate namespaces: {ns:?}");
    for kind in ["mount", "pid", "network", "uts", "ipc", "user", "cgroup"] {
        assert!(ns.contains(&kind), "namespaces lacks {kind:?}: {ns:?}");
    }
    let has_time = Path::new("/proc/self/ns/time").exists();
    assert_eq!(
        ns.contains(&"time"),
        has_time,
        "namespaces {ns:?} vs /proc/self/ns/time existing: {has_time}"
    );
}

#[test]
fn features_capabilities_match_the_kernel() {
    let f = features();
    let caps = strings(&f["linux"]["capabilities"], "linux.capabilities");
    let last: usize = fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut sorted = caps.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), caps.len(), "duplicate capabilities: {caps:?}");
    assert_eq!(
        caps.len(),
        last + 1,
        "the kernel knows {} capabilities (cap_last_cap {last}); features lists {caps:?}",
        last + 1
    );
    for c in ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_CHOWN", "CAP_KILL"] {
        assert!(caps.contains(&c), "capabilities lack {c}: {caps:?}");
    }
}

#[test]
fn features_cgroup_support_matches_this_build() {
    let f = features();
    let cg = &f["linux"]["cgroup"];
    // No systemd driver (exec --help: --systemd-cgroup is refused), and
    // cgroup v1 works on this v1-hybrid host, as the whole suite shows.
    assert_eq!(cg["systemd"], Value::Bool(false), "{cg}");
    assert_eq!(cg["systemdUser"], Value::Bool(false), "{cg}");
    assert_eq!(cg["v1"], Value::Bool(true), "{cg}");
}

#[test]
fn semver_check_accepts_and_rejects() {
    // The checker itself must be able to fail.
    assert_eq!(semver("1.2.0"), Some((1, 2, 0)));
    assert_eq!(semver("1.0.0-rc.1"), Some((1, 0, 0)));
    for bad in ["1.2", "v1.2.0", "1.02.0", "1.2.0-", "", "1..0"] {
        assert_eq!(semver(bad), None, "{bad:?}");
    }
    assert!(is_cap_name("CAP_SYS_ADMIN"));
    assert!(!is_cap_name("CAP_") && !is_cap_name("sys_admin") && !is_cap_name("CAP_x"));
}
