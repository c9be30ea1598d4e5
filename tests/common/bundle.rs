//! A bundle directory and the builder for its `config.json`.

use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};

/// A bundle directory and the `config.json` it will hold. The config is
/// written by every `Cli` call that takes the bundle, or by `write()`.
pub struct Bundle {
    pub dir: PathBuf,
    pub config: Value,
}

impl Bundle {
    /// The defaults of `runc spec` (runc 1.1.5), except: ociVersion 1.0.2,
    /// no terminal, a busybox PATH, no ambient capabilities, hostname
    /// `cella-test`, and a cgroup namespace besides the other five.
    pub(crate) fn new(dir: PathBuf, root_path: Value, args: &[&str]) -> Bundle {
        let masked = [
            "/proc/acpi",
            "/proc/asound",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/sys/firmware",
            "/proc/scsi",
        ];
        let readonly = [
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger",
        ];
        let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        let config = json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                "args": args,
                "env": ["PATH=/bin:/usr/bin", "TERM=xterm"],
                "cwd": "/",
                "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                "noNewPrivileges": true
            },
            "root": {"path": root_path, "readonly": true},
            "hostname": "cella-test",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                 "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                 "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
                {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                 "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                 "options": ["nosuid", "noexec", "nodev", "ro"]},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                 "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
            ],
            "linux": {
                "resources": {"devices": [{"allow": false, "access": "rwm"}]},
                "namespaces": [
                    {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                    {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
                ],
                "maskedPaths": masked,
                "readonlyPaths": readonly
            }
        });
        Bundle { dir, config }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn path_str(&self) -> &str {
        self.dir.to_str().unwrap()
    }

    /// The rootfs directory on the host.
    pub fn rootfs(&self) -> PathBuf {
        let p = PathBuf::from(self.config["root"]["path"].as_str().unwrap());
        if p.is_absolute() {
            p
        } else {
            self.dir.join(p)
        }
    }

    pub fn write(&self) {
        let text = serde_json::to_string_pretty(&self.config).unwrap();
        fs::write(self.dir.join("config.json"), text).unwrap();
    }

    fn process(&mut self) -> &mut serde_json::Map<String, Value> {
        self.config["process"].as_object_mut().unwrap()
    }

    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.process().insert("args".into(), json!(args));
        self
    }

    /// `None` removes the hostname (needed when joining a UTS namespace).
    pub fn hostname(&mut self, name: Option<&str>) -> &mut Self {
        let obj = self.config.as_object_mut().unwrap();
        match name {
            Some(n) => obj.insert("hostname".into(), json!(n)),
            None => obj.remove("hostname"),
        };
        self
    }

    pub fn readonly_root(&mut self, ro: bool) -> &mut Self {
        self.config["root"]["readonly"] = json!(ro);
        self
    }

    pub fn terminal(&mut self, on: bool) -> &mut Self {
        self.process().insert("terminal".into(), json!(on));
        self
    }

    pub fn env(&mut self, env: &[&str]) -> &mut Self {
        self.process().insert("env".into(), json!(env));
        self
    }

    pub fn cwd(&mut self, cwd: &str) -> &mut Self {
        self.process().insert("cwd".into(), json!(cwd));
        self
    }

    /// Sets `process.user`; `umask` is left out when `None`.
    pub fn user(
        &mut self,
        uid: u32,
        gid: u32,
        additional: &[u32],
        umask: Option<u32>,
    ) -> &mut Self {
        let mut user = json!({"uid": uid, "gid": gid});
        if !additional.is_empty() {
            user["additionalGids"] = json!(additional);
        }
        if let Some(m) = umask {
            user["umask"] = json!(m);
        }
        self.process().insert("user".into(), user);
        self
    }

    pub fn rlimit(&mut self, kind: &str, soft: u64, hard: u64) -> &mut Self {
        let list = self.config["process"]["rlimits"].as_array_mut().unwrap();
        list.retain(|r| r["type"] != kind);
        list.push(json!({"type": kind, "soft": soft, "hard": hard}));
        self
    }

    /// Adds (or replaces) a namespace; `path` joins an existing one.
    pub fn namespace(&mut self, kind: &str, path: Option<&str>) -> &mut Self {
        self.remove_namespace(kind);
        let mut ns = json!({"type": kind});
        if let Some(p) = path {
            ns["path"] = json!(p);
        }
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(ns);
        self
    }

    pub fn remove_namespace(&mut self, kind: &str) -> &mut Self {
        let list = self.config["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != kind);
        self
    }

    /// A new user namespace mapping container ids `0..size` to `host..`.
    pub fn user_namespace(&mut self, host: u32, size: u32) -> &mut Self {
        self.namespace("user", None);
        let map = json!([{"containerID": 0, "hostID": host, "size": size}]);
        self.config["linux"]["uidMappings"] = map.clone();
        self.config["linux"]["gidMappings"] = map;
        self
    }

    pub fn sysctl(&mut self, key: &str, value: &str) -> &mut Self {
        let linux = self.config["linux"].as_object_mut().unwrap();
        let map = linux.entry("sysctl").or_insert_with(|| json!({}));
        map[key] = json!(value);
        self
    }

    pub fn mount(&mut self, dest: &str, kind: &str, source: &str, options: &[&str]) -> &mut Self {
        let m = json!({"destination": dest, "type": kind, "source": source, "options": options});
        self.config["mounts"].as_array_mut().unwrap().push(m);
        self
    }

    /// Bind-mounts a host path (read-write unless `ro`).
    pub fn bind(&mut self, host: &Path, dest: &str, ro: bool) -> &mut Self {
        let opts: &[&str] = if ro {
            &["rbind", "ro"]
        } else {
            &["rbind", "rw"]
        };
        self.mount(dest, "bind", host.to_str().unwrap(), opts)
    }

    /// Adds a hook of `kind` (`prestart`, `createRuntime`, ... `poststop`).
    pub fn hook(&mut self, kind: &str, path: &str, args: &[&str], env: &[&str]) -> &mut Self {
        let mut hook = json!({"path": path, "args": args});
        if !env.is_empty() {
            hook["env"] = json!(env);
        }
        let obj = self.config.as_object_mut().unwrap();
        let hooks = obj.entry("hooks").or_insert_with(|| json!({}));
        let list = hooks
            .as_object_mut()
            .unwrap()
            .entry(kind)
            .or_insert_with(|| json!([]));
        list.as_array_mut().unwrap().push(hook);
        self
    }

    /// Sets any field by JSON pointer (its parent must exist).
    pub fn set(&mut self, pointer: &str, value: Value) -> &mut Self {
        let (parent, key) = pointer.rsplit_once('/').expect("pointer must start with /");
        let p = self.config.pointer_mut(parent);
        let obj = p.and_then(Value::as_object_mut);
        obj.unwrap_or_else(|| panic!("no object at {parent:?}"))
            .insert(key.into(), value);
        self
    }
}
