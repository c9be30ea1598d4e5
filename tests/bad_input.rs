//! Bad input: each failure exits non-zero, prints one stderr line naming
//! the problem, and leaves nothing behind.

mod common;

use common::*;
use serde_json::json;
use std::fs;

/// `create` with the bundle's config as it is on disk (not rewritten).
fn create_raw(t: &TestEnv, b: &Bundle, id: &str) -> Output {
    t.cli.cmd(&["create", "--bundle", b.path_str(), id])
}

#[test]
fn missing_config_json_is_reported() {
    let t = TestEnv::new("no_config");
    let b = t.shared_bundle(&["true"]);
    let id = t.id();
    let _g = t.guard(&id);
    let out = create_raw(&t, &b, &id);
    assert_one_error(&out, &["config.json"]);
    t.assert_no_leftovers(&id, &b);
}

#[test]
fn malformed_config_json_is_reported() {
    // runc 1.1 fails this test: its message ("invalid character 'n'
    // looking for beginning of object key string") does not name the file.
    let t = TestEnv::new("bad_json");
    let b = t.shared_bundle(&["true"]);
    fs::write(b.path().join("config.json"), "{ not json").unwrap();
    let id = t.id();
    let _g = t.guard(&id);
    let out = create_raw(&t, &b, &id);
    assert_ne!(out.code, 0, "{out}");
    t.assert_no_leftovers(&id, &b);
    assert_one_error(&out, &["config.json"]);
}

#[test]
fn unknown_namespace_type_is_reported() {
    let t = TestEnv::new("bad_ns");
    let mut b = t.shared_bundle(&["true"]);
    b.namespace("bogusns", None);
    let id = t.id();
    let _g = t.guard(&id);
    let out = t.cli.create(&id, &b, &[]);
    assert_one_error(&out, &["bogusns"]);
    t.assert_no_leftovers(&id, &b);
}

#[test]
fn missing_rootfs_is_reported() {
    let t = TestEnv::new("no_rootfs");
    let mut b = t.shared_bundle(&["true"]);
    b.set("/root/path", json!("no-such-rootfs"));
    let id = t.id();
    let _g = t.guard(&id);
    let out = t.cli.create(&id, &b, &[]);
    assert_one_error(&out, &["no-such-rootfs"]);
    t.assert_no_leftovers(&id, &b);
}

#[test]
fn missing_executable_fails_create() {
    let t = TestEnv::new("no_exec");
    let b = t.shared_bundle(&["/nonexistent"]);
    let id = t.id();
    let _g = t.guard(&id);
    let out = t.cli.create(&id, &b, &[]);
    assert_one_error(&out, &["/nonexistent"]);
    t.assert_no_leftovers(&id, &b);
    let s = t.cli.cmd(&["state", &id]);
    assert_ne!(s.code, 0, "state of a container that failed to create: {s}");
}

/// podman maps "permission denied" to exit 126 (and "not found" to 127),
/// so a program that is a directory must say what execve(2) would.
#[test]
fn directory_as_executable_is_permission_denied() {
    let t = TestEnv::new("dir_exec");
    let b = t.shared_bundle(&["/etc"]);
    let id = t.id();
    let _g = t.guard(&id);
    let out = t.cli.create(&id, &b, &[]);
    assert_one_error(&out, &["exec: \"/etc\": permission denied"]);
    t.assert_no_leftovers(&id, &b);
}

#[test]
fn missing_executable_fails_run() {
    let t = TestEnv::new("no_exec_run");
    let b = t.shared_bundle(&["no-such-command"]);
    let (g, out) = t.run(&b);
    assert_one_error(&out, &["no-such-command"]);
    t.assert_no_leftovers(&g.id, &b);
}

#[test]
fn taken_id_is_refused_and_the_first_container_is_untouched() {
    // runc 1.1 fails this test: its message ("container with given ID
    // already exists") does not name the id.
    let t = TestEnv::new("id_taken");
    let b = t.shared_bundle(&["sleep", "1000"]);
    let g = t.create(&b);
    let before = t.cli.state(&g.id);
    let other = t.shared_bundle(&["true"]);
    let out = t.cli.create(&g.id, &other, &[]);
    let after = t.cli.state(&g.id);
    assert_eq!(after["status"], "created", "{after}");
    assert_eq!(after["pid"], before["pid"], "{after}");
    assert_eq!(after["bundle"], b.path_str(), "{after}");
    assert_one_error(&out, &[&g.id]);
}

#[test]
fn unknown_id_is_reported_by_state_start_kill_delete() {
    // runc 1.1 fails this test: its message ("container does not exist")
    // does not name the id. Exit codes and line counts match runc.
    let t = TestEnv::new("unknown_id");
    let id = t.id();
    let outs: Vec<Output> = [
        vec!["state", &id],
        vec!["start", &id],
        vec!["kill", &id, "KILL"],
        vec!["delete", &id],
    ]
    .iter()
    .map(|args| t.cli.cmd(args))
    .collect();
    for out in &outs {
        assert_one_error(out, &[]);
    }
    for out in &outs {
        assert_one_error(out, &[&id]);
    }
    assert!(!t.cli.root.join(&id).exists());
}

#[test]
fn delete_force_of_an_unknown_id_succeeds() {
    let t = TestEnv::new("force_unknown");
    let id = t.id();
    let out = t.cli.cmd(&["delete", "--force", &id]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!t.cli.root.join(&id).exists());
}

#[test]
fn invalid_container_id_is_refused() {
    let t = TestEnv::new("bad_id");
    let b = t.shared_bundle(&["true"]);
    let escape = t.path().join("escape");
    for id in ["../escape", "a b", ""] {
        let _g = t.guard(id);
        let out = t.cli.create(id, &b, &[]);
        assert_one_error(&out, &[]);
    }
    assert!(!escape.exists(), "an id escaped the state directory");
    let entries = fs::read_dir(&t.cli.root).unwrap().count();
    assert_eq!(entries, 0, "the state directory is not empty");
}

#[test]
fn wrongly_typed_field_is_reported() {
    let t = TestEnv::new("bad_field");
    let mut b = t.shared_bundle(&["true"]);
    // A string where the spec wants an array.
    b.set("/process/args", json!("sh -c true"));
    let id = t.id();
    let _g = t.guard(&id);
    let out = t.cli.create(&id, &b, &[]);
    // The error names the field by its JSON path (the path-tracking parse,
    // run only once the plain one has failed) and the file.
    assert_one_error(&out, &["process.args", "config.json"]);
    t.assert_no_leftovers(&id, &b);
}

/// Without a cgroup namespace the runtime builds the v1 cgroup view while
/// init mounts the rest. A mount that fails before init gets to the view
/// must still be reported as itself, whether init died before or after the
/// runtime sent the view, with nothing left behind (the detached view
/// included: it lives only as long as the message carrying it).
#[test]
fn a_mount_failing_before_the_cgroup_view_is_reported() {
    let t = TestEnv::new("mount_before_view");
    for round in 0..5 {
        let mut b = t.shared_bundle(&["true"]);
        b.remove_namespace("cgroup");
        let missing = t.path().join(format!("no-such-source-{round}"));
        let bad = json!({"destination": "/mnt", "type": "bind",
                         "source": missing, "options": ["rbind"]});
        b.config["mounts"].as_array_mut().unwrap().insert(0, bad);
        let (g, out) = t.run(&b);
        assert_one_error(&out, &[missing.to_str().unwrap()]);
        t.assert_no_leftovers(&g.id, &b);
    }
}

/// A namespace path that is no namespace fails in init right after the
/// clone, while the runtime is still making the cgroup: the runtime's next
/// message then finds init gone, and what init reported is the error.
#[test]
fn a_namespace_path_that_is_no_namespace_is_reported() {
    let t = TestEnv::new("not_a_ns");
    let not_ns = t.path().join("not-a-namespace");
    fs::write(&not_ns, "").unwrap();
    let mut b = t.shared_bundle(&["true"]);
    b.namespace("network", Some(not_ns.to_str().unwrap()));
    let (g, out) = t.run(&b);
    assert_one_error(&out, &[not_ns.to_str().unwrap()]);
    t.assert_no_leftovers(&g.id, &b);
}

#[test]
fn effective_capabilities_beyond_permitted_are_reported() {
    let t = TestEnv::new("caps_eff");
    let mut b = t.shared_bundle(&["true"]);
    b.set(
        "/process/capabilities",
        json!({"bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL", "CAP_CHOWN"],
               "permitted": ["CAP_KILL"]}),
    );
    let id = t.id();
    let _g = t.guard(&id);
    let out = t.cli.create(&id, &b, &[]);
    assert_one_error(
        &out,
        &["process.capabilities.effective", "CAP_CHOWN", "permitted"],
    );
    t.assert_no_leftovers(&id, &b);
}
