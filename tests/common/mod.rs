//! Helpers shared by the end-to-end tests: run the built binary, read its JSON, and the
//! `rule_test!` macro (one fixture, the whole list of findings).
#![allow(dead_code)]

use std::process::{Command, Output};

use serde_json::Value;

pub fn tlsdiag(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tlsdiag"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run tlsdiag")
}

pub fn json(fixture: &str) -> Value {
    let out = tlsdiag(&["analyze", "--format", "json", fixture]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

pub type Row = (u64, String, String, Vec<u64>, String);

/// (stream, rule, severity, frames, evidence) for every finding, in report order.
pub fn findings(fixture: &str) -> Vec<Row> {
    let doc = json(fixture);
    let mut rows = Vec::new();
    for c in doc["files"][0]["connections"]
        .as_array()
        .expect("connections")
    {
        for f in c["findings"].as_array().expect("findings") {
            rows.push((
                c["stream"].as_u64().expect("stream"),
                f["rule"].as_str().expect("rule").to_string(),
                f["severity"].as_str().expect("severity").to_string(),
                f["frames"]
                    .as_array()
                    .expect("frames")
                    .iter()
                    .map(|v| v.as_u64().expect("frame"))
                    .collect(),
                f["evidence"].as_str().expect("evidence").to_string(),
            ));
        }
    }
    rows
}

pub fn summaries(fixture: &str) -> Vec<String> {
    let doc = json(fixture);
    doc["files"][0]["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .flat_map(|c| c["findings"].as_array().cloned().unwrap_or_default())
        .map(|f| f["summary"].as_str().unwrap_or("").to_string())
        .collect()
}

pub fn row(stream: u64, rule: &str, sev: &str, frames: &[u64], evidence: &str) -> Row {
    (
        stream,
        rule.into(),
        sev.into(),
        frames.to_vec(),
        evidence.into(),
    )
}

/// One rule, one fixture, the whole list of findings (ruff's `test_case` + Zeek's btest).
#[macro_export]
macro_rules! rule_test {
    ($name:ident, $file:expr, [$(($stream:expr, $rule:expr, $sev:expr, [$($f:expr),*], $ev:expr)),* $(,)?]) => {
        #[test]
        fn $name() {
            let want: Vec<$crate::common::Row> = vec![$($crate::common::row($stream, $rule, $sev, &[$($f),*], $ev)),*];
            assert_eq!($crate::common::findings($file), want);
        }
    };
}
