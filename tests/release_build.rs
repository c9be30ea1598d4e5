//! The release binary the README's demo and the benchmark use
//! (`scripts/build-release.sh`) is built the way docs/performance.md says,
//! static, non-PIE and linked with musl rather than glibc, and works: every
//! integration suite runs against it (`CELLA_TEST_RUNTIME`), seccomp through
//! the libseccomp linked into it.
//! The code a start runs is laid out first and together, in the order of
//! scripts/symbol-order.txt.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// (ELF type, whether it names a program interpreter) of a 64-bit
/// little-endian ELF file.
fn elf_kind(path: &Path) -> (u16, bool) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&b[..4], b"\x7fELF", "{} is not ELF", path.display());
    assert_eq!((b[4], b[5]), (2, 1), "not a 64-bit little-endian ELF");
    let e_type = u16_at(&b, 0x10);
    let phoff = u64_at(&b, 0x20) as usize;
    let phentsize = u16_at(&b, 0x36) as usize;
    let phnum = u16_at(&b, 0x38) as usize;
    const PT_INTERP: u32 = 3;
    let interp = (0..phnum).any(|i| u32_at(&b, phoff + i * phentsize) == PT_INTERP);
    (e_type, interp)
}

/// Every function of scripts/symbol-order.txt that the linker map shows as
/// its own input section (`.text.<symbol>`, as rustc emits them) sits in
/// the file's order, ahead of every Rust function not in the file. Most of
/// the file must still name functions of this build: one that has gone
/// stale packs nothing (regenerate it with scripts/symbol-order.sh).
fn hot_code_is_packed(map: &Path) {
    let order_path = root().join("scripts/symbol-order.txt");
    let order: Vec<String> = std::fs::read_to_string(&order_path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let map = std::fs::read_to_string(map).unwrap_or_else(|e| panic!("{}: {e}", map.display()));
    // "  VMA  LMA  size  align  file:(.text.SYMBOL)", one per function.
    let sections: std::collections::HashMap<&str, u64> = map
        .lines()
        .filter_map(|l| {
            let (head, sym) = l.split_once(":(.text.")?;
            let sym = sym.strip_suffix(')')?;
            // rustc marks cold paths `.text.unlikely.SYMBOL`.
            let sym = sym.strip_prefix("unlikely.").unwrap_or(sym);
            let vma = u64::from_str_radix(head.split_whitespace().next()?, 16).ok()?;
            Some((sym, vma))
        })
        .collect();
    let rust: Vec<&String> = order
        .iter()
        .filter(|n| n.starts_with("_ZN") || n.starts_with("_R"))
        .collect();
    let placed: Vec<u64> = rust
        .iter()
        .filter_map(|n| sections.get(n.as_str()).copied())
        .collect();
    assert!(
        placed.len() * 2 >= rust.len(),
        "only {} of the {} Rust functions in {} are in this build: \
         regenerate it with scripts/symbol-order.sh",
        placed.len(),
        rust.len(),
        order_path.display()
    );
    assert!(
        placed.windows(2).all(|w| w[0] <= w[1]),
        "the ordered functions are not laid out in the file's order"
    );
    let listed: std::collections::HashSet<&str> = order.iter().map(String::as_str).collect();
    let first_cold = sections
        .iter()
        .filter(|(sym, _)| !listed.contains(*sym))
        .map(|(_, vma)| *vma)
        .min()
        .expect("no unordered functions in the map");
    let last_hot = *placed.last().unwrap();
    assert!(
        last_hot < first_cold,
        "hot code is not packed: an unordered function at {first_cold:#x} \
         comes before an ordered one at {last_hot:#x}"
    );
}

/// The linker map shows musl's start code and C library, and nothing of
/// glibc's (whose start probes the CPU with ~70 `cpuid`, each a trap in a
/// VM). The test set-up installs musl-dev; without it the build falls back
/// to glibc, and this fails.
fn linked_with_musl(map: &Path) {
    let map = std::fs::read_to_string(map).unwrap_or_else(|e| panic!("{}: {e}", map.display()));
    let musl = "/usr/lib/x86_64-linux-musl/";
    assert!(
        map.contains(&format!("{musl}crt1.o")),
        "musl's start file is not linked (is musl-dev installed?)"
    );
    assert!(
        map.contains(&format!("{musl}libc.a(")),
        "musl's libc.a is not linked (is musl-dev installed?)"
    );
    let glibc: Vec<&str> = map
        .lines()
        .filter(|l| l.contains("x86_64-linux-gnu/libc.a(") || l.contains("x86_64-linux-gnu/crt1.o"))
        .take(3)
        .collect();
    assert!(glibc.is_empty(), "glibc is linked in: {glibc:#?}");
}

#[test]
fn release_build_is_static_non_pie_and_passes_the_suites() {
    let out = Command::new(root().join("scripts/build-release.sh"))
        .arg("--quiet")
        .output()
        .expect("run scripts/build-release.sh");
    assert!(
        out.status.success(),
        "build-release.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let bin = target.join("release/cella");

    const ET_EXEC: u16 = 2;
    let (e_type, interp) = elf_kind(&bin);
    assert_eq!(
        e_type, ET_EXEC,
        "release binary is not a fixed-address (non-PIE) executable"
    );
    assert!(
        !interp,
        "release binary names a dynamic loader: it is not static"
    );

    hot_code_is_packed(&target.join("release/cella.map"));
    linked_with_musl(&target.join("release/cella.map"));

    // The features document reports seccomp from the static libseccomp.
    let f = Command::new(&bin).arg("features").output().unwrap();
    assert!(
        f.status.success(),
        "features: {}",
        String::from_utf8_lossy(&f.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&f.stdout).unwrap();
    assert_eq!(doc["linux"]["seccomp"]["enabled"], true, "{doc}");

    // Every integration suite (this one aside), against the release
    // binary: it links another C library than the debug build the suites
    // otherwise run against.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let suites = Command::new(cargo)
        .current_dir(root())
        .args([
            "test",
            "--tests",
            "--",
            "--test-threads=2",
            "--skip",
            "release_build_is_static_non_pie_and_passes_the_suites",
        ])
        .env("CELLA_TEST_RUNTIME", &bin)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&suites.stdout);
    assert!(
        suites.status.success(),
        "suites against {} failed:\n{text}\n{}",
        bin.display(),
        String::from_utf8_lossy(&suites.stderr)
    );
    let passed: usize = text
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(
        passed >= 200,
        "too few tests ran against the release binary:\n{text}"
    );
}
