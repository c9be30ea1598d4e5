//! Helpers shared by the integration tests.
//!
//! Every test gets its own `TestEnv`: a private temporary directory holding
//! the runtime's `--root` state directory and the test's bundles, plus a
//! generator of container ids unique to the test process. Nothing here ever
//! uses the runtime's default state directory.
//!
//! Set `CELLA_TEST_RUNTIME=/usr/sbin/runc` to run the suite against runc.

// Each test file uses a different part of these helpers.
#![allow(dead_code, unused_imports)]

mod bundle;
mod cgroup;
mod cli;
mod console;
mod leftovers;
mod rootfs;

pub use bundle::Bundle;
pub use cgroup::{
    cgroup_dir_for_path, cgroup_dir_of, hierarchy_of, keyed_value, read_cgroup_file,
    unified_layout, v1_or_v2,
};
pub use cli::{exit_code, Cli, Output, Running};
pub use console::{console_server, read_pty, recv_fd, recv_msg_with_fd, run_with_console};
pub use leftovers::host_leftovers;
pub use rootfs::{busybox_rootfs, copy_rootfs};

use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long one runtime command may take before the test kills it and fails.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(20);

/// The runtime under test: the crate's binary unless `CELLA_TEST_RUNTIME` is set.
pub fn cella_bin() -> PathBuf {
    match std::env::var_os("CELLA_TEST_RUNTIME") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_cella")),
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// One test's private world: temp dir, state root, unique ids.
pub struct TestEnv {
    pub name: String,
    pub cli: Cli,
    dir: tempfile::TempDir,
}

impl TestEnv {
    pub fn new(name: &str) -> TestEnv {
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "the integration tests must run as root"
        );
        let dir = tempfile::Builder::new()
            .prefix("cella-it-")
            .tempdir()
            .unwrap();
        // Traversable by a user-namespaced container's root.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.path().join("state");
        fs::create_dir(&root).unwrap();
        TestEnv {
            name: name.to_string(),
            cli: Cli { root },
            dir,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A container id unique to this test process: test name, pid, counter.
    pub fn id(&self) -> String {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        format!("{}-{}-{}", self.name, std::process::id(), n)
    }

    /// A directory inside the test's temp dir (mode 0755).
    pub fn dir(&self, name: &str) -> PathBuf {
        let p = self.path().join(name);
        fs::create_dir_all(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// A bundle with its own copy of the busybox rootfs.
    pub fn bundle(&self, args: &[&str]) -> Bundle {
        let dir = self.new_bundle_dir();
        copy_rootfs(&dir.join("rootfs"));
        Bundle::new(dir, json!("rootfs"), args)
    }

    /// A bundle whose root is the shared cached rootfs. Only for read-only
    /// roots with no mount whose destination is missing from the rootfs.
    pub fn shared_bundle(&self, args: &[&str]) -> Bundle {
        let dir = self.new_bundle_dir();
        Bundle::new(dir, json!(busybox_rootfs()), args)
    }

    fn new_bundle_dir(&self) -> PathBuf {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        self.dir(&format!("bundle-{n}"))
    }

    /// Registers a container id for `delete --force` when the guard drops.
    pub fn guard(&self, id: &str) -> ContainerGuard {
        ContainerGuard {
            cli: self.cli.clone(),
            id: id.to_string(),
        }
    }

    /// Runs `run` in the foreground for a fresh id. The guard is returned so
    /// the caller can check for leftovers before it forces a delete.
    pub fn run(&self, bundle: &Bundle) -> (ContainerGuard, Output) {
        let guard = self.guard(&self.id());
        let out = self.cli.run(&guard.id, bundle);
        (guard, out)
    }

    /// Runs the bundle in the foreground, asserts exit 0 and returns stdout.
    pub fn run_ok(&self, bundle: &Bundle) -> String {
        let (g, out) = self.run(bundle);
        assert_eq!(out.code, 0, "container {} failed: {out}", g.id);
        out.stdout
    }

    /// `create` under a fresh id, asserting success; returns a guard.
    pub fn create(&self, bundle: &Bundle) -> ContainerGuard {
        let guard = self.guard(&self.id());
        let out = self.cli.create(&guard.id, bundle, &[]);
        assert_eq!(out.code, 0, "create {} failed: {out}", guard.id);
        guard
    }

    /// `run -d` under a fresh id, asserting success; returns a guard.
    pub fn run_detached(&self, bundle: &Bundle) -> ContainerGuard {
        let guard = self.guard(&self.id());
        let out = self.cli.run_with(&guard.id, bundle, &["-d"]);
        assert_eq!(out.code, 0, "run -d {} failed: {out}", guard.id);
        guard
    }

    /// `run` in the foreground, for a fresh id, with `--debug` logging to a
    /// file (`setup` may adjust the command first, as `Cli::spawn_with`):
    /// the id, the output and the log. Asserts exit 0.
    pub fn run_logged(
        &self,
        bundle: &Bundle,
        setup: impl FnOnce(&mut std::process::Command),
    ) -> (String, Output, String) {
        bundle.write();
        let id = self.id();
        let _g = self.guard(&id);
        let log = self.path().join(format!("{id}.log"));
        let log_arg = log.to_str().unwrap();
        let args = [
            "--log",
            log_arg,
            "--debug",
            "run",
            "--bundle",
            bundle.path_str(),
            &id,
        ];
        let out = self.cli.spawn_with(&args, setup).wait();
        assert_eq!(out.code, 0, "container {id} failed: {out}");
        (id, out, fs::read_to_string(&log).unwrap_or_default())
    }

    /// Asserts the host holds nothing of container `id` any more.
    pub fn assert_no_leftovers(&self, id: &str, bundle: &Bundle) {
        let left = host_leftovers(&self.cli.root, id, bundle);
        assert!(left.is_empty(), "leftovers of {id} on the host: {left:#?}");
    }
}

/// Runs `delete --force` on drop so a failing test still cleans up.
pub struct ContainerGuard {
    cli: Cli,
    pub id: String,
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let _ = self.cli.try_cmd(&["delete", "--force", &self.id]);
    }
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (at most `CMD_TIMEOUT`) for a file to hold a complete line and
/// returns its content.
pub fn wait_for_line(path: &Path) -> String {
    let mut text = String::new();
    let ok = wait_until(CMD_TIMEOUT, || {
        text = fs::read_to_string(path).unwrap_or_default();
        text.ends_with('\n')
    });
    assert!(
        ok,
        "{} never got a complete line (has {text:?})",
        path.display()
    );
    text
}

/// Collapses runs of whitespace, for comparing tables such as `uid_map`.
pub fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Asserts a failed command reported one problem: non-zero exit and a
/// single non-empty line on stderr that contains every string in `names`.
pub fn assert_one_error(out: &Output, names: &[&str]) {
    assert_ne!(out.code, 0, "expected failure: {out}");
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "expected one stderr line: {out}");
    for n in names {
        assert!(lines[0].contains(n), "stderr should name {n:?}: {out}");
    }
}

/// True for an RFC 3339 timestamp such as `2024-01-02T03:04:05.123456789Z`.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |from: usize, to: usize| (from..to).all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let date = digits(0, 4) && at(4, b'-') && digits(5, 7) && at(7, b'-') && digits(8, 10);
    let time = matches!(b.get(10), Some(b'T' | b't'))
        && digits(11, 13)
        && at(13, b':')
        && digits(14, 16)
        && at(16, b':')
        && digits(17, 19);
    if !date || !time {
        return false;
    }
    let mut i = 19;
    if at(i, b'.') {
        i += 1;
        let start = i;
        while digits(i, i + 1) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z' | b'z') => b.len() == i + 1,
        Some(b'+' | b'-') => {
            b.len() == i + 6 && digits(i + 1, i + 3) && at(i + 3, b':') && digits(i + 4, i + 6)
        }
        _ => false,
    }
}
