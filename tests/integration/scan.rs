//! `keywarden scan` over working trees and stdin.

use crate::harness::*;

/// A test-local rule: `tok_` and 20 alphanumerics; keeps tests independent of the rule pack.
const TOKEN_RULES: &str = r#"
[[rules]]
id = "test-token"
name = "Test token"
regex = '''\b(?P<secret>tok_[A-Za-z0-9]{20})\b'''
keywords = ["tok_"]
min_entropy = 3.0
severity = "medium"
examples = ["t = tok_Ab3De5Gh7Jk9Mn1Pq2Rs"]

[[rules]]
id = "test-assignment"
name = "Test assigned token"
regex = '''(?i)api_token\s*[:=]\s*["']?(?P<secret>[^"'\s]{8,64})'''
keywords = ["api_token"]
examples = ["api_token = 'Zq8Lm2Nv5Xc7Bw1Pk4'"]
"#;

fn tok(n: u32) -> String {
    // Distinct, random-looking 20-character bodies.
    let alphabet = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut x = n.wrapping_mul(2654435761).wrapping_add(12345) as u64 | 1;
    let body: String = (0..20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            alphabet[(x % alphabet.len() as u64) as usize] as char
        })
        .collect();
    format!("tok_{body}")
}

fn with_rules(t: &TestDir) -> String {
    t.write_aux("rules/test.toml", TOKEN_RULES)
}

fn scan_json(t: &TestDir, extra: &[&str]) -> (i32, serde_json::Value) {
    let rules = with_rules(t);
    let mut args = vec!["scan", "--no-config", "--rules", &rules, "--format", "json"];
    args.extend_from_slice(extra);
    let o = run(t.cmd().args(&args));
    (code(&o), json(&o))
}

#[test]
fn finds_a_planted_key_and_exits_1() {
    let t = TestDir::new();
    let key = fake::aws_key_id("Q3EGT7XK2VD4WRNM");
    t.write(
        "app/settings.py",
        format!("DEBUG = True\nAWS_ACCESS_KEY_ID = \"{key}\"\n"),
    );
    let o = run(t.cmd().args(["scan", ".", "--format", "json"]));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(
        finding_keys(&r),
        vec![("aws-access-key-id".into(), "app/settings.py".into(), 2)]
    );
    let f = &r["findings"][0];
    assert_eq!(f["column"], 22);
    assert_eq!(f["end_column"], 42);
    assert_eq!(f["secret"], "AKIA*****");
    assert_eq!(f["snippet"], "AWS_ACCESS_KEY_ID = \"AKIA*****\"");
    assert_eq!(f["severity"], "high");
    assert_eq!(f["client_side"], false);
    assert_eq!(f["secret_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(r["version"], 1);
    assert_eq!(r["summary"]["files_scanned"], 1);
    assert_eq!(r["summary"]["findings"], 1);
}

#[test]
fn clean_tree_exits_0() {
    let t = TestDir::new();
    t.write("src/main.rs", "fn main() { println!(\"hello\"); }\n");
    let (c, r) = scan_json(&t, &["src"]);
    assert_eq!(c, 0);
    assert_eq!(r["findings"].as_array().unwrap().len(), 0);
    assert_eq!(r["summary"]["files_scanned"], 1);
}

#[test]
fn show_secrets_prints_the_value_and_default_does_not() {
    let t = TestDir::new();
    let s = tok(1);
    t.write("a.txt", format!("x {s}\n"));
    let rules = with_rules(&t);
    let o = run(t
        .cmd()
        .args(["scan", "--no-config", "--rules", &rules, "a.txt"]));
    assert_eq!(code(&o), 1);
    assert!(!stdout(&o).contains(&s), "secret leaked: {}", stdout(&o));
    assert!(!stderr(&o).contains(&s));
    assert!(stdout(&o).contains("tok_*****"), "{}", stdout(&o));
    let o = run(t.cmd().args([
        "scan",
        "--no-config",
        "--rules",
        &rules,
        "a.txt",
        "--show-secrets",
        "-f",
        "json",
    ]));
    assert_eq!(json(&o)["findings"][0]["secret"], s);
}

#[test]
fn binary_files_are_skipped_and_counted() {
    let t = TestDir::new();
    let mut bin = vec![0x89, b'P', b'N', b'G', 0, 0, 0, 1];
    bin.extend_from_slice(tok(2).as_bytes());
    t.write("logo.png", bin);
    t.write("ok.txt", "nothing here\n");
    let (c, r) = scan_json(&t, &["."]);
    assert_eq!(c, 0);
    assert_eq!(r["summary"]["skipped_binary"], 1);
    assert_eq!(r["summary"]["files_scanned"], 1);
}

#[test]
fn invalid_utf8_and_crlf_are_located_exactly() {
    let t = TestDir::new();
    let s = tok(3);
    let mut content = b"\xff\xfe bad bytes\r\nsecond \xc3\xa9 line\r\n".to_vec();
    content.extend_from_slice(format!("éé = {s}\r\nend\r\n").as_bytes());
    t.write("mixed.txt", content);
    let (c, r) = scan_json(&t, &["mixed.txt"]);
    assert_eq!(c, 1);
    let f = &r["findings"][0];
    assert_eq!(f["line"], 3);
    assert_eq!(f["column"], 6, "columns count characters, not bytes");
    assert_eq!(
        f["snippet"], "éé = tok_*****",
        "no trailing CR in the snippet"
    );
}

#[test]
fn a_50_mb_single_line_file_is_scanned_linearly() {
    let t = TestDir::new();
    let s = tok(4);
    let mut big = Vec::with_capacity(50 << 20);
    // A minified-bundle-like line where the keyword recurs everywhere.
    while big.len() < 50 << 20 {
        big.extend_from_slice(b"var a=tok_;function f(x){return x+1};");
    }
    let col = big.len() + 1;
    big.extend_from_slice(s.as_bytes());
    big.extend_from_slice(b";\n");
    t.write("bundle.js", &big);
    let (c, r) = scan_json(&t, &["bundle.js"]);
    assert_eq!(c, 1);
    let f = &r["findings"][0];
    assert_eq!(f["line"], 1);
    assert_eq!(f["column"], col as u64);
    assert_eq!(f["client_side"], true, "a 50 MB single line is minified");
    assert!(f["snippet"].as_str().unwrap().chars().count() <= 200);
}

#[test]
fn unreadable_file_is_a_warning_and_exit_2() {
    use std::os::unix::fs::PermissionsExt;
    let t = TestDir::new();
    let rules = with_rules(&t);
    let locked = t.write("locked/secret.txt", format!("{}\n", tok(5)));
    t.write("open.txt", "fine\n");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut cmd = t.cmd();
    cmd.args([
        "scan",
        "--no-config",
        "--rules",
        &rules,
        "-f",
        "json",
        "locked",
        "open.txt",
    ]);
    // Root reads everything; drop to an unprivileged user so the file is really unreadable.
    let root = unsafe { libc_geteuid() } == 0;
    if root {
        use std::os::unix::process::CommandExt;
        for p in [
            t.path().to_path_buf(),
            t.join("locked"),
            t.join("open.txt"),
            t.aux.path().to_path_buf(),
            t.aux.path().join("rules"),
            t.aux.path().join("rules/test.toml"),
        ] {
            let mode = if p.is_dir() { 0o755 } else { 0o644 };
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        cmd.uid(65534).gid(65534);
    }
    let o = run(&mut cmd);
    assert_eq!(code(&o), 2, "stdout: {} stderr: {}", stdout(&o), stderr(&o));
    let r = json(&o);
    assert_eq!(r["summary"]["errors"][0]["path"], "locked/secret.txt");
    assert_eq!(r["summary"]["files_scanned"], 1);
    assert!(
        stderr(&o).contains("cannot scan locked/secret.txt"),
        "{}",
        stderr(&o)
    );
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

#[test]
fn malformed_rule_file_names_file_line_and_rule() {
    let t = TestDir::new();
    t.write(
        "bad.toml",
        "[[rules]]\nid = \"broken\"\nname = \"Broken\"\nkeywords = [\"zz\"]\nregex = 'zz[0-9]+'\n",
    );
    let o = run(t
        .cmd()
        .args(["scan", "--no-config", "--rules", "bad.toml", "."]));
    assert_eq!(code(&o), 2);
    assert_eq!(
        stderr(&o).trim(),
        "keywarden: error: bad.toml:5: rule broken: regex has no named capture `secret`"
    );
    t.write("bad.toml", "[[rules]]\nid = \"broken\"\nname = \"Broken\"\nkeywords = [\"zz\"]\nregex = '(?P<secret>zz[0-9'\n");
    let o = run(t
        .cmd()
        .args(["rules", "check", "--no-config", "--rules", "bad.toml"]));
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).starts_with("keywarden: error: bad.toml:5: rule broken: bad regex:"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn placeholders_env_lookups_and_allow_markers_are_not_reported() {
    let t = TestDir::new();
    let real = "Zq8Lm2Nv5Xc7Bw1Pk4Ty";
    t.write(
        "conf.txt",
        format!(
            "api_token = ${{API_TOKEN}}\n\
             api_token = process.env.API_TOKEN\n\
             api_token = os.environ['API_TOKEN']\n\
             api_token = your_api_key_here\n\
             api_token = '<your-token>'\n\
             api_token = changeme-please\n\
             api_token = \"{{{{ .Values.token }}}}\"\n\
             api_token = xxxxxxxxxxxxxxxx\n\
             api_token = EXAMPLEKEY1234567\n\
             api_token = {real} # keywarden:allow\n\
             api_token = {real} // gitleaks:allow\n\
             api_token = {real} # pragma: allowlist secret\n\
             api_token = {real}\n"
        ),
    );
    let (c, r) = scan_json(&t, &["conf.txt", "--show-secrets"]);
    assert_eq!(c, 1);
    let got: Vec<(u64, &str)> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["line"].as_u64().unwrap(), f["secret"].as_str().unwrap()))
        .collect();
    assert_eq!(got, vec![(13, real)]);
}

#[test]
fn config_allowlists_paths_regexes_stopwords_and_disables_rules() {
    let t = TestDir::new();
    std::fs::create_dir_all(t.join(".git")).unwrap(); // the config is found at the repo root
    t.write("rules/test.toml", TOKEN_RULES);
    t.write(
        ".keywarden.toml",
        "[allowlist]\npaths = [\"vendor/\", \"**/*.snap\"]\nregexes = ['^tok_AAAA']\nstopwords = [\"testonly\"]\n\
         [rules]\ndisable = [\"test-assignment\", \"generic-api-key\", \"generic-secret\"]\npaths = [\"rules\"]\n",
    );
    t.write("vendor/lib.txt", format!("{}\n", tok(6)));
    t.write("src/x.snap", format!("{}\n", tok(7)));
    t.write(
        "src/a.txt",
        "tok_AAAAb3De5Gh7Jk9Mn1Pq\ntok_TestOnlyb3De5Gh7Jk9M\napi_token = Zq8Lm2Nv5Xc7Bw1Pk4Ty\n",
    );
    let keep = tok(8);
    t.write("src/b.txt", format!("{keep}\n"));
    let o = run(t
        .cmd()
        .args(["scan", "src", "vendor", "-f", "json", "--show-secrets"]));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(
        finding_keys(&r),
        vec![("test-token".into(), "src/b.txt".into(), 1)]
    );
    assert_eq!(r["summary"]["skipped_excluded"], 2);
}

#[test]
fn fingerprint_survives_line_shifts_and_keywardenignore_suppresses_it() {
    let t = TestDir::new();
    std::fs::create_dir_all(t.join(".git")).unwrap();
    let s = tok(9);
    let other = tok(10);
    t.write("a.txt", format!("{s}\n"));
    let (_, r1) = scan_json(&t, &["a.txt"]);
    t.write("a.txt", format!("\n\n\nmoved: {s}\n{other}\n"));
    let (_, r2) = scan_json(&t, &["a.txt"]);
    let fp = r1["findings"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(r2["findings"][0]["fingerprint"], fp.as_str());
    assert_ne!(r2["findings"][1]["fingerprint"], fp.as_str());
    t.write(
        ".keywardenignore",
        format!("# accepted test token\n{fp}  # reviewed\n"),
    );
    let (c, r3) = scan_json(&t, &["a.txt", "--show-secrets"]);
    assert_eq!(c, 1);
    assert_eq!(r3["findings"].as_array().unwrap().len(), 1);
    assert_eq!(r3["findings"][0]["secret"], other.as_str());
    assert_eq!(r3["summary"]["suppressed"], 1);
}

#[test]
fn gitignore_is_honoured_hidden_files_scanned_and_dot_git_skipped() {
    let t = TestDir::new();
    std::fs::create_dir_all(t.join(".git")).unwrap();
    t.write(".gitignore", "build-output/\n");
    t.write("build-output/gen.txt", format!("{}\n", tok(11)));
    t.write(".env", format!("KEY={}\n", tok(12)));
    t.write(".git/config", format!("token = {}\n", tok(13)));
    let (c, r) = scan_json(&t, &["."]);
    assert_eq!(c, 1);
    let paths: Vec<String> = finding_keys(&r).into_iter().map(|k| k.1).collect();
    assert_eq!(paths, vec![".env"]);
    let (_, r) = scan_json(&t, &[".", "--no-ignore"]);
    let paths: Vec<String> = finding_keys(&r).into_iter().map(|k| k.1).collect();
    assert_eq!(paths, vec![".env", "build-output/gen.txt"]);
}

#[test]
fn client_side_code_is_marked_and_raised() {
    let t = TestDir::new();
    t.write("server/app.js", format!("const k = '{}';\n", tok(14)));
    t.write("public/app.js", format!("const k = '{}';\n", tok(15)));
    t.write(
        "site/page.html",
        format!("<script>\nwindow.k = '{}';\n</script>\n", tok(16)),
    );
    t.write("lib/vendor.min.js", format!("var k='{}';\n", tok(17)));
    let map = serde_json::json!({
        "version": 3,
        "sources": ["webpack:///./src/config.js"],
        "sourcesContent": [format!("export const k = '{}';\n", tok(18))],
        "mappings": "AAAA"
    });
    t.write("dist/app.js.map", map.to_string());
    let (c, r) = scan_json(&t, &["."]);
    assert_eq!(c, 1);
    let got: Vec<(String, bool, String, Option<String>, u64)> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["client_side"].as_bool().unwrap(),
                f["severity"].as_str().unwrap().to_string(),
                f["inner_path"].as_str().map(String::from),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    let inner = Some("webpack:///./src/config.js".to_string());
    assert_eq!(
        got,
        vec![
            ("dist/app.js.map".into(), true, "high".into(), inner, 1),
            ("lib/vendor.min.js".into(), true, "high".into(), None, 1),
            ("public/app.js".into(), true, "high".into(), None, 1),
            ("server/app.js".into(), false, "medium".into(), None, 1),
            ("site/page.html".into(), true, "high".into(), None, 2),
        ]
    );
}

#[test]
fn oversized_files_are_skipped_and_counted() {
    let t = TestDir::new();
    t.write("big.txt", format!("{}\n{}", tok(19), "a".repeat(2000)));
    t.write("small.txt", format!("{}\n", tok(20)));
    let (c, r) = scan_json(&t, &["big.txt", "small.txt", "--max-file-size", "1K"]);
    assert_eq!(c, 1);
    assert_eq!(r["summary"]["skipped_too_large"], 1);
    assert_eq!(
        finding_keys(&r),
        vec![("test-token".into(), "small.txt".into(), 1)]
    );
}

#[test]
fn stdin_is_scanned_with_dash() {
    use std::io::Write;
    let t = TestDir::new();
    let rules = with_rules(&t);
    let mut child = t
        .cmd()
        .args(["scan", "--no-config", "--rules", &rules, "-f", "jsonl", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("one\ntwo {}\n", tok(21)).as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 1);
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["path"], "-");
    assert_eq!(lines[0]["line"], 2);
}

#[test]
fn sarif_has_what_code_scanning_requires() {
    let t = TestDir::new();
    let rules = with_rules(&t);
    t.write(
        "src/a.py",
        format!("A = '{}'\nB = '{}'\n", tok(22), tok(23)),
    );
    let o = run(t.cmd().args([
        "scan",
        "--no-config",
        "--rules",
        &rules,
        "-f",
        "sarif",
        "-o",
        "out.sarif",
        "src",
    ]));
    assert_eq!(code(&o), 1);
    assert!(
        o.stdout.is_empty(),
        "--output writes the report to the file only"
    );
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t.join("out.sarif")).unwrap()).unwrap();
    assert_eq!(s["version"], "2.1.0");
    let run0 = &s["runs"][0];
    assert_eq!(run0["tool"]["driver"]["name"], "keywarden");
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["id"], "test-token");
    let results = run0["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for (i, res) in results.iter().enumerate() {
        assert_eq!(res["ruleId"], "test-token");
        assert_eq!(res["ruleIndex"], 0);
        assert_eq!(res["level"], "warning");
        assert!(res["message"]["text"]
            .as_str()
            .unwrap()
            .contains("tok_*****"));
        let loc = &res["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "src/a.py");
        assert_eq!(loc["region"]["startLine"], i as u64 + 1);
        assert_eq!(loc["region"]["startColumn"], 6);
        assert_eq!(
            res["partialFingerprints"]["keywarden/v1"]
                .as_str()
                .unwrap()
                .len(),
            32
        );
    }
}

#[test]
fn human_report_groups_by_file_and_escapes_control_bytes() {
    let t = TestDir::new();
    let rules = with_rules(&t);
    t.write("a.txt", format!("\x1b[31m {}\n", tok(24)));
    t.write("b.txt", format!("{}\n", tok(25)));
    let o = run(t
        .cmd()
        .args(["scan", "--no-config", "--rules", &rules, "a.txt", "b.txt"]));
    assert_eq!(code(&o), 1);
    let out = stdout(&o);
    assert!(
        !out.contains('\x1b'),
        "no raw escape reaches the terminal: {out:?}"
    );
    assert!(out.contains("\\u{1b}[31m tok_*****"), "{out}");
    assert!(out.starts_with("a.txt\n  1:"), "{out}");
    assert!(out.contains("\nb.txt\n  1:1  test-token"), "{out}");
    assert!(out.contains("2 findings in 2 files"), "{out}");
    assert!(
        out.contains("keywarden:allow"),
        "the report says how to allow a false positive: {out}"
    );
}

#[test]
fn bad_arguments_exit_2() {
    let t = TestDir::new();
    let o = run(t.cmd().args(["scan", "no/such/dir"]));
    assert_eq!(code(&o), 2);
    assert_eq!(
        stderr(&o).trim(),
        "keywarden: error: no such file or directory: no/such/dir"
    );
    let o = run(t.cmd().args(["scan", "--format", "xml"]));
    assert_eq!(code(&o), 2);
    t.write(".keywarden.toml", "[allowlist]\npath = []\n");
    let o = run(t.cmd().args(["scan", "--config", ".keywarden.toml", "."]));
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains(".keywarden.toml:2: unknown field `path`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn rules_check_fails_on_a_rule_that_misses_its_example() {
    let t = TestDir::new();
    t.write(
        "r.toml",
        "[[rules]]\nid = \"weak\"\nname = \"Weak\"\nkeywords = [\"wk_\"]\nregex = '(?P<secret>wk_[0-9]{4})\\b'\n\
         examples = ['wk_12345']\nnegative_examples = ['wk_9876']\n",
    );
    let o = run(t
        .cmd()
        .args(["rules", "check", "--no-config", "--rules", "r.toml"]));
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(
        err.contains("r.toml:2: rule weak: example does not match: \"wk_12345\""),
        "{err}"
    );
    assert!(
        err.contains("r.toml:2: rule weak: negative example matches (\"wk_9876\"): \"wk_9876\""),
        "{err}"
    );
    let o = run(t.cmd().args([
        "rules",
        "list",
        "--no-config",
        "--rules",
        "r.toml",
        "-f",
        "json",
    ]));
    let list = json(&o);
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == "weak" && r["family"] == "r"));
}
