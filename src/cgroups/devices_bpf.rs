//! The device filter on cgroup v2: an eBPF `CGROUP_DEVICE` program made
//! from the same rules the v1 device cgroup takes. Rules are checked last
//! to first, and the first that matches decides, which is the v1 meaning
//! of "later rules override earlier ones"; no match denies.

use super::resources::{device_rule, DEFAULT_ALLOWED};
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxDeviceCgroup;
use std::os::fd::AsFd;
use std::path::Path;

/// One rule: device type (None = any), access bits, major/minor (None = any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub kind: Option<u32>,
    pub access: u32,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub allow: bool,
}

const DEV_BLOCK: u32 = 1;
const DEV_CHAR: u32 = 2;
const ACC_MKNOD: u32 = 1;
const ACC_READ: u32 = 2;
const ACC_WRITE: u32 = 4;

/// Parse a rule in the v1 text form: `c 1:3 rwm`, `a *:* rwm`, `a`.
pub fn parse_rule(text: &str, allow: bool) -> Option<Rule> {
    let mut parts = text.split_whitespace();
    let kind = match parts.next()? {
        "a" => None,
        "b" => Some(DEV_BLOCK),
        "c" => Some(DEV_CHAR),
        // Fifos are not device nodes; the kernel never asks about them.
        _ => return None,
    };
    let (major, minor) = match parts.next() {
        None => (None, None),
        Some(mm) => {
            let (ma, mi) = mm.split_once(':')?;
            let n = |s: &str| {
                if s == "*" {
                    Some(None)
                } else {
                    s.parse().ok().map(Some)
                }
            };
            (n(ma)?, n(mi)?)
        }
    };
    let mut access = 0;
    for c in parts.next().unwrap_or("rwm").chars() {
        access |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => return None,
        };
    }
    Some(Rule {
        kind,
        access,
        major,
        minor,
        allow,
    })
}

// Instruction encoding: opcode, dst | src << 4, 16-bit offset, 32-bit imm.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    u64::from(code)
        | (u64::from(dst & 0xf) << 8)
        | (u64::from(src & 0xf) << 12)
        | (u64::from(off as u16) << 16)
        | (u64::from(imm as u32) << 32)
}

const LDX_W: u8 = 0x61; // r_dst = *(u32 *)(r_src + off)
const AND_K: u8 = 0x57;
const RSH_K: u8 = 0x77;
const MOV_K: u8 = 0xb7;
const MOV_X: u8 = 0xbf;
const JNE_K: u8 = 0x55;
const EXIT: u8 = 0x95;

/// Build the program. Registers: r2 type, r3 access, r4 major, r5 minor.
pub fn program(rules: &[Rule]) -> Vec<u64> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        let mut checks: Vec<Vec<u64>> = Vec::new();
        if let Some(k) = r.kind {
            checks.push(vec![insn(JNE_K, 2, 0, 0, k as i32)]);
        }
        if r.access & 7 != 7 {
            // Every requested access bit must be in the rule.
            checks.push(vec![
                insn(MOV_X, 1, 3, 0, 0),
                insn(AND_K, 1, 0, 0, (!r.access & 7) as i32),
                insn(JNE_K, 1, 0, 0, 0),
            ]);
        }
        if let Some(m) = r.major {
            checks.push(vec![insn(JNE_K, 4, 0, 0, m as i32)]);
        }
        if let Some(m) = r.minor {
            checks.push(vec![insn(JNE_K, 5, 0, 0, m as i32)]);
        }
        let block_len: usize = checks.iter().map(Vec::len).sum::<usize>() + 2;
        let mut emitted = 0;
        for c in checks {
            for (i, ins) in c.iter().enumerate() {
                emitted += 1;
                let is_jump = i + 1 == c.len();
                if is_jump {
                    // Skip to the end of this rule's block.
                    let off = (block_len - emitted) as i16;
                    p.push((ins & !(0xffff << 16)) | (u64::from(off as u16) << 16));
                } else {
                    p.push(*ins);
                }
            }
        }
        p.push(insn(MOV_K, 0, 0, 0, i32::from(r.allow)));
        p.push(insn(EXIT, 0, 0, 0, 0));
        if block_len == 2 {
            // A rule with no conditions decides every access: anything
            // after it could never run, and the verifier refuses
            // unreachable instructions.
            return p;
        }
    }
    p.push(insn(MOV_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

/// The container's rules as the v1 device cgroup would apply them: deny
/// all, the config's rules, the defaults, the container's own devices.
pub fn rules_for(config: &[LinuxDeviceCgroup], extra: &[String]) -> Vec<Rule> {
    let mut rules = vec![];
    for r in config {
        if let Some(rule) = parse_rule(&device_rule(r), r.allow()) {
            rules.push(rule);
        }
    }
    for text in DEFAULT_ALLOWED
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
    {
        if let Some(rule) = parse_rule(text, true) {
            rules.push(rule);
        }
    }
    rules
}

/// Load the program for `config` and attach it to the cgroup v2 directory.
pub fn install(dir: &Path, config: &[LinuxDeviceCgroup], extra: &[String]) -> Result<()> {
    install_rules(dir, &rules_for(config, extra))
}

pub fn install_rules(dir: &Path, rules: &[Rule]) -> Result<()> {
    let prog = crate::sys::bpf_load_device_program(&program(rules))
        .map_err(|e| Error::Other(format!("cannot load the eBPF device filter: {e}")))?;
    let cg = std::fs::File::open(dir).map_err(|e| Error::io("cannot open cgroup", dir, e))?;
    crate::sys::bpf_attach_device_program(cg.as_fd(), prog.as_fd())
        .map_err(|e| Error::path("cannot attach the eBPF device filter to", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v1_rules() {
        assert_eq!(
            parse_rule("c 1:3 rwm", true),
            Some(Rule {
                kind: Some(DEV_CHAR),
                access: 7,
                major: Some(1),
                minor: Some(3),
                allow: true
            })
        );
        assert_eq!(
            parse_rule("a *:* r", false),
            Some(Rule {
                kind: None,
                access: ACC_READ,
                major: None,
                minor: None,
                allow: false
            })
        );
        assert_eq!(parse_rule("c 136:* rw", true).unwrap().minor, None);
        assert!(parse_rule("x 1:1 r", true).is_none());
    }

    #[test]
    fn unconditional_rule_ends_the_program() {
        // The usual config: deny everything first, then allow some.
        let rules = vec![
            parse_rule("a *:* rwm", false).unwrap(),
            parse_rule("c 1:3 rwm", true).unwrap(),
        ];
        let p = program(&rules);
        // loads, the 1:3 block (3 checks + mov + exit), the deny-all block
        // (mov + exit), and nothing after it.
        assert_eq!(p.len(), 6 + 5 + 2);
        assert_eq!(p[p.len() - 2] >> 32, 0, "last rule denies");
    }

    #[test]
    fn program_shape() {
        let rules = vec![parse_rule("c 1:3 rwm", true).unwrap()];
        let p = program(&rules);
        // 6 loads, then type/major/minor checks + mov/exit, then default deny.
        assert_eq!(p.len(), 6 + 3 + 2 + 2);
        assert_eq!(p[p.len() - 1] & 0xff, u64::from(EXIT));
        // The type check skips the other 2 checks and mov/exit: offset 4.
        assert_eq!((p[6] >> 16) & 0xffff, 4);
    }
}
