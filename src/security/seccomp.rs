//! The OCI `linux.seccomp` object compiled with libseccomp (syscall names
//! for every architecture, argument comparisons, the notify action) and
//! loaded as late as the process allows.
//!
//! Why libseccomp and not a pure-Rust BPF compiler: OCI profiles name
//! syscalls, often for several architectures at once (x86_64 + x86 + x32),
//! and use the NOTIFY action; libseccomp resolves names per architecture,
//! builds multi-arch filters and handles notify, which `seccompiler` does
//! not.

use crate::error::{Error, Result};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
};
use std::collections::HashSet;
use std::os::fd::OwnedFd;
use std::str::FromStr;

fn err(what: impl std::fmt::Display) -> Error {
    Error::Config(format!("linux.seccomp: {what}"))
}

/// The JSON name of a serde enum value (e.g. `SCMP_ARCH_X86_64`).
fn name_of<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> ScmpAction {
    use LinuxSeccompAction as A;
    let ret = errno.unwrap_or(libc::EPERM as u32);
    match a {
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActErrno => ScmpAction::Errno(ret as i32),
        A::ScmpActNotify => ScmpAction::Notify,
        A::ScmpActTrace => ScmpAction::Trace(ret as u16),
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActAllow => ScmpAction::Allow,
    }
}

fn compare(arg: &LinuxSeccompArg) -> Result<ScmpArgCompare> {
    let op = name_of(&arg.op());
    let cmp = match op.as_str() {
        "SCMP_CMP_MASKED_EQ" => {
            // OCI: value is the mask, valueTwo the value to compare with.
            return Ok(ScmpArgCompare::new(
                arg.index() as u32,
                ScmpCompareOp::MaskedEqual(arg.value()),
                arg.value_two().unwrap_or(0),
            ));
        }
        other => {
            ScmpCompareOp::from_str(other).map_err(|e| err(format!("operator {other}: {e}")))?
        }
    };
    Ok(ScmpArgCompare::new(arg.index() as u32, cmp, arg.value()))
}

/// A compiled filter, ready to load. The runtime compiles it once, before
/// the clone; the child (a fork) only loads it.
pub struct Filter {
    ctx: ScmpFilterContext,
    notify: bool,
}

/// Compile a profile; every problem with it is an error here, before any
/// process of the container exists.
pub fn compile(s: &LinuxSeccomp) -> Result<Filter> {
    let notify = s
        .syscalls()
        .iter()
        .flatten()
        .any(|r| r.action() == LinuxSeccompAction::ScmpActNotify);
    Ok(Filter {
        ctx: build(s)?,
        notify,
    })
}

fn build(s: &LinuxSeccomp) -> Result<ScmpFilterContext> {
    let default = action(s.default_action(), s.default_errno_ret());
    let mut ctx =
        ScmpFilterContext::new(default).map_err(|e| err(format!("cannot create filter: {e}")))?;
    // The runtime sets no_new_privs itself when the config asks for it.
    ctx.set_ctl_nnp(false).map_err(err)?;
    for arch in s.architectures().iter().flatten() {
        let name = name_of(arch);
        let a =
            ScmpArch::from_str(&name).map_err(|_| err(format!("unknown architecture {name}")))?;
        if a != ScmpArch::Native && !ctx.is_arch_present(a).unwrap_or(false) {
            ctx.add_arch(a)
                .map_err(|e| err(format!("cannot add architecture {name}: {e}")))?;
        }
    }
    for flag in s.flags().iter().flatten() {
        let r = match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => ctx.set_ctl_log(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => ctx.set_ctl_waitkill(true),
        };
        r.map_err(|e| {
            err(format!(
                "flag {} is not supported by this libseccomp or kernel: {e}",
                name_of(flag)
            ))
        })?;
    }
    let mut has_notify = false;
    for rule in s.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret());
        if act == default {
            continue;
        }
        has_notify |= act == ScmpAction::Notify;
        let args = rule.args().as_deref().unwrap_or(&[]);
        let conds: Vec<ScmpArgCompare> = args.iter().map(compare).collect::<Result<_>>()?;
        for name in rule.names() {
            // Profiles list syscalls of newer kernels and other
            // architectures; a name this libseccomp does not know is
            // skipped, as runc and crun do.
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                tracing::debug!("seccomp: unknown syscall {name} skipped");
                continue;
            };
            let distinct: HashSet<usize> = args.iter().map(|a| a.index()).collect();
            let res = if conds.is_empty() {
                ctx.add_rule(act, sc)
            } else if distinct.len() == conds.len() {
                // Conditions on different arguments must all hold.
                ctx.add_rule_conditional(act, sc, &conds)
            } else {
                // Several conditions on one argument: any of them matches.
                conds
                    .iter()
                    .try_for_each(|c| ctx.add_rule_conditional(act, sc, &[*c]).map(drop))
                    .map(|_| &mut ctx)
            };
            res.map_err(|e| err(format!("cannot add rule for {name}: {e}")))?;
        }
    }
    if has_notify && s.listener_path().is_none() {
        return Err(err("SCMP_ACT_NOTIFY needs listenerPath"));
    }
    Ok(ctx)
}

impl Filter {
    /// Load the filter into this process. Returns the notify fd when the
    /// profile uses SCMP_ACT_NOTIFY.
    pub fn load(&self) -> Result<Option<OwnedFd>> {
        self.ctx
            .load()
            .map_err(|e| Error::Other(format!("cannot load the seccomp filter: {e}")))?;
        if !self.notify {
            return Ok(None);
        }
        let raw = self
            .ctx
            .get_notify_fd()
            .map_err(|e| Error::Other(format!("cannot get the seccomp notify fd: {e}")))?;
        crate::sys::dup_raw(raw)
            .map(Some)
            .map_err(|e| Error::sys("cannot duplicate the seccomp notify fd", e))
    }
}

/// The JSON that goes with the notify fd to `listenerPath` (the OCI
/// "container process state").
pub fn listener_message(s: &LinuxSeccomp, pid: i32, state: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": crate::state::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": s.listener_metadata().clone().unwrap_or_default(),
        "state": state,
    })
}

/// Send the notify fd and the state to the listener's unix socket.
pub fn send_to_listener(
    path: &std::path::Path,
    msg: &serde_json::Value,
    fd: &OwnedFd,
) -> Result<()> {
    crate::console::send_fd_to_socket(path, msg.to_string().as_bytes(), fd).map_err(|e| {
        Error::Other(format!(
            "cannot hand the seccomp notify fd to linux.seccomp.listenerPath {}: {e}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn builds_a_profile_with_args_and_arches() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
               "syscalls":[{"names":["mkdir","mkdirat","no_such_syscall_x"],"action":"SCMP_ACT_ERRNO","errnoRet":1},
                           {"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"},{"index":0,"value":4294967295,"op":"SCMP_CMP_EQ"}]},
                           {"names":["clone"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
        );
        compile(&p).map(drop).unwrap();
    }

    #[test]
    fn notify_needs_a_listener() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        );
        assert!(compile(&p)
            .map(drop)
            .unwrap_err()
            .to_string()
            .contains("listenerPath"));
    }
}
