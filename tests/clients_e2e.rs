//! Real OCI clients drive cella: podman 4.3 (through conmon) and containerd
//! 1.6 (ctr and containerd-shim-runc-v2), as they would drive runc.
//!
//! The work is done by `scripts/e2e-clients.sh`, which can also be run on
//! its own (`scripts/e2e-clients.sh target/debug/cella`); see docs/clients.md.
//! It installs Debian's podman, conmon, containerd, tmux and strace when
//! absent, keeps everything in one temp dir, prints `PASS`/`FAIL` per step
//! and removes every container, cgroup, mount and daemon it started. This
//! test runs it with the binary cargo just built (or `CELLA_TEST_RUNTIME`)
//! and fails with the script's output when any step failed.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The whole script (package installs included) must end within this.
const TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// After SIGTERM on timeout: how long the script's cleanup trap may take.
const CLEANUP_GRACE: Duration = Duration::from_secs(120);

fn runtime() -> PathBuf {
    match std::env::var_os("CELLA_TEST_RUNTIME") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_cella")),
    }
}

#[test]
fn podman_and_containerd_drive_cella() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "the client end-to-end test must run as root"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("scripts/e2e-clients.sh");
    let dir = tempfile::Builder::new()
        .prefix("cella-clients-e2e-")
        .tempdir()
        .unwrap();
    let log_path = dir.path().join("output.log");
    let log = File::create(&log_path).unwrap();

    let started = Instant::now();
    let mut child = Command::new("bash")
        .arg(&script)
        .arg(runtime())
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        // Its own process group, so a timeout reaches the clients it runs.
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let pgid = child.id() as libc::pid_t;

    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if !timed_out && started.elapsed() > TIMEOUT {
            // SIGTERM lets the script's EXIT trap stop containerd and
            // remove containers, cgroups and mounts.
            timed_out = true;
            unsafe { libc::kill(-pgid, libc::SIGTERM) };
        }
        if timed_out && started.elapsed() > TIMEOUT + CLEANUP_GRACE {
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            break child.wait().unwrap();
        }
        sleep(Duration::from_millis(200));
    };

    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        !timed_out,
        "scripts/e2e-clients.sh did not finish within {TIMEOUT:?}; its output:\n{output}"
    );
    assert!(
        status.success(),
        "scripts/e2e-clients.sh failed ({status}) after {:?}; its output:\n{output}",
        started.elapsed()
    );
    println!("{output}");
}
