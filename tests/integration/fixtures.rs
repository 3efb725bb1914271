//! The shipped example tree and the repository itself, scanned with the shipped rule pack.

use std::path::Path;

use crate::harness::*;

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn example_app_yields_exactly_the_planted_secrets() {
    let o = run(keywarden_in(repo_root()).args([
        "scan",
        "--no-config",
        "fixtures/example-app",
        "--format",
        "json",
    ]));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let report = json(&o);
    let got: Vec<(String, u64, u64, String, bool)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["rule_id"].as_str().unwrap().to_string(),
                f["client_side"].as_bool().unwrap(),
            )
        })
        .collect();
    let want = [
        (".env", 3, 19, "stripe-secret-key", false),
        (".env", 5, 29, "database-postgres-url", false),
        ("config/settings.py", 4, 22, "aws-access-key-id", false),
        ("config/settings.py", 5, 26, "aws-access-key-pair", false),
        ("dist/bundle.js.map", 4, 10, "github-pat-classic", true),
        ("keys/deploy_key", 1, 1, "privatekey-openssh", false),
        ("public/app.min.js", 1, 2721, "gcp-api-key", true),
        ("src/voice.js", 8, 58, "keypair-authorization-header", false),
        ("static/index.html", 7, 29, "slack-bot-token", true),
    ]
    .map(|(p, l, c, r, cs)| (format!("fixtures/example-app/{p}"), l, c, r.to_string(), cs));
    assert_eq!(got, want);
    // The decoys (publishable key, documentation samples, placeholders, env lookups, the
    // allow-marked line) are absent above; the PNG is skipped as binary.
    assert_eq!(report["summary"]["skipped_binary"], 1);
    assert_eq!(report["summary"]["files_scanned"], 9);
    // The Authorization pair carries its key id.
    let pair = &report["findings"].as_array().unwrap()[7];
    assert!(pair["key_id"].is_string(), "{pair}");
}

#[test]
fn the_repository_itself_is_clean() {
    let o = run(keywarden_in(repo_root()).args(["scan", ".", "--format", "json"]));
    let report = json(&o);
    assert_eq!(report["findings"], serde_json::json!([]), "{}", stderr(&o));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}
