//! The busybox rootfs the tests run in.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

const ROOTFS_VERSION: &str = "v1";

/// A busybox rootfs built once per test process (and cached across
/// processes) from the host's static `/bin/busybox`. Treat it as read-only.
pub fn busybox_rootfs() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        let uid = unsafe { libc::geteuid() };
        let tmpdir = std::env::temp_dir();
        let dir = tmpdir.join(format!("cella-test-rootfs-{uid}-{ROOTFS_VERSION}"));
        if dir.join("bin/busybox").is_file() {
            return dir;
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let tmp = tmpdir.join(format!(
            ".cella-test-rootfs-{uid}-{}-{nanos}",
            std::process::id()
        ));
        build_rootfs(&tmp);
        // Atomic publication: if another process won the race, use its copy.
        if fs::rename(&tmp, &dir).is_err() {
            let _ = fs::remove_dir_all(&tmp);
            assert!(
                dir.join("bin/busybox").is_file(),
                "no usable rootfs at {}",
                dir.display()
            );
        }
        dir
    })
}

fn build_rootfs(root: &Path) {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.is_file(),
        "/bin/busybox is missing: run scripts/install-test-deps.sh"
    );
    for d in [
        "bin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "root",
        "home/user",
    ] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::copy(busybox, root.join("bin/busybox")).unwrap();
    let list = Command::new(busybox).arg("--list").output().unwrap();
    assert!(list.status.success(), "busybox --list failed");
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        if applet != "busybox" && !applet.contains('/') {
            symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n",
    )
    .unwrap();
    fs::write(root.join("etc/group"), "root:x:0:\nuser:x:1000:\n").unwrap();
    // World-readable so a user-namespaced container can use it.
    let mode =
        |p: &str, m: u32| fs::set_permissions(root.join(p), fs::Permissions::from_mode(m)).unwrap();
    for d in [
        "",
        "bin",
        "etc",
        "proc",
        "sys",
        "dev",
        "root",
        "home",
        "home/user",
    ] {
        mode(d, 0o755);
    }
    mode("bin/busybox", 0o755);
    mode("etc/passwd", 0o644);
    mode("etc/group", 0o644);
    mode("tmp", 0o1777);
}

/// Copies the cached rootfs to `dest` (hard-linking the busybox binary), so a
/// test can have a rootfs of its own.
pub fn copy_rootfs(dest: &Path) {
    copy_tree(busybox_rootfs(), dest);
}

fn copy_tree(src: &Path, dest: &Path) {
    fs::create_dir_all(dest).unwrap();
    let mode = fs::metadata(src).unwrap().permissions().mode();
    fs::set_permissions(dest, fs::Permissions::from_mode(mode & 0o7777)).unwrap();
    for entry in fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let (from, to) = (entry.path(), dest.join(entry.file_name()));
        let ft = entry.file_type().unwrap();
        if ft.is_symlink() {
            symlink(fs::read_link(&from).unwrap(), &to).unwrap();
        } else if ft.is_dir() {
            copy_tree(&from, &to);
        } else if entry.file_name() == "busybox" {
            if fs::hard_link(&from, &to).is_err() {
                fs::copy(&from, &to).unwrap();
            }
        } else {
            fs::copy(&from, &to).unwrap();
        }
    }
}
