//! The `ferry` binary itself: `ferry demo` runs and its JSON report adds up; bad arguments, bad config files and
//! unreachable nodes get a clear message and a non-zero exit code, never a panic.

#![allow(clippy::unwrap_used)]

use std::process::Command;

fn ferry(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .env_remove("FERRY_TOKEN")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn no_panic(stderr: &str) {
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
}

#[test]
fn ferry_demo_binary_reports_json() {
    let (code, stdout, stderr) = ferry(&["demo", "--payments", "40", "--rounds", "2", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let onchain = report["onchain"].as_array().unwrap();
    assert_eq!(onchain.len(), 6, "{report}");
    assert_eq!(report["payments"], 40);
    assert_eq!(report["rounds"], 2);
    let sum = |key: &str| -> u128 {
        report[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.to_string().parse::<u128>().unwrap())
            .sum()
    };
    assert_eq!(sum("deposits"), sum("payouts"), "{report}");
    // Two rounds: Alice wins both (rock beats scissors, paper beats rock) at 0.01 ETH a round.
    assert_eq!(report["alice_game_net"].to_string(), "20000000000000000");
}

#[test]
fn ferry_bad_arguments_exit_2_with_usage() {
    for args in [
        vec!["demo", "--payments", "lots"],
        vec!["ledger", "open", "--peer", "0x12", "--deposit", "1"],
        vec!["virtual", "pay", "0x00", "1"],
        vec!["frobnicate"],
        vec![],
    ] {
        let (code, _, stderr) = ferry(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains("Usage") || stderr.contains("error"),
            "{stderr}"
        );
        no_panic(&stderr);
    }
}

#[test]
fn ferry_bad_config_and_unreachable_node_exit_1_with_reason() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let (code, _, stderr) = ferry(&["node", "--config", missing.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("cannot read"), "{stderr}");
    no_panic(&stderr);

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "chain = \"embedded\"\nkey_file = \"k\"\ndata_dir = \"d\"\nlisten = \"127.0.0.1:0\"\napi = \"127.0.0.1:0\"\napi_token = \"0123456789abcdef\"\nlisten_twice = 1\n",
    )
    .unwrap();
    let (code, _, stderr) = ferry(&["node", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("listen_twice"), "{stderr}");
    no_panic(&stderr);

    let (code, _, stderr) = ferry(&["status"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("token"), "{stderr}");
    let (code, _, stderr) = ferry(&[
        "status",
        "--api",
        "http://127.0.0.1:9",
        "--token",
        "0123456789abcdef",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.starts_with("error:"), "{stderr}");
    no_panic(&stderr);
}
