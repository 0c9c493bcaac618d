//! The `user` checks end to end: every way config.User can say (or hide) root, each image
//! written both as a docker-archive and as an OCI layout.

mod common;

use common::builder::*;
use common::{Run, scan_json, text};
use serde_json::Value;
use std::path::Path;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
    app:x:1000:1000::/home/app:/sbin/nologin\n";
/// The same accounts plus `toor`, root under another name (line 2).
const PASSWD_ALIAS: &str = "root:x:0:0:root:/root:/bin/sh\n\
    toor:x:0:0:backdoor:/root:/bin/sh\n\
    app:x:1000:1000::/home/app:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\nstaff:x:50:\napp:x:1000:\n";

/// How the image's accounts look.
#[derive(Clone, Copy)]
enum Accounts {
    /// /etc/passwd and /etc/group as above.
    Files,
    /// As `Files`, with `toor` in /etc/passwd.
    Alias,
    /// No /etc at all (a scratch image).
    None,
}

struct Case {
    user: Option<&'static str>,
    accounts: Accounts,
    checks: &'static [&'static str],
    code: i32,
}

const fn case(
    user: Option<&'static str>,
    accounts: Accounts,
    checks: &'static [&'static str],
    code: i32,
) -> Case {
    Case {
        user,
        accounts,
        checks,
        code,
    }
}

const CASES: &[Case] = &[
    case(None, Accounts::Files, &["user-root"], 1),
    case(Some("root"), Accounts::Files, &["user-root"], 1),
    case(Some("0"), Accounts::Files, &["user-root"], 1),
    case(Some("0:0"), Accounts::Files, &["user-root"], 1),
    case(Some("root:staff"), Accounts::Files, &["user-root"], 1),
    case(Some("toor"), Accounts::Alias, &["user-uid0-alias"], 1),
    case(Some("ghost"), Accounts::Files, &["user-not-found"], 1),
    case(Some("ghost"), Accounts::None, &["user-not-found"], 1),
    case(Some("app:nogroup"), Accounts::Files, &["user-not-found"], 1),
    case(Some("1234"), Accounts::Files, &["user-numeric-unmapped"], 0),
    case(
        Some("1234:1234"),
        Accounts::None,
        &["user-numeric-unmapped"],
        0,
    ),
    case(Some("app"), Accounts::Files, &[], 0),
    case(Some("app:app"), Accounts::Files, &[], 0),
    case(Some("app:1000"), Accounts::Files, &[], 0),
    case(Some("1000"), Accounts::Files, &[], 0),
    case(Some("1000:1000"), Accounts::Files, &[], 0),
];

fn image(user: Option<&str>, accounts: Accounts) -> Built {
    let base = Layer::new()
        .gzip()
        .dir("bin")
        .file_with("bin/app", "\x7fELF", 0o755, 0, 0);
    let mut image = Image::new().layer(base);
    let passwd = match accounts {
        Accounts::Files => Some(PASSWD),
        Accounts::Alias => Some(PASSWD_ALIAS),
        Accounts::None => None,
    };
    if let Some(passwd) = passwd {
        image = image.layer(
            Layer::new()
                .dir("etc")
                .file("etc/passwd", passwd)
                .file("etc/group", GROUP),
        );
    }
    if let Some(u) = user {
        image = image.user(u);
    }
    image.build()
}

/// The image as a docker-archive and as an OCI layout.
fn references(dir: &Path, name: &str, built: &Built) -> [String; 2] {
    let archive = dir.join(format!("{name}.tar"));
    DockerArchive::classic()
        .image(built, &["case:1"])
        .write(&archive);
    let layout = dir.join(name);
    Layout::new().image(built, &["case"]).write_dir(&layout);
    [
        format!("docker-archive:{}", text(&archive)),
        format!("oci:{}:case", text(&layout)),
    ]
}

/// The findings of the user family.
fn findings(run: &Run) -> Vec<Value> {
    run.json()["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f["check"].as_str().is_some_and(|c| c.starts_with("user-")))
        .collect()
}

#[test]
fn every_user_case_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    for (n, c) in CASES.iter().enumerate() {
        let built = image(c.user, c.accounts);
        for reference in references(dir.path(), &format!("case{n}"), &built) {
            let what = format!("USER {:?} in {reference}", c.user);
            let run = scan_json(&reference, &[]);
            assert_eq!(run.code, c.code, "{what}: {}\n{}", run.stderr, run.stdout);
            assert_eq!(run.family_ids("user"), c.checks, "{what}");
            let report = run.json();
            assert_eq!(report["image"]["user"], c.user.unwrap_or(""), "{what}");
            for f in findings(&run) {
                assert_eq!(f["location"]["config"], "config.User", "{what}");
                assert_eq!(f["evidence"], c.user.unwrap_or(""), "{what}");
            }
        }
    }
}

#[test]
fn findings_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let message = |user: Option<&str>, accounts, name: &str| {
        let built = image(user, accounts);
        let [archive, layout] = references(dir.path(), name, &built);
        let a = findings(&scan_json(&archive, &[]));
        let b = findings(&scan_json(&layout, &[]));
        assert_eq!(a, b, "{name}: the formats disagree");
        assert_eq!(a.len(), 1, "{name}: {a:?}");
        a[0].clone()
    };

    let f = message(None, Accounts::Files, "unset");
    assert_eq!(f["severity"], "high");
    assert_eq!(
        f["message"],
        "config.User is not set, so containers run as root (uid 0)"
    );

    let f = message(Some("toor"), Accounts::Alias, "alias");
    assert_eq!(
        f["message"],
        "config.User is \"toor\", which /etc/passwd maps to uid 0 (line 2)"
    );
    assert_eq!(f["location"]["path"], "/etc/passwd");

    let f = message(Some("ghost"), Accounts::Files, "ghost");
    assert_eq!(f["message"], "user \"ghost\" is not defined in /etc/passwd");
    let f = message(Some("ghost"), Accounts::None, "ghost-scratch");
    assert_eq!(
        f["message"],
        "user \"ghost\" cannot be resolved: the image has no /etc/passwd"
    );
    let f = message(Some("app:nogroup"), Accounts::Files, "nogroup");
    assert_eq!(
        f["message"],
        "group \"nogroup\" is not defined in /etc/group"
    );

    let f = message(Some("1234"), Accounts::Files, "numeric");
    assert_eq!(f["severity"], "low");
    assert_eq!(f["message"], "uid 1234 has no entry in /etc/passwd");
    let f = message(Some("1234"), Accounts::None, "numeric-scratch");
    assert_eq!(f["message"], "uid 1234: the image has no /etc/passwd");
}

#[test]
fn fail_on_moves_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let built = image(Some("1234"), Accounts::Files);
    for reference in references(dir.path(), "numeric", &built) {
        scan_json(&reference, &[]).expect_code(0);
        scan_json(&reference, &["--fail-on", "low"]).expect_code(1);
        let run = scan_json(&reference, &["--fail-on", "medium"]);
        run.expect_code(0);
        assert_eq!(run.json()["gate"]["failing"], 0);
    }
    let built = image(Some("root"), Accounts::Files);
    for reference in references(dir.path(), "root", &built) {
        scan_json(&reference, &["--fail-on", "critical"]).expect_code(0);
        let run = scan_json(&reference, &["--fail-on", "high"]);
        run.expect_code(1);
        let report = run.json();
        assert_eq!(report["gate"]["result"], "FAILED");
        assert_eq!(report["gate"]["failing"], 1);
        assert_eq!(report["summary"]["high"], 1);
    }
}

#[test]
fn a_passwd_behind_a_symlink_is_followed_inside_the_image() {
    // /etc is a symlink into the image; the user resolves through it.
    let dir = tempfile::tempdir().unwrap();
    let built = Image::new()
        .user("toor")
        .layer(
            Layer::new()
                .dir("usr/etc")
                .file("usr/etc/passwd", PASSWD_ALIAS)
                .symlink("etc", "usr/etc"),
        )
        .build();
    for reference in references(dir.path(), "linked", &built) {
        let run = scan_json(&reference, &[]);
        run.expect_code(1);
        assert_eq!(run.family_ids("user"), ["user-uid0-alias"], "{reference}");
    }
}

#[test]
fn corpus_dockle_scratch_runs_as_a_named_user_without_passwd() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let file = corpus.join("goodwithtech_dockle/pkg/scanner/testdata/scratch.tar");
    let run = scan_json(text(&file), &[]);
    assert_no_scan_error(&run);
    let report = run.json();
    assert_eq!(report["image"]["user"], "scratch");
    assert!(
        run.check_ids().contains(&"user-not-found".to_string()),
        "{:?}",
        run.check_ids()
    );
}

fn assert_no_scan_error(run: &Run) {
    assert_ne!(run.code, 2, "{}", run.stderr);
    common::assert_no_panic(run);
}
