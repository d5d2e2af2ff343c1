//! The virtual-channel test files stay readable and share their setup through the harness: none is over
//! [`MAX_LINES`] lines, no function is defined in two of them, and none defines what the harness is for (a chain
//! context, a ledger config, app declarations, a pump loop, …).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Longest test file.
const MAX_LINES: usize = 800;

/// Functions only the harness defines.
const HARNESS_ONLY: &[&str] = &[
    "ctx",
    "config",
    "with_apps",
    "pump",
    "step",
    "step_selective",
    "crash_restart",
    "open_ledgers",
    "holdings",
    "run_until",
    "locked",
    "challenges_by",
    "conclusions_by",
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The functions a file defines, by name.
fn defined(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in source.lines() {
        let mut l = line.trim_start();
        for prefix in ["pub(super) ", "pub(crate) ", "pub ", "async "] {
            l = l.strip_prefix(prefix).unwrap_or(l);
        }
        if let Some(rest) = l.strip_prefix("fn ") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
    out
}

#[test]
fn virtual_channel_tests_are_short_and_share_no_setup() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/virtual_channels");
    let mut paths = Vec::new();
    files(&dir, &mut paths);
    assert!(paths.len() > 5, "{paths:?}");
    let mut owners: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in &paths {
        let source = std::fs::read_to_string(path).unwrap();
        let name = path.strip_prefix(&dir).unwrap().display().to_string();
        let lines = source.lines().count();
        assert!(lines <= MAX_LINES, "{name} has {lines} lines");
        for f in defined(&source) {
            assert!(
                !HARNESS_ONLY.contains(&f.as_str()),
                "{name} defines `{f}`: the harness's job"
            );
            let files = owners.entry(f).or_default();
            if !files.contains(&name) {
                files.push(name.clone());
            }
        }
    }
    let shared: Vec<_> = owners.iter().filter(|(_, files)| files.len() > 1).collect();
    assert!(
        shared.is_empty(),
        "defined in more than one file: {shared:?}"
    );
}
