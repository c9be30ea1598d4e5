//! Loading and checking a bundle's config.json. The engine takes a checked
//! [`Bundle`]; every problem found here is one error naming the field and
//! the fix.

mod default;

pub use default::default_spec;

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A loaded bundle: its absolute directory, the parsed config and the
/// absolute root filesystem path.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    /// Boxed: a `Spec` is ~3 KB, and every move of one by value (from the
    /// parser to the bundle, the bundle into the start) is a copy in the
    /// movers' stack frames, which a start then faults in page by page.
    pub spec: Box<Spec>,
    pub rootfs: PathBuf,
}

impl Bundle {
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::fs::canonicalize(dir).map_err(|e| {
            Error::Config(format!(
                "bundle directory {} cannot be opened: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join("config.json");
        let data = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Config(format!(
                "{} not found: run 'cella spec' in the bundle to write a default one",
                path.display()
            )),
            _ => Error::io("cannot read", &path, e),
        })?;
        let spec = parse(&data).map_err(|e| {
            Error::Config(format!("malformed {}: {e}: fix the file", path.display()))
        })?;
        let rootfs = rootfs_path(&dir, &spec)?;
        validate(&spec)?;
        Ok(Bundle { dir, spec, rootfs })
    }
}

/// Parse a config, naming the JSON path of the first bad field.
///
/// Never inlined: serde's visitors for `Spec` give this function a ~21 KiB
/// frame, which inlined into `create` stayed reserved (and its pages
/// faulted in) under everything the start calls after the parse.
#[inline(never)]
pub fn parse(data: &[u8]) -> std::result::Result<Box<Spec>, String> {
    // The plain parser first: the path-tracking one is a second copy of
    // every Deserialize impl, worth running (and paging in) only to explain
    // a config that is wrong.
    match serde_json::from_slice::<Spec>(data) {
        Ok(spec) => Ok(Box::new(spec)),
        Err(_) => parse_explained(data),
    }
}

/// The path-tracking parse, out of line and cold: only a bad config takes
/// it, and inlined it added its own locals to `parse`'s frame.
#[cold]
#[inline(never)]
fn parse_explained(data: &[u8]) -> std::result::Result<Box<Spec>, String> {
    let de = &mut serde_json::Deserializer::from_slice(data);
    serde_path_to_error::deserialize(de)
        .map(Box::new)
        .map_err(|e| {
            let path = e.path().to_string();
            if path == "." || path == "?" || path.is_empty() {
                e.inner().to_string()
            } else {
                format!("{path}: {}", e.inner())
            }
        })
}

fn rootfs_path(bundle: &Path, spec: &Spec) -> Result<PathBuf> {
    let root = spec.root().as_ref().ok_or_else(|| {
        Error::Config("config.json has no \"root\": add {\"root\": {\"path\": \"rootfs\"}}".into())
    })?;
    let p = bundle.join(root.path());
    match std::fs::metadata(&p) {
        Ok(m) if m.is_dir() => {
            std::fs::canonicalize(&p).map_err(|e| Error::io("cannot resolve rootfs", &p, e))
        }
        Ok(_) => Err(Error::Config(format!(
            "rootfs {} is not a directory: point root.path at the container's root directory",
            p.display()
        ))),
        Err(_) => Err(Error::Config(format!(
            "rootfs {} does not exist: create it or fix root.path in config.json",
            p.display()
        ))),
    }
}

/// Checks that serde cannot express.
pub fn validate(spec: &Spec) -> Result<()> {
    let bad = |m: String| Err(Error::Config(m));
    let process = match spec.process() {
        Some(p) => p,
        None => return bad("config.json has no \"process\": add one with \"args\"".into()),
    };
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return bad("process.args is empty: give the command to run, e.g. [\"sh\"]".into());
    }
    if !process.cwd().is_absolute() {
        return bad(format!(
            "process.cwd {:?} is not an absolute path",
            process.cwd()
        ));
    }
    let linux = match spec.linux() {
        Some(l) => l,
        None => {
            return bad("config.json has no \"linux\" section: cella runs Linux containers".into())
        }
    };
    let mut seen = HashSet::new();
    let namespaces = linux.namespaces().as_deref().unwrap_or(&[]);
    for ns in namespaces {
        if !seen.insert(ns.typ()) {
            return bad(format!(
                "linux.namespaces lists {} twice: keep one",
                ns.typ()
            ));
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return bad(format!(
                    "linux.namespaces: path {:?} of the {} namespace is not absolute",
                    p,
                    ns.typ()
                ));
            }
        }
    }
    let has = |t| namespaces.iter().any(|n| n.typ() == t);
    if !has(LinuxNamespaceType::Mount) {
        return bad("linux.namespaces has no mount namespace: cella needs one to give the container its own root".into());
    }
    let new_user = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new_user && !maps {
        return bad("a new user namespace needs linux.uidMappings and linux.gidMappings".into());
    }
    if maps && !new_user {
        return bad("linux.uidMappings/gidMappings are set but there is no new user namespace: add {\"type\": \"user\"} to linux.namespaces".into());
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return bad("hostname is set but the container has no UTS namespace of its own: add {\"type\": \"uts\"} or drop hostname".into());
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return bad("domainname is set but the container has no UTS namespace of its own".into());
    }
    if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty())
        && !namespaces
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::Time && n.path().is_none())
    {
        return bad("linux.timeOffsets needs a new time namespace in linux.namespaces".into());
    }
    if let Some(sysctl) = linux.sysctl() {
        for key in sysctl.keys() {
            if key.is_empty() || key.contains("..") || key.contains('/') && key.contains('.') {
                return bad(format!(
                    "linux.sysctl key {key:?} is not a valid sysctl name"
                ));
            }
        }
    }
    for m in spec.mounts().as_deref().unwrap_or(&[]) {
        if !m.destination().is_absolute() {
            return bad(format!(
                "mount destination {:?} is not an absolute path",
                m.destination()
            ));
        }
    }
    if let Some(caps) = process.capabilities() {
        let permitted = caps.permitted().clone().unwrap_or_default();
        let mut extra: Vec<String> = caps
            .effective()
            .iter()
            .flatten()
            .filter(|c| !permitted.contains(c))
            .map(|c| format!("CAP_{c}"))
            .collect();
        if !extra.is_empty() {
            extra.sort();
            return bad(format!(
                "process.capabilities.effective holds {} that permitted does not: the effective set must be a subset of the permitted one; add to permitted or drop from effective",
                extra.join(", ")
            ));
        }
    }
    if process
        .apparmor_profile()
        .as_ref()
        .is_some_and(|p| !p.is_empty())
    {
        return bad("process.apparmorProfile is set but AppArmor is not supported by this version of cella: remove it".into());
    }
    if process
        .selinux_label()
        .as_ref()
        .is_some_and(|p| !p.is_empty())
    {
        return bad("process.selinuxLabel is set but SELinux is not supported by this version of cella: remove it".into());
    }
    if linux.mount_label().as_ref().is_some_and(|p| !p.is_empty()) {
        return bad("linux.mountLabel is set but SELinux is not supported by this version of cella: remove it".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_is_valid() {
        let spec = default_spec(false);
        validate(&spec).unwrap();
        let rootless = default_spec(true);
        validate(&rootless).unwrap();
    }

    #[test]
    fn bad_namespace_names_the_field() {
        let err = parse(br#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"bogus"}]}}"#)
            .unwrap_err();
        assert!(err.contains("linux.namespaces"), "{err}");
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn hostname_needs_uts() {
        let mut spec = default_spec(false);
        let linux = spec.linux_mut().as_mut().unwrap();
        let ns: Vec<_> = linux
            .namespaces()
            .clone()
            .unwrap()
            .into_iter()
            .filter(|n| n.typ() != LinuxNamespaceType::Uts)
            .collect();
        linux.set_namespaces(Some(ns));
        let e = validate(&spec).unwrap_err().to_string();
        assert!(e.contains("UTS"), "{e}");
    }
}
