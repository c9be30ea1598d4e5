//! Resolving paths inside the container's root: symlinks in the rootfs are
//! followed as if the rootfs were `/`, so a link can never lead a mount or a
//! device node out of it (the CVE-2015-1335 class).

use crate::error::{Error, Result};
use std::path::{Component, Path, PathBuf};

const MAX_LINKS: usize = 255;

/// `root` joined with `unsafe_path`, with every symlink on the way resolved
/// inside `root`. Components that do not exist yet are kept as they are.
pub fn resolve_in_root(root: &Path, unsafe_path: &Path) -> Result<PathBuf> {
    let mut pending: Vec<std::ffi::OsString> = unsafe_path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut current = PathBuf::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            current.pop();
            continue;
        }
        let candidate = current.join(&part);
        let full = root.join(&candidate);
        match std::fs::symlink_metadata(&full) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Error::Other(format!(
                        "too many symlinks resolving {} in the rootfs",
                        unsafe_path.display()
                    )));
                }
                let target = std::fs::read_link(&full)
                    .map_err(|e| Error::io("cannot read symlink", &full, e))?;
                if target.is_absolute() {
                    current = PathBuf::new();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(s) => pending.push(s.to_os_string()),
                        Component::ParentDir => pending.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => current = candidate,
        }
    }
    Ok(root.join(current))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_stay_inside() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir_all(root.join("real/dir")).unwrap();
        symlink("/etc", root.join("abs")).unwrap();
        symlink("../../../../..", root.join("real/up")).unwrap();
        symlink("dir", root.join("real/rel")).unwrap();
        assert_eq!(
            resolve_in_root(root, Path::new("/abs/passwd")).unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            resolve_in_root(root, Path::new("/real/up/etc")).unwrap(),
            root.join("etc")
        );
        assert_eq!(
            resolve_in_root(root, Path::new("/real/rel/x")).unwrap(),
            root.join("real/dir/x")
        );
        assert_eq!(
            resolve_in_root(root, Path::new("/../../x")).unwrap(),
            root.join("x")
        );
    }

    #[test]
    fn loops_end() {
        let t = tempfile::tempdir().unwrap();
        symlink("/loop", t.path().join("loop")).unwrap();
        assert!(resolve_in_root(t.path(), Path::new("/loop/x")).is_err());
    }
}
