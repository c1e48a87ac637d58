//! The command line itself: version, help and usage errors.

use crate::util::Home;

#[test]
fn version_names_the_commit() {
    let home = Home::new("version");
    let out = home.run(&["--version"]);
    assert_eq!(out.code, 0);
    let line = out.stdout.trim();
    assert!(line.starts_with(&format!("openclaw {} (", env!("CARGO_PKG_VERSION"))), "{line}");
    assert!(!line.ends_with("()"), "{line}");
}

#[test]
fn every_command_has_help() {
    let home = Home::new("help");
    for args in [&["--help"][..], &["config", "--help"], &["doctor", "--help"], &["sandbox", "--help"], &[]] {
        let out = home.run(args);
        assert_eq!(out.code, 0, "{args:?}");
        assert!(out.stdout.contains("Usage: openclaw"), "{args:?}: {}", out.stdout);
    }
}

#[test]
fn usage_errors_exit_2() {
    let home = Home::new("usage");
    let out = home.run(&["frobnicate"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("unknown command 'frobnicate'"), "{}", out.stderr);
    assert_eq!(home.run(&["doctor", "--nope"]).code, 2);
    assert_eq!(home.run(&["--profile", "../x", "config", "file"]).code, 1);
}
