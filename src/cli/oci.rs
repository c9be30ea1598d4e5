//! runc-compatible commands: argument structs and their handlers.

use super::{Cli, Command};
use crate::engine::container::{self, CreateOptions};
use crate::engine::StartMode;
use crate::state::Store;
use anyhow::{bail, Context as _, Result};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug, PartialEq)]
pub struct IdArg {
    /// Container id
    pub id: String,
}

#[derive(Args, Debug, PartialEq)]
pub struct SpecArgs {
    /// Bundle directory to write config.json into
    #[arg(long, short, default_value = ".")]
    pub bundle: PathBuf,
    /// Write a config for an unprivileged user (user namespace with the caller's ids)
    #[arg(long)]
    pub rootless: bool,
}

#[derive(Args, Debug, PartialEq)]
pub struct CreateArgs {
    /// Container id
    pub id: String,
    /// Bundle directory (holding config.json)
    #[arg(long, short, default_value = ".")]
    pub bundle: PathBuf,
    /// Write the container init's host pid to this file
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (SCM_RIGHTS) when process.terminal is true
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Use MS_MOVE and chroot instead of pivot_root (for a root on a ramdisk)
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not give the container a new session keyring
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N more file descriptors (3 .. 3+N-1) on to the container
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
}

#[derive(Args, Debug, PartialEq)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Return once the container runs instead of waiting for it
    #[arg(long, short)]
    pub detach: bool,
}

#[derive(Args, Debug, PartialEq)]
pub struct ListArgs {
    /// Output format
    #[arg(long, short, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Print only the ids
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Args, Debug, PartialEq)]
pub struct KillArgs {
    /// Container id
    pub id: String,
    /// Signal name (TERM, SIGKILL, RTMIN+3) or number (1-64)
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
    /// Send the signal to every process in the container
    #[arg(long, short)]
    pub all: bool,
}

#[derive(Args, Debug, PartialEq)]
pub struct DeleteArgs {
    /// Container id
    pub id: String,
    /// Kill the container first if it is running; succeed if it does not exist
    #[arg(long, short)]
    pub force: bool,
}

#[derive(Args, Debug, PartialEq)]
pub struct ExecArgs {
    /// Container id
    pub id: String,
    /// Command and arguments (unless --process is given)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// A process.json (the OCI "process" object) describing what to run
    #[arg(long, short, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Give the process a terminal
    #[arg(long, short)]
    pub tty: bool,
    /// Unix socket that receives the pty master (with --tty)
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Return once the process runs instead of waiting for it
    #[arg(long, short)]
    pub detach: bool,
    /// Write the process's host pid to this file
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Working directory inside the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE); repeatable
    #[arg(long, short)]
    pub env: Vec<String>,
    /// Run as UID[:GID]
    #[arg(long, short)]
    pub user: Option<String>,
    /// An additional group id; repeatable
    #[arg(long = "additional-gids", short = 'g')]
    pub additional_gids: Vec<u32>,
    /// Add a capability (e.g. CAP_NET_ADMIN) to every set; repeatable
    #[arg(long, short)]
    pub cap: Vec<String>,
    /// Set no_new_privs for the process
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// AppArmor profile (refused: not supported by this build)
    #[arg(long)]
    pub apparmor: Option<String>,
    /// SELinux label (refused: not supported by this build)
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// Pass N more file descriptors (3 .. 3+N-1) on to the process
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Run in this sub-cgroup of the container's cgroup (cgroup v2 only)
    #[arg(long)]
    pub cgroup: Option<String>,
}

impl CreateArgs {
    fn options(&self) -> CreateOptions {
        CreateOptions {
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.as_ref().map(|p| absolute(p)),
            console_socket: self.console_socket.as_ref().map(|p| absolute(p)),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
        }
    }
}

fn absolute(p: &std::path::Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

pub fn dispatch(cli: &Cli) -> Result<i32> {
    if cli.systemd_cgroup {
        bail!("--systemd-cgroup: the systemd cgroup driver is not available in this build (and this host does not run systemd): drop the flag to use cgroupfs");
    }
    let store = Store::new(&cli.root);
    match &cli.command {
        Command::Spec(a) => spec(a).map(|_| 0),
        Command::Create(a) => {
            container::create(&store, &a.options(), StartMode::Fifo, true)?;
            Ok(0)
        }
        Command::Start(a) => container::start(&store, &a.id)
            .map(|_| 0)
            .map_err(Into::into),
        Command::Run(a) => Ok(container::run(&store, &a.create.options(), a.detach)?),
        Command::State(a) => {
            let v = container::state(&store, &a.id)?;
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(0)
        }
        Command::List(a) => list(&store, a).map(|_| 0),
        Command::Kill(a) => {
            let sig = crate::signals::parse(&a.signal)?;
            container::kill(&store, &a.id, sig, a.all)?;
            Ok(0)
        }
        Command::Delete(a) => container::delete(&store, &a.id, a.force)
            .map(|_| 0)
            .map_err(Into::into),
        Command::Exec(a) => exec(&store, a),
        Command::Pause(a) => Ok(crate::engine::control::pause(&store, &a.id).map(|_| 0)?),
        Command::Resume(a) => Ok(crate::engine::control::resume(&store, &a.id).map(|_| 0)?),
        Command::Update(a) => super::cgroup_cmds::update(&store, a),
        Command::Events(a) => super::cgroup_cmds::events(&store, a),
        Command::Ps(a) => super::cgroup_cmds::ps(&store, a),
        Command::Features => {
            println!(
                "{}",
                serde_json::to_string_pretty(&crate::features::document())?
            );
            Ok(0)
        }
    }
}

fn exec(store: &Store, a: &ExecArgs) -> Result<i32> {
    use crate::engine::exec::{self, ExecOptions, Overrides};
    let process = match &a.process {
        Some(file) => {
            if !a.command.is_empty() {
                bail!("give the command either after the id or in --process, not both");
            }
            exec::load_process(file)?
        }
        None => {
            if a.command.is_empty() {
                bail!(
                    "exec needs a command: cella exec {} COMMAND [ARGS...]",
                    a.id
                );
            }
            let user = match &a.user {
                Some(u) => Some(parse_user(u)?),
                None => None,
            };
            let base = store.load(&a.id)?.process;
            exec::build_process(
                base,
                Overrides {
                    args: a.command.clone(),
                    terminal: a.tty,
                    cwd: a.cwd.clone(),
                    env: a.env.clone(),
                    user,
                    additional_gids: a.additional_gids.clone(),
                    caps: a.cap.clone(),
                    no_new_privs: a.no_new_privs,
                    apparmor: a.apparmor.clone(),
                    process_label: a.process_label.clone(),
                },
            )?
        }
    };
    let o = ExecOptions {
        id: a.id.clone(),
        process,
        console_socket: a.console_socket.as_ref().map(|p| absolute(p)),
        detach: a.detach,
        pid_file: a.pid_file.as_ref().map(|p| absolute(p)),
        preserve_fds: a.preserve_fds,
        sub_cgroup: a.cgroup.clone(),
    };
    Ok(exec::exec(store, &o)?)
}

fn parse_user(u: &str) -> Result<(u32, Option<u32>)> {
    let bad = || anyhow::anyhow!("--user {u:?}: use a numeric UID or UID:GID");
    match u.split_once(':') {
        Some((uid, gid)) => Ok((
            uid.parse().map_err(|_| bad())?,
            Some(gid.parse().map_err(|_| bad())?),
        )),
        None => Ok((u.parse().map_err(|_| bad())?, None)),
    }
}

fn spec(a: &SpecArgs) -> Result<()> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        bail!(
            "{} exists: remove it first, or write the new one elsewhere with --bundle",
            path.display()
        );
    }
    let spec = crate::config::default_spec(a.rootless);
    let text = serde_json::to_string_pretty(&spec)?;
    std::fs::write(&path, text + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn list(store: &Store, a: &ListArgs) -> Result<()> {
    let all = container::list(store)?;
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for (rec, _) in &all {
            writeln!(out, "{}", rec.id)?;
        }
        return Ok(());
    }
    if a.format == "json" {
        let v: Vec<serde_json::Value> = all
            .iter()
            .map(|(rec, s)| crate::state::oci_state(rec, *s))
            .collect();
        writeln!(out, "{}", serde_json::to_string(&v)?)?;
        return Ok(());
    }
    let rows: Vec<[String; 6]> = all
        .iter()
        .map(|(rec, s)| {
            let pid = if matches!(s, crate::state::Status::Stopped) {
                0
            } else {
                rec.pid
            };
            [
                rec.id.clone(),
                pid.to_string(),
                s.to_string(),
                rec.bundle.display().to_string(),
                rec.created.clone(),
                rec.owner.clone(),
            ]
        })
        .collect();
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    for r in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", line.join("   ").trim_end())?;
    }
    Ok(())
}
