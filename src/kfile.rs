//! Reading the text files the kernel generates (procfs, cgroupfs).
//!
//! They report a size of 0, so `fs::read_to_string` stats the file and
//! then probes with 32 bytes and doubles: eight reads for a 1.5 KiB
//! mountinfo, each of them a trip through the seq_file code. One buffer
//! big enough for the usual file takes it in one read and one for the end.

use std::io::ErrorKind;
use std::path::Path;

/// Room for /proc/self/mountinfo of a host with ~100 mounts in one read.
const FIRST_READ: usize = 16 * 1024;

pub fn read(path: impl AsRef<Path>) -> std::io::Result<String> {
    read_file(std::fs::File::open(path)?)
}

/// [`read`] of a file already open.
pub fn read_file(f: std::fs::File) -> std::io::Result<String> {
    // Read into the vector's spare room: zeroing 16 KiB first would cost
    // more than the read of a usual file.
    let mut buf = Vec::with_capacity(FIRST_READ);
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity());
        }
        match rustix::io::read(&f, rustix::buffer::spare_capacity(&mut buf)) {
            Ok(0) => break,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    String::from_utf8(buf).map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_generated_file_whole() {
        let ours = super::read("/proc/self/mountinfo").unwrap();
        let std = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        // Both list the root mount; the tables themselves may differ by a
        // mount made in between by another test, so compare the shape.
        assert!(ours.lines().any(|l| l.split(' ').nth(4) == Some("/")));
        assert!(ours.ends_with('\n'));
        assert!(ours.lines().count().abs_diff(std.lines().count()) <= 4);
    }

    #[test]
    fn reads_empty_and_exactly_full_files() {
        let dir = std::env::temp_dir().join(format!("cella-kfile-e-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (empty, full) = (dir.join("empty"), dir.join("full"));
        std::fs::write(&empty, "").unwrap();
        let text = "y".repeat(super::FIRST_READ);
        std::fs::write(&full, &text).unwrap();
        let got = (super::read(&empty), super::read(&full));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got.0.unwrap(), "");
        assert_eq!(got.1.unwrap(), text);
    }

    #[test]
    fn grows_past_the_first_buffer() {
        // /proc/self/maps of a test binary is tens of KiB here, but use a
        // file we control the size of, on a real filesystem: same loop.
        let dir = std::env::temp_dir().join(format!("cella-kfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("big");
        let text = "x".repeat(super::FIRST_READ * 3 + 7);
        std::fs::write(&p, &text).unwrap();
        let got = super::read(&p);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got.unwrap(), text);
    }
}
