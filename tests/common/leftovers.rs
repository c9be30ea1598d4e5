//! What a container may leave behind on the host.

use super::{busybox_rootfs, Bundle};
use std::ffi::OsStr;
use std::fs;
use std::path::Path;

/// What container `id` left on the host: mounts naming the bundle, cgroup
/// directories named after the id (depth <= 3 under each hierarchy), and
/// its state directory under `root`.
pub fn host_leftovers(root: &Path, id: &str, bundle: &Bundle) -> Vec<String> {
    let mut left = Vec::new();
    let mut paths = vec![bundle.path().to_string_lossy().into_owned()];
    if bundle.rootfs() != busybox_rootfs() {
        paths.push(bundle.rootfs().to_string_lossy().into_owned());
    }
    if let Ok(mi) = fs::read_to_string("/proc/self/mountinfo") {
        for line in mi
            .lines()
            .filter(|l| paths.iter().any(|p| l.contains(p.as_str())))
        {
            left.push(format!("mount: {line}"));
        }
    }
    if let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") {
        for h in hierarchies.flatten() {
            if h.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                find_dirs_named(&h.path(), id, 3, &mut left);
            }
        }
    }
    let state = root.join(id);
    if state.exists() {
        left.push(format!("state dir: {}", state.display()));
    }
    left
}

fn find_dirs_named(dir: &Path, name: &str, depth: u32, out: &mut Vec<String>) {
    if depth == 0 {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        if e.file_name() == OsStr::new(name) {
            out.push(format!("cgroup: {}", e.path().display()));
        }
        find_dirs_named(&e.path(), name, depth - 1, out);
    }
}
