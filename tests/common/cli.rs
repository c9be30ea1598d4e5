//! Running the runtime under test, with a timeout.

use super::{cella_bin, wait_until, Bundle, CMD_TIMEOUT};
use serde_json::Value;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The outcome of one runtime command. `code` is the exit code, or
/// 128 + signal number when the command was killed by a signal.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (o, e) = (&self.stdout, &self.stderr);
        write!(
            f,
            "exit {}\n--- stdout\n{o}\n--- stderr\n{e}\n---",
            self.code
        )
    }
}

pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// A runtime command started in the background; see `Cli::spawn`.
/// Dropping it kills the command if it is still running.
pub struct Running {
    child: Child,
    out: fs::File,
    err: fs::File,
    what: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Running {
    /// The runtime process's pid (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the command (at most `CMD_TIMEOUT`), killing it on timeout.
    pub fn wait(mut self) -> Output {
        self.wait_inner().unwrap_or_else(|e| panic!("{e}"))
    }

    fn wait_inner(&mut self) -> Result<Output, String> {
        let deadline = Instant::now() + CMD_TIMEOUT;
        let status = loop {
            if let Some(st) = self.child.try_wait().map_err(|e| e.to_string())? {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!(
                    "`{}` did not finish within {CMD_TIMEOUT:?}; killed it. stderr:\n{}",
                    self.what,
                    read_all(&mut self.err)
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Ok(Output {
            code: exit_code(status),
            stdout: read_all(&mut self.out),
            stderr: read_all(&mut self.err),
        })
    }
}

fn read_all(f: &mut fs::File) -> String {
    let mut buf = Vec::new();
    let _ = f.seek(SeekFrom::Start(0));
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Runs the runtime with `--root` set to a test's private state directory.
/// Output goes to temporary files, not pipes, so a detached container that
/// inherits them can never make the test wait for EOF.
#[derive(Clone)]
pub struct Cli {
    pub root: PathBuf,
}

impl Cli {
    /// Starts a command in the background.
    pub fn spawn(&self, args: &[&str]) -> Running {
        self.try_spawn(args)
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", cella_bin().display()))
    }

    /// Like `spawn`, but `setup` may adjust the command first (more
    /// arguments, environment, `pre_exec`).
    pub fn spawn_with(&self, args: &[&str], setup: impl FnOnce(&mut Command)) -> Running {
        self.try_spawn_with(args, setup)
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", cella_bin().display()))
    }

    fn try_spawn(&self, args: &[&str]) -> Result<Running, String> {
        self.try_spawn_with(args, |_| {})
    }

    fn try_spawn_with(
        &self,
        args: &[&str],
        setup: impl FnOnce(&mut Command),
    ) -> Result<Running, String> {
        let e = |e: std::io::Error| e.to_string();
        let out = tempfile::tempfile().map_err(e)?;
        let err = tempfile::tempfile().map_err(e)?;
        let mut cmd = Command::new(cella_bin());
        cmd.arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(e)?)
            .stderr(err.try_clone().map_err(e)?);
        setup(&mut cmd);
        let child = cmd.spawn().map_err(e)?;
        Ok(Running {
            child,
            out,
            err,
            what: args.join(" "),
        })
    }

    /// Runs a command to completion (panics after `CMD_TIMEOUT`).
    pub fn cmd(&self, args: &[&str]) -> Output {
        self.spawn(args).wait()
    }

    /// Like `cmd` but never panics (for Drop guards).
    pub fn try_cmd(&self, args: &[&str]) -> Result<Output, String> {
        self.try_spawn(args)?.wait_inner()
    }

    /// `create --bundle <bundle> <extra..> <id>` after writing config.json.
    pub fn create(&self, id: &str, bundle: &Bundle, extra: &[&str]) -> Output {
        bundle.write();
        let mut args = vec!["create", "--bundle", bundle.path_str()];
        args.extend_from_slice(extra);
        args.push(id);
        self.cmd(&args)
    }

    pub fn run(&self, id: &str, bundle: &Bundle) -> Output {
        self.run_with(id, bundle, &[])
    }

    /// `run --bundle <bundle> <extra..> <id>` after writing config.json.
    pub fn run_with(&self, id: &str, bundle: &Bundle, extra: &[&str]) -> Output {
        bundle.write();
        let mut args = vec!["run", "--bundle", bundle.path_str()];
        args.extend_from_slice(extra);
        args.push(id);
        self.cmd(&args)
    }

    pub fn start(&self, id: &str) -> Output {
        self.cmd(&["start", id])
    }

    pub fn kill(&self, id: &str, signal: &str) -> Output {
        self.cmd(&["kill", id, signal])
    }

    pub fn delete(&self, id: &str) -> Output {
        self.cmd(&["delete", id])
    }

    /// `state <id>`, asserting success, parsed as JSON.
    pub fn state(&self, id: &str) -> Value {
        let out = self.cmd(&["state", id]);
        assert_eq!(out.code, 0, "state {id} failed: {out}");
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state {id}: bad JSON ({e}): {out}"))
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Polls `state` until the container reaches `status`.
    pub fn wait_status(&self, id: &str, status: &str) {
        let mut last = String::new();
        let ok = wait_until(CMD_TIMEOUT, || {
            last = match self.try_cmd(&["state", id]) {
                Ok(o) if o.code == 0 => match serde_json::from_str::<Value>(&o.stdout) {
                    Ok(v) => v["status"].as_str().unwrap_or_default().to_string(),
                    Err(_) => format!("<bad JSON: {}>", o.stdout),
                },
                Ok(o) => format!("<state failed: {}>", o.stderr.trim()),
                Err(e) => format!("<{e}>"),
            };
            last == status
        });
        assert!(ok, "container {id} never reached {status:?}; last: {last}");
    }
}
