//! The command line. `cella` speaks runc's commands and flags so that
//! podman, containerd and CRI-O can drive it unchanged.

mod cgroup_cmds;
mod fast;
mod oci;

use crate::logging::{self, Format};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug, PartialEq)]
#[command(
    name = "cella",
    version,
    about = "A Linux container runtime with runc's command line",
    long_about = "cella starts OCI bundles (a config.json and a root filesystem) as containers: \
its own namespaces, cgroup and root, supervised and torn down with nothing left behind.\n\n\
A typical session: 'cella spec' in a bundle directory, then 'cella run ID', or \
'cella create ID' + 'cella start ID', 'cella state ID', 'cella kill ID', 'cella delete ID'."
)]
pub struct Cli {
    /// Directory holding the state of containers
    #[arg(long, global = true, default_value = "/run/cella", value_name = "DIR")]
    pub root: PathBuf,
    /// Write log lines to FILE instead of stderr (errors also go to stderr)
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Log format: text (time= level= msg=) or json (one object a line, as runc writes)
    #[arg(long = "log-format", global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Log debug messages too
    #[arg(long, global = true)]
    pub debug: bool,
    /// Manage cgroups through systemd (refused: this build has no systemd driver)
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug, PartialEq)]
pub enum Command {
    /// Write a default config.json into the bundle directory
    Spec(oci::SpecArgs),
    /// Create a container: set it up and leave its process waiting for 'start'
    Create(oci::CreateArgs),
    /// Start a created container's process
    Start(oci::IdArg),
    /// Create and start a container; without --detach, wait for it and exit with its status
    Run(oci::RunArgs),
    /// Print the state of a container as JSON
    State(oci::IdArg),
    /// List containers
    #[command(alias = "ls")]
    List(oci::ListArgs),
    /// Send a signal (default SIGTERM) to a container's init, or with --all to all its processes
    Kill(oci::KillArgs),
    /// Delete a container and everything it holds on the host
    #[command(alias = "rm")]
    Delete(oci::DeleteArgs),
    /// Run another process inside a running container
    Exec(oci::ExecArgs),
    /// Freeze every process of a container
    Pause(oci::IdArg),
    /// Thaw a paused container
    Resume(oci::IdArg),
    /// Change the resource limits of a running container
    Update(cgroup_cmds::UpdateArgs),
    /// Print statistics and OOM events of a container as JSON lines
    Events(cgroup_cmds::EventsArgs),
    /// List the processes of a container
    Ps(cgroup_cmds::PsArgs),
    /// Print the OCI features document: what this build and host support
    Features,
}

/// Parse the command line (`args`, the program's name first), run the
/// command, and return the process exit status.
pub fn main(args: Vec<std::ffi::OsString>) -> i32 {
    crate::sys::sanitize_stdio();
    crate::signals::ignore_sigpipe();
    // A failed command prints one line, never a backtrace; but with
    // RUST_BACKTRACE set, anyhow would capture one for every error, walking
    // the unwind tables (~1 ms). RUST_LIB_BACKTRACE governs only that
    // capture (panics still follow RUST_BACKTRACE), and nothing cella
    // starts inherits this environment: hooks and the container get theirs
    // from the config. Single-threaded here, so setting it is sound.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    let cli = fast::parse(&args).unwrap_or_else(|| Cli::parse_from(&args));
    let format = if cli.log_format == "json" {
        Format::Json
    } else {
        Format::Text
    };
    let to_file = match logging::init(cli.log.as_deref(), format, cli.debug) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "cella: cannot open log file {}: {e}",
                cli.log
                    .as_deref()
                    .unwrap_or(std::path::Path::new(""))
                    .display()
            );
            return 1;
        }
    };
    match oci::dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("{e:#}");
            if to_file {
                tracing::error!("{msg}");
            }
            eprintln!("cella: {msg}");
            1
        }
    }
}
