//! Precision machinery: decoding (findings at the encoded span), generic rules and the
//! randomness gate, cross-rule dedupe, the known-example stop list, default path exclusions and
//! test-path awareness.

use base64::Engine;

use crate::harness::*;

/// Test-local provider rules, so these tests do not depend on the shipped rule pack.
const PROVIDER_RULES: &str = r#"
[[rules]]
id = "test-github-pat"
name = "Test GitHub PAT"
regex = '''\b(?P<secret>ghp_[A-Za-z0-9]{36})\b'''
keywords = ["ghp_"]
severity = "high"
confidence = "high"
examples = ["t = ghp_Ab3De5Gh7Jk9Mn1Pq2Rs4Tu6Vw8Xy0Zz1Aa2B"]

[[rules]]
id = "test-github-pat-checked"
name = "Test GitHub PAT with checksum"
regex = '''\b(?P<secret>ghc_[A-Za-z0-9]{36})\b'''
keywords = ["ghc_"]
checksum = "github"
severity = "high"
confidence = "high"
examples = ["t = ghc_Ab3De5Gh7Jk9Mn1Pq2Rs4Tu6Vw8Xy0Zz1Aa2B"]

[[rules]]
id = "test-acme-key"
name = "Test Acme key"
regex = '''\b(?P<secret>acme_[A-Za-z0-9]{24})\b'''
keywords = ["acme_"]
severity = "high"
confidence = "medium"
examples = ["k = acme_u8jzPde0IgxLd6GncfBAepfJ"]

[[rules]]
id = "test-acme-key-strict"
name = "Test Acme key with context"
regex = '''ACME_KEY\s*=\s*"(?P<secret>acme_[A-Za-z0-9]{24})"'''
keywords = ["acme_key"]
severity = "high"
confidence = "high"
examples = ['ACME_KEY = "acme_u8jzPde0IgxLd6GncfBAepfJ"']

[[rules]]
id = "test-postgres-url"
name = "Test Postgres URL password"
regex = '''postgres://[^:\s/]+:(?P<secret>\S+)@[a-z0-9.-]+:\d+'''
keywords = ["postgres://"]
severity = "high"
confidence = "medium"
examples = ["postgres://app:Xk9mP2vL7q@db:5432/app"]
"#;

const GENERIC_RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/generic.toml");

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn pat() -> String {
    fake::github_pat("Ab3De5Gh7Jk9Mn1Pq2Rs4Tu6Vw8Xy0")
}

/// `keywarden scan --no-config --rules <test rules> -f json --show-secrets <extra...>`.
fn scan(t: &TestDir, extra: &[&str]) -> (i32, serde_json::Value) {
    let rules = t.write_aux("rules/test.toml", PROVIDER_RULES);
    let mut args = vec![
        "scan",
        "--no-config",
        // The test rules plus the shipped generic rules only: the provider pack grows and its
        // rules would win the dedupe against the test rules.
        "--no-builtin-rules",
        "--rules",
        &rules,
        "--rules",
        GENERIC_RULES,
        "-f",
        "json",
        "--show-secrets",
    ];
    args.extend_from_slice(extra);
    let o = run(t.cmd().args(&args));
    (code(&o), json(&o))
}

/// `(rule_id, path, line, column, decoded)` of every finding.
fn located(r: &serde_json::Value) -> Vec<(String, String, u64, u64, Option<String>)> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_string(),
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["column"].as_u64().unwrap(),
                f["decoded"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn kubernetes_secret_with_base64_token_is_found_at_the_encoded_value() {
    let t = TestDir::new();
    let encoded = b64(&pat());
    t.write(
        "deploy/secret.yaml",
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ci\ntype: Opaque\ndata:\n  token: {encoded}\n"
        ),
    );
    let (c, r) = scan(&t, &["."]);
    assert_eq!(c, 1);
    assert_eq!(
        located(&r),
        vec![(
            "test-github-pat".into(),
            "deploy/secret.yaml".into(),
            7,
            10,
            Some("base64".into())
        )]
    );
    let f = &r["findings"][0];
    assert_eq!(
        f["secret"],
        pat().as_str(),
        "the decoded secret is reported"
    );
    assert_eq!(f["end_column"], 10 + encoded.len() as u64);
    assert_eq!(f["snippet"], format!("token: {encoded}"));
}

#[test]
fn docker_config_auth_inside_a_kubernetes_secret_decodes_two_layers() {
    let t = TestDir::new();
    let auth = b64(&format!("ci-bot:{}", pat()));
    let config = format!("{{\"auths\":{{\"registry.internal\":{{\"auth\":\"{auth}\"}}}}}}");
    t.write(
        "pull-secret.yaml",
        format!(
            "kind: Secret\ndata:\n  .dockerconfigjson: {}\n",
            b64(&config)
        ),
    );
    let (_, r) = scan(&t, &["."]);
    assert_eq!(
        located(&r),
        vec![(
            "test-github-pat".into(),
            "pull-secret.yaml".into(),
            3,
            86,
            Some("base64+base64".into())
        )]
    );
}

#[test]
fn basic_auth_header_is_reported_and_a_token_inside_it_wins() {
    let t = TestDir::new();
    let creds = b64("deploy:aItDr9uP14pEHpJpb9");
    let with_pat = b64(&format!("x-access-token:{}", pat()));
    t.write(
        "ci.sh",
        format!(
            "curl -H \"Authorization: Basic {creds}\" https://ci.internal\n\
             curl -H \"Authorization: Basic {with_pat}\" https://git.internal\n\
             curl -H \"Authorization: Basic dXNlcjpwYXNzd29yZA==\" https://docs.internal\n"
        ),
    );
    let (_, r) = scan(&t, &["."]);
    assert_eq!(
        located(&r),
        vec![
            ("http-basic-auth".into(), "ci.sh".into(), 1, 31, None),
            (
                "test-github-pat".into(),
                "ci.sh".into(),
                2,
                51,
                Some("base64".into())
            ),
        ]
    );
}

#[test]
fn percent_encoded_url_password_is_reported_decoded() {
    let t = TestDir::new();
    t.write(
        "settings.py",
        "DATABASE_URL = \"postgres://app:s3cr%3At%40Xy9Q@db.internal:5432/app\"\n",
    );
    let (_, r) = scan(&t, &["."]);
    assert_eq!(
        located(&r),
        vec![(
            "test-postgres-url".into(),
            "settings.py".into(),
            1,
            32,
            Some("percent".into())
        )]
    );
    assert_eq!(r["findings"][0]["secret"], "s3cr:t@Xy9Q");
}

#[test]
fn escaped_string_literal_is_decoded() {
    let t = TestDir::new();
    let escaped: String = pat().bytes().map(|b| format!("\\x{b:02x}")).collect();
    t.write("loader.js", format!("const k = \"{escaped}\";\n"));
    let (_, r) = scan(&t, &["."]);
    assert_eq!(
        located(&r),
        vec![(
            "test-github-pat".into(),
            "loader.js".into(),
            1,
            12,
            Some("escape".into())
        )]
    );
}

#[test]
fn generic_assignments_are_low_confidence_unless_corroborated() {
    let t = TestDir::new();
    t.write(
        ".env",
        "SESSION_SECRET=G8pSH4487q7J58m1CiAhzCue\n\
         CLIENT_SECRET=9QeWJKY40uvSwMFLZDe1f8rE\n\
         DB_PASSWORD=2hpChYgCfrL1spNx\n\
         ADMIN_PASSWORD=SuperSecretPassword2023\n\
         SECRET_NAME=my-app-production-secret\n\
         API_TOKEN=${API_TOKEN}\n\
         TOKEN_URL=https://auth.internal/oauth/token\n\
         REQUEST_ID=123e4567-e89b-12d3-a456-426614174000\n",
    );
    let (c, r) = scan(&t, &[".env"]);
    assert_eq!(c, 1);
    let got: Vec<(String, u64, String, String)> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["confidence"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("generic-secret".into(), 1, "low".into(), "medium".into()),
            (
                "generic-api-key".into(),
                2,
                "medium".into(),
                "medium".into()
            ),
            ("generic-password".into(), 3, "low".into(), "medium".into()),
        ]
    );
}

#[test]
fn a_string_matched_by_several_rules_is_one_finding_from_the_most_specific() {
    let t = TestDir::new();
    // test-acme-key (medium), test-acme-key-strict (high) and generic-api-key all match it.
    t.write(
        "config.py",
        "ACME_KEY = \"acme_u8jzPde0IgxLd6GncfBAepfJ\"\nother = acme_NKu8iS2G8NPRVdD53X83RZJz\n",
    );
    let (_, r) = scan(&t, &["."]);
    assert_eq!(
        finding_keys(&r),
        vec![
            ("test-acme-key-strict".into(), "config.py".into(), 1),
            ("test-acme-key".into(), "config.py".into(), 2),
        ]
    );
    assert_eq!(r["summary"]["findings"], 2);
}

#[test]
fn published_documentation_values_are_never_reported() {
    let t = TestDir::new();
    let stripe_doc = ["sk_test_", "4eC39HqLyjWDarjtT1zdp7dc"].concat();
    t.write(
        "README.md",
        format!("api_key = \"{stripe_doc}\"\nclient_secret: {stripe_doc}\n"),
    );
    let (c, r) = scan(&t, &["."]);
    assert_eq!(c, 0, "{r}");
}

#[test]
fn lockfiles_vendored_trees_and_assets_are_excluded_by_default() {
    let t = TestDir::new();
    let lock = "{\n  \"packages\": {\n    \"node_modules/left-pad\": {\n      \"version\": \"1.3.0\",\n      \
                \"resolved\": \"https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz\",\n      \
                \"integrity\": \"sha512-XI5MPzVNApjAyhQzphX8BkmKsKUxD4LdyK24iZeQ9HfdudUVnTHeafQUvCrMJq6ezq4bfa6ZBa7h6bgd51ZZeSw==\"\n    }\n  }\n}\n";
    t.write("package-lock.json", lock);
    t.write(
        "Cargo.lock",
        "[[package]]\nname = \"anyhow\"\nversion = \"1.0.86\"\nchecksum = \"b3d1d046238990b9cf5bcde22a3fb3584ee5cf65fb2765f454ed428c7a0063da\"\n",
    );
    t.write("node_modules/pkg/index.js", format!("t = \"{}\"\n", pat()));
    t.write("vendor/lib/creds.go", format!("t := \"{}\"\n", pat()));
    t.write("assets/logo.png", format!("not really a png {}\n", pat()));
    t.write(
        "dist/app.js.map",
        "{\"version\":3,\"sources\":[],\"mappings\":\"\"}\n",
    );
    let (c, r) = scan(&t, &["."]);
    assert_eq!(c, 0, "{r}");
    assert_eq!(r["summary"]["skipped_excluded"], 2, "the two lockfiles");
    assert_eq!(r["summary"]["skipped_binary"], 1, "the png, by extension");
    assert_eq!(
        r["summary"]["files_scanned"], 1,
        "the source map is scanned"
    );

    // Turned off, the vendored tree and the asset are scanned, and the lockfiles' hashes
    // still raise nothing.
    let (c, r) = scan(&t, &["--no-default-exclusions", "."]);
    assert_eq!(c, 1);
    assert_eq!(
        finding_keys(&r),
        vec![
            ("test-github-pat".into(), "assets/logo.png".into(), 1),
            (
                "test-github-pat".into(),
                "node_modules/pkg/index.js".into(),
                1
            ),
            ("test-github-pat".into(), "vendor/lib/creds.go".into(), 1),
        ]
    );
}

#[test]
fn default_exclusions_can_be_turned_off_in_the_config() {
    let t = TestDir::new();
    std::fs::create_dir_all(t.join(".git")).unwrap();
    t.write(".keywarden.toml", "[scan]\ndefault_exclusions = false\n");
    t.write("vendor/x.txt", format!("{}\n", pat()));
    let rules = t.write_aux("rules/test.toml", PROVIDER_RULES);
    let o = run(t.cmd().args([
        "scan",
        "--no-builtin-rules",
        "--rules",
        &rules,
        "-f",
        "json",
        ".",
    ]));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_eq!(
        finding_keys(&json(&o)),
        vec![("test-github-pat".into(), "vendor/x.txt".into(), 1)]
    );
}

#[test]
fn an_explicit_root_inside_a_vendored_tree_is_scanned() {
    let t = TestDir::new();
    t.write("node_modules/pkg/index.js", format!("t = \"{}\"\n", pat()));
    let (c, r) = scan(&t, &["node_modules/pkg"]);
    assert_eq!(c, 1);
    assert_eq!(r["findings"].as_array().unwrap().len(), 1);
}

#[test]
fn test_paths_lower_severity_but_never_drop_findings() {
    let t = TestDir::new();
    let line = format!("token = \"{}\"\n", pat());
    t.write("src/app.py", &line);
    t.write("tests/fixtures/app.py", &line);
    let (_, r) = scan(&t, &["."]);
    let got: Vec<(String, String)> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("src/app.py".into(), "high".into()),
            ("tests/fixtures/app.py".into(), "medium".into()),
        ]
    );
}

#[test]
fn a_look_alike_with_a_wrong_checksum_is_low_confidence() {
    let t = TestDir::new();
    let good = pat().replacen("ghp_", "ghc_", 1);
    // Same shape, one character of the random part changed: the CRC32 tail no longer fits.
    let bad = good.replacen("Ab3", "Ab4", 1);
    t.write("a.env", format!("GOOD={good}\nBAD={bad}\n"));
    let (_, r) = scan(&t, &["."]);
    let got: Vec<(String, u64, String)> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["confidence"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("test-github-pat-checked".into(), 1, "high".into()),
            ("test-github-pat-checked".into(), 2, "low".into()),
        ]
    );
}
