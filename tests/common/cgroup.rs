//! Finding a container's cgroup files on either layout: a v1 or hybrid
//! host (a hierarchy per controller) or a pure cgroup v2 host (one
//! hierarchy at /sys/fs/cgroup, as in the qemu guest of
//! tests/cgroup_v2_vm.rs). The same test then asserts the v1 or the v2 file.

use std::fs;
use std::path::{Path, PathBuf};

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// True when /sys/fs/cgroup itself is a cgroup2 mount (pure v2 layout).
pub fn unified_layout() -> bool {
    let path = std::ffi::CString::new("/sys/fs/cgroup").unwrap();
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statfs(path.as_ptr(), &mut st) };
    assert_eq!(
        rc,
        0,
        "statfs /sys/fs/cgroup: {}",
        std::io::Error::last_os_error()
    );
    st.f_type as i64 == CGROUP2_SUPER_MAGIC
}

/// `v2` on a pure cgroup v2 host, else `v1`: the name of the same file.
pub fn v1_or_v2<'a>(v1: &'a str, v2: &'a str) -> &'a str {
    if unified_layout() {
        v2
    } else {
        v1
    }
}

/// The mount point of the hierarchy that holds `controller` (v1), or of the
/// cgroup2 mount on a pure v2 host.
pub fn hierarchy_of(controller: &str) -> PathBuf {
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap();
    for line in mi.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        let (Some(mountpoint), Some(fstype), Some(opts)) = (pre.get(4), post.first(), post.get(2))
        else {
            continue;
        };
        let wanted = match *fstype {
            "cgroup2" => unified_layout() && *mountpoint == "/sys/fs/cgroup",
            "cgroup" => opts.split(',').any(|o| o == controller),
            _ => false,
        };
        if wanted {
            return PathBuf::from(mountpoint);
        }
    }
    panic!("no mounted cgroup hierarchy has the {controller} controller")
}

/// The directory of the cgroup that process `pid` is in, on the hierarchy
/// of `controller` (read from /proc/<pid>/cgroup).
pub fn cgroup_dir_of(pid: i32, controller: &str) -> PathBuf {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/cgroup: {e}"));
    let unified = unified_layout();
    let rel = text
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            Some((f.nth(1)?, f.next()?))
        })
        .find(|(ctrls, _)| {
            if unified {
                ctrls.is_empty()
            } else {
                ctrls.split(',').any(|c| c == controller)
            }
        })
        .map(|(_, path)| path.trim_start_matches('/').to_string())
        .unwrap_or_else(|| panic!("pid {pid} has no {controller} cgroup: {text}"));
    hierarchy_of(controller).join(rel)
}

/// The directory for an absolute `linux.cgroupsPath` on the hierarchy of
/// `controller`.
pub fn cgroup_dir_for_path(controller: &str, cgroups_path: &str) -> PathBuf {
    hierarchy_of(controller).join(cgroups_path.trim_start_matches('/'))
}

/// A cgroup file, trimmed; panics naming the file when it cannot be read.
pub fn read_cgroup_file(dir: &Path, file: &str) -> String {
    let p = dir.join(file);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// The value of `key` in a flat-keyed cgroup file such as memory.events
/// (`oom_kill 1`) or cgroup.events (`frozen 0`).
pub fn keyed_value(dir: &Path, file: &str, key: &str) -> Option<u64> {
    read_cgroup_file(dir, file).lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}
