//! Runs cella's lifecycle and cgroup suites in a pure cgroup v2 qemu guest.
//!
//! The host's cgroups are v1/hybrid, so the v2 code (memory.max, cpu.max,
//! io.max, the eBPF device filter, cgroup.freeze, cgroup.kill, memory.events)
//! only runs in a guest. The guest runs the *same* test binaries that
//! `cargo test` runs on the host (one suite, two layouts): they reach it over
//! a read-only 9p share together with the runtime, and the tests pick the v1
//! or v2 files at run time (tests/common/cgroup.rs).
//!
//! Steps: `cargo test --no-run` for the suites below; scripts/vm/build-guest.sh
//! for the kernel and initramfs (cached in target/vm/); qemu (TCG, no KVM)
//! under `timeout`; the serial console is saved in target/vm/last-guest.log
//! and parsed. Every test listed by the host binary must report `ok` in the
//! guest. `CELLA_TEST_RUNTIME` on the host selects the runtime shipped to the
//! guest, as for the other suites.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The suites run in the guest: test target and libtest arguments.
const SUITES: &[(&str, &[&str])] = &[
    ("lifecycle", &[]),
    ("cgroup_v2", &[]),
    // The tests of cgroups.rs that do not read v1 file names.
    (
        "cgroups",
        &[
            "--exact",
            "ps_lists_exactly_the_container_processes",
            "kill_all_kills_every_process_without_a_pid_namespace",
            "kill_all_kills_a_paused_container",
            "net_cls_class_id_is_refused_without_the_controller",
            "systemd_cgroup_driver_and_slice_paths_are_refused",
        ],
    ),
];
/// Hard limit for the whole guest run (boot, every suite, poweroff).
const QEMU_TIMEOUT_SECS: u64 = 600;
/// Limit for one suite inside the guest, so a hang still yields a verdict.
const SUITE_TIMEOUT_SECS: u64 = 300;
/// How long building the suites may take (a cold build on 2 cores).
const BUILD_TIMEOUT: Duration = Duration::from_secs(1800);
const KERNEL_ARGS: &str =
    "console=ttyS0 systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all panic=-1 quiet";
/// How many failed tests' output the failure message quotes.
const MAX_DETAILS: usize = 6;
const HINT: &str = "run scripts/install-test-deps.sh as root (the README's test command does)";

#[test]
fn guest_cgroup_v2_suite() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "must run as root");
    let started = Instant::now();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let profile = Path::new(env!("CARGO_BIN_EXE_cella")).parent().unwrap();
    let vm = profile.parent().unwrap().join("vm");
    fs::create_dir_all(&vm).unwrap();
    let qemu = find_tool("qemu-system-x86_64");
    let timeout = find_tool("timeout");

    let suites = build_suites(root, profile);
    let runtime = match std::env::var_os("CELLA_TEST_RUNTIME") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_cella")),
    };
    let mut bins = vec![runtime.clone()];
    bins.extend(suites.iter().map(|s| s.1.clone()));
    let (kernel, initramfs) = prepare_guest(root, &vm, &bins);
    let expected = expected_tests(&suites);

    // The share: bin/ (the runtime and the suites) and the plan.
    let run = tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(&vm)
        .unwrap();
    let share = run.path().join("share");
    fs::create_dir_all(share.join("bin")).unwrap();
    share_binary(&runtime, &share.join("bin/cella"));
    let mut plan = String::new();
    for (name, exe, args) in &suites {
        share_binary(exe, &share.join("bin").join(name));
        plan += &format!("{name} {SUITE_TIMEOUT_SECS} {}\n", args.join(" "));
    }
    fs::write(share.join("plan"), plan).unwrap();
    // A sparse disk: the guest's /dev/vda (254:0), for io.max.
    let disk = run.path().join("disk.raw");
    fs::File::create(&disk).unwrap().set_len(64 << 20).unwrap();

    let prepared = started.elapsed();
    let mut cmd = Command::new(timeout);
    cmd.args(["-k", "10", &QEMU_TIMEOUT_SECS.to_string()])
        .arg(qemu)
        .args(["-accel", "tcg", "-m", "1024", "-smp", "2"])
        .args(["-no-reboot", "-nographic", "-nic", "none"])
        .arg("-kernel")
        .arg(&kernel)
        .arg("-initrd")
        .arg(&initramfs)
        .args(["-append", KERNEL_ARGS])
        .arg("-virtfs")
        .arg(format!(
            "local,path={},mount_tag=host,security_model=passthrough,readonly=on",
            qemu_path(&share)
        ))
        .arg("-drive")
        .arg(format!("file={},if=virtio,format=raw", qemu_path(&disk)));
    let log_path = vm.join("last-guest.log");
    let (status, log) = boot(cmd, &log_path);
    let wall = started.elapsed();
    let verdict = Verdict::parse(&log);
    note(&format!(
        "guest run: {} passed, {} failed; {:.0?} in all ({:.0?} preparing, {:.0?} in qemu); log: {}",
        verdict.passed(),
        verdict.failed().len(),
        wall,
        prepared,
        wall - prepared,
        log_path.display()
    ));
    let problems = verdict.problems(&expected, status);
    assert!(
        problems.is_empty(),
        "the cgroup v2 guest run failed:\n  {}\n\n{}\n--- last lines of the guest console ({}):\n{}",
        problems.join("\n  "),
        verdict.failure_details(),
        log_path.display(),
        tail(&log, 60)
    );
}

/// Writes one line to the real stderr: libtest does not capture it, so the
/// guest's progress shows while the test runs.
fn note(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "[cgroup-v2-vm] {line}");
}

fn find_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/sbin", "/bin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed: {HINT}"))
}

/// qemu splits its option values on commas.
fn qemu_path(p: &Path) -> String {
    let s = p.to_str().expect("non-UTF-8 path");
    assert!(
        !s.contains(','),
        "qemu cannot take a path with a comma: {s}"
    );
    s.to_string()
}

/// Puts a binary into the share without its debug info (a third of the
/// size, which the guest copies into memory), or as is without `strip`.
fn share_binary(from: &Path, to: &Path) {
    let stripped = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(to)
        .arg(from)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !stripped && fs::hard_link(from, to).is_err() {
        fs::copy(from, to)
            .unwrap_or_else(|e| panic!("cannot copy {} to the share: {e}", from.display()));
    }
}

/// Runs a command with its output in temp files, killing it after `limit`.
fn run_with_limit(cmd: &mut Command, limit: Duration) -> (i32, String, String) {
    let (mut out, mut err) = (tempfile::tempfile().unwrap(), tempfile::tempfile().unwrap());
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let status = wait_limit(&mut child, limit)
        .unwrap_or_else(|| panic!("{what} did not finish within {limit:?}; killed it"));
    (status, read_back(&mut out), read_back(&mut err))
}

fn read_back(f: &mut fs::File) -> String {
    use std::io::Seek;
    let mut buf = Vec::new();
    let _ = f.rewind().and_then(|_| f.read_to_end(&mut buf));
    String::from_utf8_lossy(&buf).into_owned()
}

/// Waits for `child` at most `limit`; on timeout kills it and returns None.
fn wait_limit(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            use std::os::unix::process::ExitStatusExt;
            return Some(st.code().unwrap_or(128 + st.signal().unwrap_or(0)));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Builds the suites with `cargo test --no-run` and returns each one's
/// name, executable and libtest arguments. Fresh binaries (as under
/// `cargo test`) make this a no-op.
fn build_suites(root: &Path, profile: &Path) -> Vec<(String, PathBuf, Vec<String>)> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "test",
        "--no-run",
        "--message-format=json",
        "--manifest-path",
    ])
    .arg(root.join("Cargo.toml"));
    if profile.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    for (name, _) in SUITES {
        assert_ne!(*name, "cgroup_v2_vm", "the guest must not boot a guest");
        cmd.args(["--test", name]);
    }
    let (code, out, err) = run_with_limit(&mut cmd, BUILD_TIMEOUT);
    assert_eq!(code, 0, "cargo test --no-run failed:\n{err}");
    let mut exes = BTreeMap::new();
    for v in out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        let kinds = v["target"]["kind"].as_array().cloned().unwrap_or_default();
        if v["reason"] == "compiler-artifact" && kinds.iter().any(|k| k == "test") {
            if let (Some(n), Some(e)) = (v["target"]["name"].as_str(), v["executable"].as_str()) {
                exes.insert(n.to_string(), PathBuf::from(e));
            }
        }
    }
    SUITES
        .iter()
        .map(|(name, args)| {
            let exe = exes.get(*name).unwrap_or_else(|| {
                panic!("cargo built no test binary for tests/{name}.rs:\n{err}")
            });
            let args = args.iter().map(|a| a.to_string()).collect();
            (name.to_string(), exe.clone(), args)
        })
        .collect()
}

/// scripts/vm/build-guest.sh: the cached kernel and initramfs.
fn prepare_guest(root: &Path, vm: &Path, bins: &[PathBuf]) -> (PathBuf, PathBuf) {
    let script = root.join("scripts/vm/build-guest.sh");
    let mut cmd = Command::new(&script);
    cmd.arg(vm).args(bins);
    let (code, out, err) = run_with_limit(&mut cmd, Duration::from_secs(300));
    assert_eq!(code, 0, "{} failed ({HINT}):\n{err}", script.display());
    let get = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("build-guest.sh printed no {key}: {out}\n{err}"))
    };
    (get("KERNEL="), get("INITRAMFS="))
}

/// The tests each suite's binary runs with its arguments, from `--list`.
fn expected_tests(suites: &[(String, PathBuf, Vec<String>)]) -> Vec<(String, String)> {
    let mut all = Vec::new();
    for (name, exe, args) in suites {
        let mut cmd = Command::new(exe);
        cmd.args(["--list", "--format", "terse"]).args(args);
        let (code, out, err) = run_with_limit(&mut cmd, Duration::from_secs(60));
        assert_eq!(code, 0, "{} --list failed: {err}", exe.display());
        let tests: Vec<_> = out
            .lines()
            .filter_map(|l| l.strip_suffix(": test"))
            .map(|t| (name.clone(), t.to_string()))
            .collect();
        assert!(!tests.is_empty(), "{name} lists no test with {args:?}");
        if let Some(missing) = args
            .iter()
            .filter(|a| !a.starts_with('-'))
            .find(|a| !tests.iter().any(|(_, t)| t == *a))
        {
            panic!(
                "tests/{name}.rs has no test {missing} (update SUITES in tests/cgroup_v2_vm.rs)"
            );
        }
        all.extend(tests);
    }
    all
}

/// Boots the guest; saves and returns its console. Lines from the guest
/// script and libtest's per-test lines are echoed as they arrive.
fn boot(mut cmd: Command, log_path: &Path) -> (i32, String) {
    use std::os::unix::process::CommandExt;
    let mut child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start qemu: {e}"));
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut log = fs::File::create(log_path).unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        while r.read_until(b'\n', &mut buf).unwrap_or(0) > 0 {
            let _ = log.write_all(&buf);
            let line = String::from_utf8_lossy(&buf).replace('\r', "");
            let shown = line.trim_end();
            if shown.starts_with("CELLA-VM: ")
                || shown.starts_with("CELLA-VM-RESULT")
                || shown.starts_with("test ")
                || shown.contains("Kernel panic")
            {
                note(&format!("guest: {shown}"));
            }
            text.push_str(&line);
            buf.clear();
        }
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let limit = Duration::from_secs(QEMU_TIMEOUT_SECS + 30);
    let status = wait_limit(&mut child, limit).unwrap_or_else(|| {
        // `timeout` should have ended qemu; if not, end its whole group so
        // the console pipe closes.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        124
    });
    let mut text = reader.join().unwrap();
    let err = err_reader.join().unwrap();
    if !err.trim().is_empty() {
        text.push_str(&format!("\n--- qemu stderr\n{err}"));
    }
    (status, text)
}

/// What the guest reported.
struct Verdict {
    /// `CELLA-VM-RESULT: ...`, if the guest got that far.
    result: Option<String>,
    /// (suite, test) -> "ok" or "FAILED".
    tests: BTreeMap<(String, String), String>,
    log: String,
}

impl Verdict {
    fn parse(log: &str) -> Verdict {
        let mut tests = BTreeMap::new();
        let mut result = None;
        for line in log.lines() {
            if let Some(r) = line.strip_prefix("CELLA-VM-RESULT: ") {
                result = Some(r.trim().to_string());
            }
            let Some(rest) = line.strip_prefix("CELLA-VM-TEST: ") else {
                continue;
            };
            let mut f = rest.split_whitespace();
            if let (Some(suite), Some("test"), Some(name), Some("..."), Some(outcome)) =
                (f.next(), f.next(), f.next(), f.next(), f.next())
            {
                let key = (suite.to_string(), name.to_string());
                tests.insert(key, outcome.to_string());
            }
        }
        Verdict {
            result,
            tests,
            log: log.to_string(),
        }
    }

    fn passed(&self) -> usize {
        self.tests.values().filter(|o| *o == "ok").count()
    }

    fn failed(&self) -> Vec<String> {
        self.tests
            .iter()
            .filter(|(_, o)| *o != "ok")
            .map(|((s, t), _)| format!("{s}::{t}"))
            .collect()
    }

    fn problems(&self, expected: &[(String, String)], status: i32) -> Vec<String> {
        let mut p = Vec::new();
        match (&self.result, status) {
            (_, 124) | (_, 137) => p.push(format!(
                "the guest did not power off within {QEMU_TIMEOUT_SECS} s: qemu was killed"
            )),
            (None, s) => p.push(format!(
                "the guest printed no CELLA-VM-RESULT line (qemu exit status {s}): it did not boot or its /init died"
            )),
            (Some(r), _) if !r.starts_with("PASS ") => p.push(format!("guest result: {r}")),
            _ => {}
        }
        for line in self.log.lines() {
            if let Some(msg) = line.strip_prefix("CELLA-VM: ") {
                if msg.starts_with("ERROR")
                    || msg.contains("exited with status")
                    || msg.contains("left behind")
                {
                    p.push(format!("guest: {msg}"));
                }
            }
        }
        for f in self.failed() {
            p.push(format!("failed in the guest: {f}"));
        }
        let missing: Vec<String> = expected
            .iter()
            .filter(|k| !self.tests.contains_key(*k))
            .map(|(s, t)| format!("{s}::{t}"))
            .collect();
        if !missing.is_empty() {
            let shown = missing[..missing.len().min(5)].join(", ");
            let more = missing.len().saturating_sub(5);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            p.push(format!("no result from the guest for {shown}{more}"));
        }
        p
    }

    /// libtest's `---- <name> stdout ----` section of every failed test.
    fn failure_details(&self) -> String {
        let mut out = String::new();
        let failed: Vec<_> = self.tests.iter().filter(|(_, o)| *o != "ok").collect();
        if failed.len() > MAX_DETAILS {
            let more = failed.len() - MAX_DETAILS;
            out.push_str(&format!(
                "(details of the first {MAX_DETAILS} failures; {more} more in the log)\n"
            ));
        }
        for ((_, name), _) in failed.into_iter().take(MAX_DETAILS) {
            let header = format!("---- {name} stdout ----");
            let Some(start) = self.log.find(&header) else {
                continue;
            };
            let rest = &self.log[start + header.len()..];
            let end = ["\n---- ", "\nfailures:"]
                .iter()
                .filter_map(|m| rest.find(m))
                .min()
                .unwrap_or(rest.len());
            out.push_str(&header);
            out.push_str(&rest[..end]);
            out.push('\n');
        }
        out
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
