//! Turning an OCI mount's option list into mount(2) flags, propagation
//! flags and the filesystem-specific data string.

use crate::error::{Error, Result};
use nix::mount::MsFlags;

#[derive(Debug, PartialEq, Eq)]
pub struct Parsed {
    pub flags: MsFlags,
    /// Flags the options clear (e.g. `rw`, `suid`): they win over flags
    /// kept from the source mount.
    pub cleared: MsFlags,
    pub propagation: Vec<MsFlags>,
    pub data: Vec<String>,
}

impl Default for Parsed {
    fn default() -> Self {
        Parsed {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            data: Vec::new(),
        }
    }
}

impl Parsed {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
    pub fn data(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

pub fn parse(options: &[String]) -> Result<Parsed> {
    let mut p = Parsed::default();
    for opt in options {
        let (set, clear) = match opt.as_str() {
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "silent" => (MsFlags::MS_SILENT, MsFlags::empty()),
            "loud" => (MsFlags::empty(), MsFlags::MS_SILENT),
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                p.propagation
                    .push(propagation(opt).unwrap_or(MsFlags::MS_PRIVATE));
                continue;
            }
            "tmpcopyup" | "idmap" | "ridmap" | "recursive-ro" | "rro" => {
                return Err(Error::Config(format!(
                    "mount option {opt:?} is not supported by this version of cella: remove it"
                )))
            }
            _ => {
                p.data.push(opt.clone());
                continue;
            }
        };
        p.flags.insert(set);
        p.flags.remove(clear);
        p.cleared.insert(clear);
        p.cleared.remove(set);
    }
    Ok(p)
}

/// The `mount_setattr` (set, clear) that gives a mount the per-mount
/// `flags`, takes away `cleared`, and leaves its other attributes as they
/// are. Flags that belong to the filesystem, not the mount (sync, mand...),
/// mean nothing to a bind remount either and are skipped; None if a flag
/// has no attribute at all.
pub fn mount_attrs(flags: MsFlags, cleared: MsFlags) -> Option<(u64, u64)> {
    use crate::sys::mount_attr as a;
    let bits = [
        (MsFlags::MS_RDONLY, a::RDONLY),
        (MsFlags::MS_NOSUID, a::NOSUID),
        (MsFlags::MS_NODEV, a::NODEV),
        (MsFlags::MS_NOEXEC, a::NOEXEC),
        (MsFlags::MS_NODIRATIME, a::NODIRATIME),
    ];
    let atime = [
        (MsFlags::MS_RELATIME, a::RELATIME),
        (MsFlags::MS_NOATIME, a::NOATIME),
        (MsFlags::MS_STRICTATIME, a::STRICTATIME),
    ];
    let not_per_mount = MsFlags::MS_BIND
        | MsFlags::MS_REC
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_SYNCHRONOUS
        | MsFlags::MS_DIRSYNC
        | MsFlags::MS_MANDLOCK
        | MsFlags::MS_SILENT
        | MsFlags::MS_LAZYTIME;
    let known = bits
        .iter()
        .chain(&atime)
        .fold(not_per_mount, |k, (ms, _)| k | *ms);
    if !(flags | cleared).difference(known).is_empty() {
        return None;
    }
    let (mut set, mut clear) = (0, 0);
    for (ms, attr) in bits {
        if flags.contains(ms) {
            set |= attr;
        } else if cleared.contains(ms) {
            clear |= attr;
        }
    }
    // The atime mode is one field: the flag given wins; one taken away
    // leaves the default, relatime.
    if let Some((_, attr)) = atime.iter().find(|(ms, _)| flags.contains(*ms)) {
        set |= attr;
        clear |= a::ATIME_MASK;
    } else if atime.iter().any(|(ms, _)| cleared.contains(*ms)) {
        set |= a::RELATIME;
        clear |= a::ATIME_MASK;
    }
    Some((set, clear))
}

/// `rootfsPropagation` and propagation mount options.
pub fn propagation(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_and_data() {
        let p = parse(&opts(&["nosuid", "mode=755", "size=65536k", "ro", "rw"])).unwrap();
        assert_eq!(p.flags, MsFlags::MS_NOSUID);
        assert!(p.cleared.contains(MsFlags::MS_RDONLY));
        // ...and a remount with them sets nosuid and clears read-only.
        use crate::sys::mount_attr as a;
        assert_eq!(
            mount_attrs(p.flags, p.cleared),
            Some((a::NOSUID, a::RDONLY))
        );
        assert_eq!(p.data().as_deref(), Some("mode=755,size=65536k"));
    }

    #[test]
    fn mount_attrs_for_atime_and_filesystem_flags() {
        use crate::sys::mount_attr as a;
        let p = parse(&opts(&["bind", "ro", "noatime", "sync"])).unwrap();
        assert_eq!(
            mount_attrs(p.flags, p.cleared),
            Some((a::RDONLY | a::NOATIME, a::ATIME_MASK))
        );
        // "atime" takes noatime away: back to the default, relatime.
        let p = parse(&opts(&["atime"])).unwrap();
        assert_eq!(
            mount_attrs(p.flags, p.cleared),
            Some((a::RELATIME, a::ATIME_MASK))
        );
        assert_eq!(mount_attrs(MsFlags::MS_POSIXACL, MsFlags::empty()), None);
    }

    #[test]
    fn bind_and_propagation() {
        let p = parse(&opts(&["rbind", "rslave", "ro"])).unwrap();
        assert!(p.is_bind());
        assert!(p.flags.contains(MsFlags::MS_REC | MsFlags::MS_RDONLY));
        assert_eq!(p.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
    }

    #[test]
    fn unsupported_is_refused() {
        assert!(parse(&opts(&["idmap"])).is_err());
    }
}
