//! A small parser for the command lines clients send on every container
//! start and stop (create, start, run, state, kill, delete with their
//! flags), so the hot path does not build clap's whole command tree: that
//! costs about half a millisecond and a few hundred KiB of code paged in,
//! per start.
//!
//! It understands a strict subset and gives up (`None`) on anything else:
//! help, version, unknown or repeated flags, attached short values, empty
//! values, `--`. clap then parses the same arguments, so every error message
//! and every rarely used form stays clap's. The tests check that whatever
//! this parser accepts, clap reads the same way.

use super::oci::{CreateArgs, DeleteArgs, IdArg, KillArgs, RunArgs};
use super::{Cli, Command};
use std::ffi::OsString;
use std::path::PathBuf;

/// The flags of one command line, each seen at most once.
#[derive(Default)]
struct Seen {
    root: Option<PathBuf>,
    log: Option<PathBuf>,
    log_format: Option<String>,
    debug: bool,
    systemd_cgroup: bool,
    bundle: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    console_socket: Option<PathBuf>,
    no_pivot: bool,
    no_new_keyring: bool,
    preserve_fds: Option<u32>,
    detach: bool,
    all: bool,
    force: bool,
    positional: Vec<String>,
}

/// What a flag is called, whether it takes a value, and which commands
/// accept it (globals: all of them).
struct Flag {
    long: &'static str,
    short: Option<char>,
    value: bool,
    commands: &'static [&'static str],
}

const ALL: &[&str] = &["create", "start", "run", "state", "kill", "delete"];
const CREATE: &[&str] = &["create", "run"];

const FLAGS: &[Flag] = &[
    Flag {
        long: "root",
        short: None,
        value: true,
        commands: ALL,
    },
    Flag {
        long: "log",
        short: None,
        value: true,
        commands: ALL,
    },
    Flag {
        long: "log-format",
        short: None,
        value: true,
        commands: ALL,
    },
    Flag {
        long: "debug",
        short: None,
        value: false,
        commands: ALL,
    },
    Flag {
        long: "systemd-cgroup",
        short: None,
        value: false,
        commands: ALL,
    },
    Flag {
        long: "bundle",
        short: Some('b'),
        value: true,
        commands: CREATE,
    },
    Flag {
        long: "pid-file",
        short: None,
        value: true,
        commands: CREATE,
    },
    Flag {
        long: "console-socket",
        short: None,
        value: true,
        commands: CREATE,
    },
    Flag {
        long: "no-pivot",
        short: None,
        value: false,
        commands: CREATE,
    },
    Flag {
        long: "no-new-keyring",
        short: None,
        value: false,
        commands: CREATE,
    },
    Flag {
        long: "preserve-fds",
        short: None,
        value: true,
        commands: CREATE,
    },
    Flag {
        long: "detach",
        short: Some('d'),
        value: false,
        commands: &["run"],
    },
    Flag {
        long: "all",
        short: Some('a'),
        value: false,
        commands: &["kill"],
    },
    Flag {
        long: "force",
        short: Some('f'),
        value: false,
        commands: &["delete"],
    },
];

/// Parse `args` (the program name first) if it is one of the common command
/// lines; `None` means "ask clap".
pub fn parse(args: &[OsString]) -> Option<Cli> {
    let args: Vec<&str> = args
        .iter()
        .skip(1)
        .map(|a| a.to_str())
        .collect::<Option<_>>()?;
    let mut command: Option<&str> = None;
    let mut seen = Seen::default();
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        i += 1;
        if !a.starts_with('-') {
            match command {
                // Globals may come first; the first bare word is the command.
                None if ALL.contains(&a) => command = Some(a),
                None => return None,
                Some(_) => seen.positional.push(a.to_string()),
            }
            continue;
        }
        let (flag, inline) = lookup(a)?;
        let allowed = match command {
            None => flag.commands == ALL,
            Some(c) => flag.commands.contains(&c),
        };
        if !allowed {
            return None;
        }
        let value = if flag.value {
            match inline {
                Some(v) => v,
                None => {
                    let v = *args.get(i)?;
                    i += 1;
                    v
                }
            }
        } else if inline.is_some() {
            return None;
        } else {
            ""
        };
        if flag.value && (value.is_empty() || value.starts_with('-')) {
            return None;
        }
        record(&mut seen, flag.long, value)?;
    }
    build(command?, seen)
}

/// The flag `arg` names (`--long`, `--long=value` or a lone `-s`), with a
/// value given inline.
fn lookup(arg: &str) -> Option<(&'static Flag, Option<&str>)> {
    if let Some(long) = arg.strip_prefix("--") {
        let (name, inline) = match long.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (long, None),
        };
        return FLAGS.iter().find(|f| f.long == name).map(|f| (f, inline));
    }
    let mut chars = arg.strip_prefix('-')?.chars();
    let c = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    FLAGS.iter().find(|f| f.short == Some(c)).map(|f| (f, None))
}

/// Store one flag; a flag given twice is clap's to report.
fn record(s: &mut Seen, long: &str, v: &str) -> Option<()> {
    fn once<T>(slot: &mut Option<T>, v: T) -> Option<()> {
        slot.is_none().then(|| *slot = Some(v))
    }
    fn set(flag: &mut bool) -> Option<()> {
        (!*flag).then(|| *flag = true)
    }
    match long {
        "root" => once(&mut s.root, PathBuf::from(v)),
        "log" => once(&mut s.log, PathBuf::from(v)),
        "log-format" if v == "text" || v == "json" => once(&mut s.log_format, v.to_string()),
        "debug" => set(&mut s.debug),
        "systemd-cgroup" => set(&mut s.systemd_cgroup),
        "bundle" => once(&mut s.bundle, PathBuf::from(v)),
        "pid-file" => once(&mut s.pid_file, PathBuf::from(v)),
        "console-socket" => once(&mut s.console_socket, PathBuf::from(v)),
        "no-pivot" => set(&mut s.no_pivot),
        "no-new-keyring" => set(&mut s.no_new_keyring),
        "preserve-fds" => once(&mut s.preserve_fds, plain_u32(v)?),
        "detach" => set(&mut s.detach),
        "all" => set(&mut s.all),
        "force" => set(&mut s.force),
        _ => None,
    }
}

/// A decimal number as clap reads a u32 (no sign, no spaces).
fn plain_u32(v: &str) -> Option<u32> {
    if v.bytes().all(|b| b.is_ascii_digit()) {
        v.parse().ok()
    } else {
        None
    }
}

fn build(command: &str, s: Seen) -> Option<Cli> {
    let mut pos = s.positional.into_iter();
    let id = pos.next()?;
    let signal = match command {
        "kill" => pos.next(),
        _ => None,
    };
    if pos.next().is_some() {
        return None;
    }
    let create = || CreateArgs {
        id: id.clone(),
        bundle: s.bundle.clone().unwrap_or_else(|| PathBuf::from(".")),
        pid_file: s.pid_file.clone(),
        console_socket: s.console_socket.clone(),
        no_pivot: s.no_pivot,
        no_new_keyring: s.no_new_keyring,
        preserve_fds: s.preserve_fds.unwrap_or(0),
    };
    let command = match command {
        "create" => Command::Create(create()),
        "run" => Command::Run(RunArgs {
            create: create(),
            detach: s.detach,
        }),
        "start" => Command::Start(IdArg { id }),
        "state" => Command::State(IdArg { id }),
        "kill" => Command::Kill(KillArgs {
            id,
            signal: signal.unwrap_or_else(|| "SIGTERM".to_string()),
            all: s.all,
        }),
        "delete" => Command::Delete(DeleteArgs { id, force: s.force }),
        _ => return None,
    };
    Some(Cli {
        root: s.root.unwrap_or_else(|| PathBuf::from("/run/cella")),
        log: s.log,
        log_format: s.log_format.unwrap_or_else(|| "text".to_string()),
        debug: s.debug,
        systemd_cgroup: s.systemd_cgroup,
        command,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn argv(line: &str) -> Vec<OsString> {
        std::iter::once("cella")
            .chain(line.split(' ').filter(|a| !a.is_empty()))
            .map(OsString::from)
            .collect()
    }

    /// Whatever the fast parser accepts, clap must read identically.
    fn agrees(line: &str) -> bool {
        let args = argv(line);
        let fast = parse(&args);
        let slow = Cli::try_parse_from(&args).ok();
        if let Some(f) = &fast {
            assert_eq!(Some(f), slow.as_ref(), "fast and clap differ on {line:?}");
        }
        fast.is_some()
    }

    #[test]
    fn the_clients_command_lines_take_the_fast_path() {
        for line in [
            // containerd's shim
            "--root /run/containerd/runc/k8s.io --log /x/log.json --log-format json create --bundle /b --pid-file /b/init.pid ctr1",
            "--root /r --log /x/log.json --log-format json create --bundle /b --pid-file /b/init.pid --console-socket /tmp/pty.sock ctr1",
            "--root /r --log /l --log-format json start ctr1",
            "--root /r --log /l --log-format json kill ctr1 9",
            "--root /r --log /l --log-format json kill --all ctr1 SIGKILL",
            "--root /r --log /l --log-format json delete --force ctr1",
            "--root /r --log /l --log-format json state ctr1",
            // conmon / podman
            "--root /run/runc --systemd-cgroup create --bundle /b --pid-file /p --no-new-keyring ctr2",
            "--log-format=json --root=/r create --bundle=/b ctr2",
            // by hand
            "run x",
            "run -d -b /b x",
            "run --detach --bundle /b --preserve-fds 2 --no-pivot x",
            "create x --bundle /b",
            "delete -f x",
            "delete x --force",
            "kill -a x",
            "kill x TERM",
            "state x --root /r",
            "--debug state x",
            "--root /r state x",
            "--root /r --log-format text run -d x",
        ] {
            assert!(agrees(line), "{line:?} should take the fast path");
        }
    }

    #[test]
    fn anything_else_is_left_to_clap() {
        for line in [
            "",
            "--help",
            "--version",
            "run --help",
            "run",
            "spec",
            "list",
            "exec x sh",
            "run --bogus x",
            "run -bdir x",
            "run -dx x",
            "run --root /a --root /b x",
            "run -d -d x",
            "run --preserve-fds -1 x",
            "run --preserve-fds +1 x",
            "run --preserve-fds 99999999999 x",
            "run --log-format xml x",
            "run --bundle= x",
            "run --bundle",
            "run --detach=true x",
            "run x y",
            "kill x TERM extra",
            "start -f x",
            "delete --all x",
            "--bundle /b run x",
            "-- run x",
            "run -- x",
            "x run",
        ] {
            assert!(!agrees(line), "{line:?} should be left to clap");
        }
    }
}
