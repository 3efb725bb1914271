//! validate / revoke / regenerate / notify against a provider server that the test runs on
//! 127.0.0.1 (HTTP/1.1 over std::net, scripted answers, every request recorded), and desktop
//! notifications on a real D-Bus session bus.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use keywarden::findings::sha256_hex;

use crate::harness::{code, fake, run, stderr, stdout, TestDir};

/// One request as the provider saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Lowercased names, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub enum Reply {
    Json(u16, String),
    /// Never answer (the client times out).
    Hang,
}

type Script = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

pub struct FakeProvider {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<Arc<Script>>>,
}

impl FakeProvider {
    /// `script(request, n)` answers the n-th request (0-based).
    pub fn start(
        script: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> FakeProvider {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let script: Arc<Mutex<Arc<Script>>> = Arc::new(Mutex::new(Arc::new(script)));
        let (reqs, scr) = (requests.clone(), script.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (reqs, scr) = (reqs.clone(), scr.clone());
                thread::spawn(move || serve(conn, &reqs, &scr));
            }
        });
        FakeProvider {
            url,
            requests,
            script,
        }
    }

    pub fn set_script(&self, script: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) {
        *self.script.lock().unwrap() = Arc::new(script);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits (up to 30 s) until at least `n` requests arrived.
    pub fn wait_for(&self, n: usize) {
        for _ in 0..3000 {
            if self.requests.lock().unwrap().len() >= n {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!("provider never got {n} requests: {:?}", self.requests());
    }
}

fn serve(conn: TcpStream, reqs: &Mutex<Vec<Recorded>>, script: &Mutex<Arc<Script>>) {
    // One request per connection (every answer says `Connection: close`).
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                if k == "content-length" {
                    len = v.trim().parse().unwrap_or(0);
                }
                headers.push((k, v.trim().to_string()));
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        let rec = Recorded {
            method,
            path,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let n = {
            let mut r = reqs.lock().unwrap();
            r.push(rec.clone());
            r.len() - 1
        };
        let s = script.lock().unwrap().clone();
        match s(&rec, n) {
            Reply::Json(status, body) => {
                let mut w = &conn;
                let _ = write!(
                    w,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = w.flush();
            }
            Reply::Hang => thread::sleep(Duration::from_secs(20)),
        }
    }
}

fn token(body30: &str) -> String {
    fake::github_pat(body30)
}

/// A `scan --format json --show-secrets` report holding these (rule id, secret, key id).
fn report(findings: &[(&str, &str, Option<&str>)]) -> String {
    let list: Vec<serde_json::Value> = findings
        .iter()
        .map(|(rule, secret, key)| {
            let mut v = serde_json::json!({
                "rule_id": rule,
                "rule_name": rule,
                "path": "app/config.py",
                "line": 1,
                "column": 1,
                "secret": secret,
                "secret_sha256": sha256_hex(secret.as_bytes()),
                "snippet": format!("token = {secret}"),
                "fingerprint": keywarden::findings::fingerprint(rule, secret.as_bytes()),
            });
            if let Some(k) = key {
                v["key_id"] = serde_json::json!(k);
            }
            v
        })
        .collect();
    serde_json::json!({"version": 1, "findings": list, "summary": {}}).to_string()
}

/// Every byte of the state database (with its WAL), as text, for "no secret here" checks.
fn db_bytes(path: &Path) -> String {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-journal"] {
        let p = format!("{}{suffix}", path.display());
        if let Ok(b) = std::fs::read(&p) {
            all.extend(b);
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}

fn db_rows(path: &Path) -> Vec<(String, String, String, i64)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut st = conn
        .prepare("SELECT action, provider, status, attempts FROM act_actions ORDER BY id")
        .unwrap();
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

fn assert_hidden(o: &std::process::Output, secrets: &[&str]) {
    for s in secrets {
        assert!(!stdout(o).contains(s), "secret on stdout: {}", stdout(o));
        assert!(!stderr(o).contains(s), "secret on stderr: {}", stderr(o));
    }
}

#[test]
fn validate_marks_each_distinct_secret_once() {
    let active = token("activeactiveactiveactiveactive");
    let dead = token("deaddeaddeaddeaddeaddeaddeadde");
    let flaky = token("flakyflakyflakyflakyflakyflaky");
    let (a, d) = (active.clone(), dead.clone());
    let server = FakeProvider::start(move |r, _| {
        let auth = r.header("authorization").unwrap_or_default();
        if auth == format!("Bearer {a}") {
            Reply::Json(200, r#"{"login":"octocat"}"#.into())
        } else if auth == format!("Bearer {d}") {
            Reply::Json(401, r#"{"message":"Bad credentials"}"#.into())
        } else {
            Reply::Json(500, "{}".into())
        }
    });
    let t = TestDir::new();
    t.write(
        "report.json",
        report(&[
            ("github-pat-classic", &active, None),
            ("github-pat-classic", &dead, None),
            ("github-pat-classic", &active, None),
            ("github-pat-classic", &flaky, None),
            ("no-provider-rule", "zzzzzzzzzzzzzzzzzz", None),
        ]),
    );
    let o = run(t
        .cmd()
        .args([
            "-vv",
            "validate",
            "--findings",
            "report.json",
            "--allow-internal",
        ])
        .args([
            "--attempts",
            "2",
            "--retry-delay-ms",
            "0",
            "--concurrency",
            "2",
        ])
        .env("KEYWARDEN_GITHUB_API_URL", &server.url));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let got: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["validation"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        [
            "verified_active",
            "inactive",
            "verified_active",
            "unknown",
            "unknown"
        ]
    );
    let mut reqs: Vec<(String, String, String)> = server
        .requests()
        .iter()
        .map(|r| {
            (
                r.method.clone(),
                r.path.clone(),
                r.header("authorization").unwrap().to_string(),
            )
        })
        .collect();
    reqs.sort();
    let mut want = vec![
        (
            "GET".to_string(),
            "/user".to_string(),
            format!("Bearer {active}"),
        ),
        ("GET".into(), "/user".into(), format!("Bearer {dead}")),
        ("GET".into(), "/user".into(), format!("Bearer {flaky}")),
        ("GET".into(), "/user".into(), format!("Bearer {flaky}")),
    ];
    want.sort();
    assert_eq!(reqs, want);
    let r = &server.requests()[0];
    assert_eq!(r.header("accept"), Some("application/vnd.github+json"));
    assert_eq!(r.header("x-github-api-version"), Some("2022-11-28"));
    assert_hidden(&o, &[&active, &dead, &flaky]);
}

#[test]
fn validate_refuses_loopback_without_allow_internal() {
    let server = FakeProvider::start(|_, _| Reply::Json(200, "{}".into()));
    let t = TestDir::new();
    let s = token("loopbackloopbackloopbackloopba");
    t.write("report.json", report(&[("github-pat-classic", &s, None)]));
    let o = run(t
        .cmd()
        .args(["validate", "--findings", "report.json"])
        .env("KEYWARDEN_GITHUB_API_URL", &server.url));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("--allow-internal"), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["findings"][0]["validation"], "unknown");
    assert!(server.requests().is_empty());
}

#[test]
fn scan_validate_checks_found_secrets() {
    let server = FakeProvider::start(|_, _| Reply::Json(401, "{}".into()));
    let t = TestDir::new();
    let secret = token("Q7wE9rT2yU4iO6pA8sD1fG3hJ5kL0z");
    t.write("src/app.py", format!("TOKEN = \"{secret}\"\n"));
    let o = run(t
        .cmd()
        .args(["scan", ".", "--format", "json", "--no-config", "--validate"])
        .args(["--allow-internal", "--attempts", "1"])
        .env("KEYWARDEN_GITHUB_API_URL", &server.url));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "github-pat-classic")
        .expect("finding");
    assert_eq!(f["validation"], "inactive");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/user");
    assert_eq!(
        reqs[0].header("authorization"),
        Some(format!("Bearer {secret}").as_str())
    );
    assert_hidden(&o, &[&secret]);
}

#[test]
fn revoke_is_a_dry_run_by_default() {
    let server = FakeProvider::start(|_, _| Reply::Json(202, "{}".into()));
    let t = TestDir::new();
    let s = token("dryrundryrundryrundryrundryrun");
    t.write("report.json", report(&[("github-pat-classic", &s, None)]));
    let o = run(t
        .cmd()
        .args(["revoke", "--findings", "report.json", "--allow-internal"])
        .env("KEYWARDEN_GITHUB_API_URL", &server.url));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("POST {}/credentials/revoke", server.url)),
        "{out}"
    );
    assert!(out.contains("{\"credentials\":[\"ghp_*****\"]}"), "{out}");
    assert!(out.contains("dry run: nothing was sent"), "{out}");
    assert!(server.requests().is_empty());
    assert_hidden(&o, &[&s]);
}

#[test]
fn revoke_github_once_and_records_it() {
    let server = FakeProvider::start(|_, _| Reply::Json(202, "{}".into()));
    let t = TestDir::new();
    let s = token("revokerevokerevokerevokerevoke");
    let other = token("otherotherotherotherotherother");
    t.write(
        "report.json",
        report(&[
            ("github-pat-classic", &s, None),
            ("github-pat-classic", &other, None),
        ]),
    );
    let fp = keywarden::findings::fingerprint("github-pat-classic", s.as_bytes());
    let db = t.join("state.db");
    let cmd = || {
        let mut c = t.cmd();
        c.args([
            "-vv",
            "revoke",
            "--findings",
            "report.json",
            "--fingerprint",
            &fp,
        ])
        .args(["--state", db.to_str().unwrap(), "--yes", "--allow-internal"])
        .env("KEYWARDEN_GITHUB_API_URL", &server.url);
        c
    };
    let o = run(&mut cmd());
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(&format!(
            "revoke github key ghp_***** (fingerprint {fp}): done"
        )),
        "{}",
        stdout(&o)
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/credentials/revoke");
    assert_eq!(reqs[0].header("content-type"), Some("application/json"));
    assert_eq!(
        reqs[0].header("accept"),
        Some("application/vnd.github+json")
    );
    assert_eq!(reqs[0].header("authorization"), None);
    assert_eq!(reqs[0].body, format!("{{\"credentials\":[\"{s}\"]}}"));
    // A second run sends nothing: the log says it is done.
    let o2 = run(&mut cmd());
    assert_eq!(code(&o2), 0);
    assert!(stdout(&o2).contains(": recorded"), "{}", stdout(&o2));
    assert_eq!(server.requests().len(), 1);
    assert_eq!(
        db_rows(&db),
        vec![("revoke".into(), "github".into(), "done".into(), 1)]
    );
    let bytes = db_bytes(&db);
    assert!(!bytes.contains(&s) && !bytes.contains(&other));
    assert!(bytes.contains(&sha256_hex(s.as_bytes())));
    assert_hidden(&o, &[&s, &other]);
    assert_hidden(&o2, &[&s, &other]);
}

fn generic_cmd(
    t: &TestDir,
    server: &FakeProvider,
    db: &Path,
    extra: &[&str],
) -> std::process::Command {
    let mut c = t.cmd();
    c.args([
        "-vv",
        "revoke",
        "--provider",
        "generic",
        "--key-id",
        "key_123",
    ])
    .args(["--state", db.to_str().unwrap(), "--allow-internal"])
    .args(["--retry-delay-ms", "0"])
    .args(extra)
    .env("KEYWARDEN_GENERIC_API_URL", format!("{}/v1", server.url))
    .env("KEYWARDEN_GENERIC_ADMIN_TOKEN", "adm-0123456789-secret");
    c
}

#[test]
fn revoke_generic_by_id_with_admin_token_from_env() {
    let server = FakeProvider::start(|_, _| Reply::Json(204, String::new()));
    let t = TestDir::new();
    let db = t.join("state.db");
    let dry = run(&mut generic_cmd(&t, &server, &db, &[]));
    assert_eq!(code(&dry), 0, "{}", stderr(&dry));
    assert!(stdout(&dry).contains(&format!("DELETE {}/v1/keys/key_123", server.url)));
    assert!(stdout(&dry).contains("Authorization: Bearer ${KEYWARDEN_GENERIC_ADMIN_TOKEN}"));
    assert!(server.requests().is_empty());
    let o = run(&mut generic_cmd(&t, &server, &db, &["--yes"]));
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("DELETE", "/v1/keys/key_123")
    );
    assert_eq!(
        reqs[0].header("authorization"),
        Some("Bearer adm-0123456789-secret")
    );
    assert_eq!(reqs[0].body, "");
    assert_hidden(&dry, &["adm-0123456789-secret"]);
    assert_hidden(&o, &["adm-0123456789-secret"]);
    assert!(!db_bytes(&db).contains("adm-0123456789-secret"));
}

#[test]
fn regenerate_keeps_the_id_and_shows_the_new_secret_once() {
    let server = FakeProvider::start(|_, _| {
        Reply::Json(
            200,
            r#"{"id":"key_123","secret":"new-s3cret-value-XYZ"}"#.into(),
        )
    });
    let t = TestDir::new();
    let db = t.join("state.db");
    let o = run(&mut generic_cmd(
        &t,
        &server,
        &db,
        &["--yes", "--regenerate"],
    ));
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("POST", "/v1/keys/key_123/regenerate")
    );
    assert!(stdout(&o).contains("new secret (shown once, store it now): new-s3cret-value-XYZ"));
    assert!(!stderr(&o).contains("new-s3cret-value-XYZ"));
    assert!(!db_bytes(&db).contains("new-s3cret-value-XYZ"));
    assert_eq!(
        db_rows(&db),
        vec![("regenerate".into(), "generic".into(), "done".into(), 1)]
    );
}

#[test]
fn multi_step_flow_looks_up_the_id_then_deletes_it() {
    let server = FakeProvider::start(|r, _| match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/api/tokens/lookup") => Reply::Json(200, r#"{"token":{"id":987}}"#.into()),
        ("DELETE", "/api/tokens/987") => Reply::Json(204, String::new()),
        _ => Reply::Json(404, "{}".into()),
    });
    let t = TestDir::new();
    let prov = t.write_aux(
        "providers/acme.toml",
        format!(
            r#"id = "acme"
name = "Acme"
kind = "api"
base_url = "{}/api"
rules = ["acme-*"]

[[revoke]]
method = "POST"
url = "${{base_url}}/tokens/lookup"
headers = {{ Authorization = "Bearer ${{ACME_ADMIN}}" }}
json = {{ token = "${{secret}}" }}
success = {{ status = [200] }}
extract = {{ token_id = "/token/id" }}

[[revoke]]
method = "DELETE"
url = "${{base_url}}/tokens/${{token_id}}"
headers = {{ Authorization = "Bearer ${{ACME_ADMIN}}" }}
success = {{ status = [204] }}
"#,
            server.url
        ),
    );
    let s = "acme_live_4f9a8b7c6d5e4f3a2b1c";
    t.write("report.json", report(&[("acme-api-key", s, None)]));
    let db = t.join("state.db");
    let o = run(t
        .cmd()
        .args([
            "-vv",
            "revoke",
            "--findings",
            "report.json",
            "--providers",
            &prov,
        ])
        .args(["--state", db.to_str().unwrap(), "--yes", "--allow-internal"])
        .env("ACME_ADMIN", "acme-admin-pw"));
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let reqs = server.requests();
    let got: Vec<(&str, &str, &str)> = reqs
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.body.as_str()))
        .collect();
    let body = format!("{{\"token\":\"{s}\"}}");
    assert_eq!(
        got,
        vec![
            ("POST", "/api/tokens/lookup", body.as_str()),
            ("DELETE", "/api/tokens/987", "")
        ]
    );
    assert!(reqs
        .iter()
        .all(|r| r.header("authorization") == Some("Bearer acme-admin-pw")));
    assert_hidden(&o, &[s, "acme-admin-pw"]);
    let bytes = db_bytes(&db);
    assert!(!bytes.contains(s) && !bytes.contains("acme-admin-pw"));
}

#[test]
fn unauthorized_is_a_clear_error_about_admin_credentials() {
    let server = FakeProvider::start(|_, _| Reply::Json(401, r#"{"message":"bad token"}"#.into()));
    let t = TestDir::new();
    let db = t.join("state.db");
    let o = run(&mut generic_cmd(&t, &server, &db, &["--yes"]));
    assert_eq!(code(&o), 2);
    assert!(
        stdout(&o).contains("generic answered 401: the admin credentials were refused"),
        "{}",
        stdout(&o)
    );
    assert_eq!(server.requests().len(), 1, "401 is not retried");
    assert_eq!(db_rows(&db)[0].2, "failed");
}

#[test]
fn rate_limit_then_success_is_retried() {
    let server = FakeProvider::start(|_, n| match n {
        0 => Reply::Json(429, "{}".into()),
        _ => Reply::Json(204, String::new()),
    });
    let t = TestDir::new();
    let db = t.join("state.db");
    let o = run(&mut generic_cmd(&t, &server, &db, &["--yes"]));
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let paths: Vec<String> = server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        paths,
        ["DELETE /v1/keys/key_123", "DELETE /v1/keys/key_123"]
    );
    assert_eq!(db_rows(&db)[0].2, "done");
}

#[test]
fn server_error_then_success_is_retried() {
    let server = FakeProvider::start(|_, n| match n {
        0 | 1 => Reply::Json(503, "{}".into()),
        _ => Reply::Json(200, "{}".into()),
    });
    let t = TestDir::new();
    let db = t.join("state.db");
    let o = run(&mut generic_cmd(&t, &server, &db, &["--yes"]));
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(server.requests().len(), 3);
    assert_eq!(db_rows(&db)[0].2, "done");
}

#[test]
fn timeouts_keep_the_revocation_pending_until_a_retry_succeeds() {
    let server = FakeProvider::start(|_, _| Reply::Hang);
    let t = TestDir::new();
    let db = t.join("state.db");
    let o = run(&mut generic_cmd(
        &t,
        &server,
        &db,
        &["--yes", "--timeout", "0.5", "--attempts", "2"],
    ));
    assert_eq!(code(&o), 2, "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("kept pending for a later retry"),
        "{}",
        stdout(&o)
    );
    assert_eq!(server.requests().len(), 2);
    assert_eq!(
        db_rows(&db),
        vec![("revoke".into(), "generic".into(), "pending".into(), 1)]
    );
    // The provider is back: the pending action goes through on the retry pass.
    server.set_script(|_, _| Reply::Json(204, String::new()));
    let o = run(t
        .cmd()
        .args(["revoke", "--retry-pending", "--yes", "--allow-internal"])
        .args(["--state", db.to_str().unwrap()])
        .env("KEYWARDEN_GENERIC_API_URL", format!("{}/v1", server.url))
        .env("KEYWARDEN_GENERIC_ADMIN_TOKEN", "adm-0123456789-secret"));
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    assert_eq!(server.requests().len(), 3);
    assert_eq!(
        db_rows(&db),
        vec![("revoke".into(), "generic".into(), "done".into(), 2)]
    );
}

/// kill -9 after the provider got the revocation and before keywarden recorded the answer:
/// the restart checks the key first and sends no second revocation.
#[test]
fn kill_between_request_and_record_never_repeats_the_revocation() {
    let server = FakeProvider::start(|_, _| Reply::Hang);
    let t = TestDir::new();
    let s = format!("{}{}", "glpat-", "Zx8Yw7Vu6Ts5Rq4Po3Nm");
    t.write("report.json", report(&[("gitlab-pat", &s, None)]));
    let db = t.join("state.db");
    let cmd = || {
        let mut c = t.cmd();
        c.args([
            "revoke",
            "--findings",
            "report.json",
            "--yes",
            "--allow-internal",
        ])
        .args(["--state", db.to_str().unwrap(), "--timeout", "30"])
        .env("KEYWARDEN_GITLAB_API_URL", format!("{}/api/v4", server.url));
        c
    };
    let mut child = cmd()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    server.wait_for(1);
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    assert_eq!(db_rows(&db)[0].2, "in_flight");
    // The revocation did go through: the token no longer works.
    server.set_script(|r, _| match r.method.as_str() {
        "GET" => Reply::Json(401, r#"{"message":"401 Unauthorized"}"#.into()),
        _ => Reply::Json(204, String::new()),
    });
    let o = run(&mut cmd());
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let reqs: Vec<String> = server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        reqs,
        [
            "DELETE /api/v4/personal_access_tokens/self",
            "GET /api/v4/personal_access_tokens/self"
        ]
    );
    assert!(server
        .requests()
        .iter()
        .all(|r| r.header("private-token") == Some(s.as_str())));
    assert_eq!(db_rows(&db)[0].2, "done");
    assert!(!db_bytes(&db).contains(&s));
    assert_hidden(&o, &[&s]);
}

#[test]
fn manual_providers_print_the_runbook() {
    let t = TestDir::new();
    let key = fake::aws_key_id("Q3EGT7XK2VD4WRNM");
    t.write(
        "report.json",
        report(&[("aws-access-key-id", &key, Some(&key))]),
    );
    let o = run(t.cmd().args(["revoke", "--findings", "report.json"]));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Amazon Web Services has no revocation API"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "aws iam update-access-key --access-key-id {key} --status Inactive"
        )),
        "{out}"
    );
}

#[test]
fn webhook_and_jsonl_say_what_happened_and_what_to_do() {
    let server = FakeProvider::start(|r, _| match r.path.as_str() {
        "/hook" => Reply::Json(200, "ok".into()),
        _ => Reply::Json(204, String::new()),
    });
    let t = TestDir::new();
    let db = t.join("state.db");
    let hook = format!("{}/hook", server.url);
    let o = run(&mut generic_cmd(
        &t,
        &server,
        &db,
        &[
            "--yes",
            "--webhook",
            &hook,
            "--notify-jsonl",
            "notices.jsonl",
        ],
    ));
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let hook_req = &reqs[1];
    assert_eq!(
        (hook_req.method.as_str(), hook_req.path.as_str()),
        ("POST", "/hook")
    );
    let body: serde_json::Value = serde_json::from_str(&hook_req.body).unwrap();
    assert_eq!(
        body["text"],
        "keywarden: generic key key_123\nWhat happened: exposed secret\nWhat was done: revoked at Generic key API\nWhat to do next: Put the new secret in every integration that uses this key before the old one stops working, then confirm the old secret is rejected."
    );
    let line = std::fs::read_to_string(t.join("notices.jsonl")).unwrap();
    let n: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(n["key"], "key_123");
    assert_eq!(n["done"], "revoked at Generic key API");
    assert!(!line.contains("adm-0123456789-secret"));
}

#[test]
fn missing_notification_server_is_a_warning() {
    let server = FakeProvider::start(|_, _| Reply::Json(204, String::new()));
    let t = TestDir::new();
    let db = t.join("state.db");
    let hook = "http://127.0.0.1:1/services/T0/B0/hooksecret";
    let o = run(generic_cmd(
        &t,
        &server,
        &db,
        &["--yes", "--notify-desktop", "--webhook", hook],
    )
    .env(
        "DBUS_SESSION_BUS_ADDRESS",
        format!("unix:path={}/no-bus", t.path().display()),
    ));
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("desktop notification not shown"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("webhook at http://127.0.0.1:1 not notified"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("hooksecret"));
}

/// A session bus for one test: `dbus-daemon` listening on a socket in the test's directory,
/// stopped when dropped.
struct SessionBus {
    child: std::process::Child,
    address: String,
}

impl SessionBus {
    fn start(dir: &Path) -> SessionBus {
        let mut child = std::process::Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address"])
            .arg(format!("--address=unix:path={}/bus", dir.display()))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start dbus-daemon ({e}): install the Debian package `dbus` (.ci/run does)")
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line.trim().to_string();
        assert!(
            address.starts_with("unix:"),
            "dbus-daemon printed no bus address: {line:?}"
        );
        SessionBus { child, address }
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type NotifyArgs = (
    String,
    u32,
    String,
    String,
    String,
    Vec<String>,
    std::collections::HashMap<String, zbus::OwnedVariant>,
    i32,
);

/// Owns org.freedesktop.Notifications on `address` and records (app, summary, body) of every
/// Notify call. Returns once the name is owned.
fn notification_server(address: &str) -> Arc<Mutex<Vec<(String, String, String)>>> {
    use futures_lite::StreamExt;
    let seen: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (addr, rec) = (address.to_string(), seen.clone());
    thread::spawn(move || {
        zbus::block_on(async move {
            let conn = zbus::connection::Builder::address(addr.as_str())
                .build()
                .await
                .expect("connect to the test bus");
            conn.request_name("org.freedesktop.Notifications")
                .await
                .expect("own org.freedesktop.Notifications");
            let mut stream = zbus::MessageStream::from(&conn);
            ready_tx.send(()).unwrap();
            while let Some(Ok(msg)) = stream.next().await {
                let header = msg.header();
                if header.message_type() != zbus::message::Type::MethodCall {
                    continue;
                }
                let member = header.member().map(|m| m.to_string()).unwrap_or_default();
                match member.as_str() {
                    "Notify" => {
                        let args: NotifyArgs = msg.body().deserialize().expect("Notify args");
                        rec.lock().unwrap().push((args.0, args.3, args.4));
                        conn.reply(&header, &(7u32,)).await.unwrap();
                    }
                    "GetCapabilities" => {
                        conn.reply(&header, &(vec!["body".to_string()],))
                            .await
                            .unwrap();
                    }
                    _ => {}
                }
            }
        });
    });
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("test notification server did not come up");
    seen
}

#[test]
fn desktop_notification_on_a_real_session_bus() {
    let t = TestDir::new();
    let bus = SessionBus::start(t.aux.path());
    let seen = notification_server(&bus.address);
    let server = FakeProvider::start(|_, _| Reply::Json(204, String::new()));
    let db = t.join("state.db");
    let o = run(
        generic_cmd(&t, &server, &db, &["--yes", "--notify-desktop"])
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address),
    );
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    assert!(!stderr(&o).contains("warn"), "{}", stderr(&o));
    let got = seen.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![(
            "keywarden".to_string(),
            "keywarden: generic key key_123".to_string(),
            "What happened: exposed secret\nWhat was done: revoked at Generic key API\nWhat to do next: Put the new secret in every integration that uses this key before the old one stops working, then confirm the old secret is rejected.".to_string()
        )]
    );
}

fn alert(id: &str, kind: keywarden::alert::AlertKind) -> keywarden::alert::Alert {
    keywarden::alert::Alert {
        id: id.into(),
        key_id: "key_777".into(),
        kind,
        severity: keywarden::rules::Severity::Critical,
        start: "2026-11-30T10:00:00Z".into(),
        detected_at: "2026-11-30T10:05:00Z".into(),
        summary: "exposed key used from 203.0.113.9".into(),
        evidence: serde_json::json!({}),
    }
}

/// The library API the monitor daemon uses: policy per alert kind, each alert handled once,
/// each revocation sent once, notifications as JSON lines.
#[test]
fn actor_applies_the_policy_once_per_alert() {
    use keywarden::act::policy::{ActSpec, Actor, PolicyAction};
    use keywarden::alert::AlertKind;
    let server = FakeProvider::start(|_, _| Reply::Json(204, String::new()));
    let t = TestDir::new();
    let prov = t.write_aux(
        "providers/own.toml",
        format!(
            r#"id = "own"
name = "Our API"
kind = "api"
base_url = "{}/admin"

[[revoke]]
method = "DELETE"
url = "${{base_url}}/keys/${{key_id}}"
success = {{ status = [204] }}
"#,
            server.url
        ),
    );
    let notices = t.join("notices.jsonl");
    let spec: ActSpec = toml::from_str(&format!(
        "provider = \"own\"\n[policy]\nexposed_key_in_use = \"revoke\"\n[notify]\njsonl = {:?}\n",
        notices.display().to_string()
    ))
    .unwrap();
    let db = t.join("state.db");
    let http = keywarden::act::http::HttpOptions {
        allow_internal: true,
        ..Default::default()
    };
    let mut actor = Actor::new(&spec, &db, http.clone(), &[prov.clone().into()]).unwrap();
    let spike = actor.handle(&alert("a-1", AlertKind::VolumeSpike)).unwrap();
    assert_eq!(spike.policy, PolicyAction::Notify);
    assert!(spike.outcome.is_none());
    assert!(server.requests().is_empty());
    let exposed = actor
        .handle(&alert("a-2", AlertKind::ExposedKeyInUse))
        .unwrap();
    assert_eq!(exposed.policy, PolicyAction::Revoke);
    assert_eq!(exposed.outcome.unwrap().status(), "done");
    // The same alert again (a replay), and the daemon restarted: nothing is sent twice.
    drop(actor);
    let mut actor = Actor::new(&spec, &db, http, &[prov.into()]).unwrap();
    let again = actor
        .handle(&alert("a-2", AlertKind::ExposedKeyInUse))
        .unwrap();
    assert!(again.outcome.is_none());
    let other = actor
        .handle(&alert("a-3", AlertKind::ExposedKeyInUse))
        .unwrap();
    assert_eq!(other.outcome.unwrap().status(), "recorded");
    let reqs: Vec<String> = server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(reqs, ["DELETE /admin/keys/key_777"]);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&notices)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let dones: Vec<(&str, &str)> = lines
        .iter()
        .map(|n| (n["kind"].as_str().unwrap(), n["done"].as_str().unwrap()))
        .collect();
    assert_eq!(
        dones,
        [
            ("volume_spike", "nothing yet: notify-only policy"),
            ("exposed_key_in_use", "key revoked automatically"),
            (
                "exposed_key_in_use",
                "nothing to do: recorded as done (action #1): not sent again"
            ),
        ]
    );
}

#[test]
fn slack_reads_ok_false_answers() {
    let live = format!(
        "{}-{}",
        "xoxb", "1111111111-2222222222-AbCdEfGhIjKlMnOpQrStUvWx"
    );
    let gone = format!(
        "{}-{}",
        "xoxb", "3333333333-4444444444-ZyXwVuTsRqPoNmLkJiHgFeDc"
    );
    let l = live.clone();
    let server = FakeProvider::start(move |r, _| {
        let ok = r.header("authorization") == Some(format!("Bearer {l}").as_str());
        match (r.path.as_str(), ok) {
            ("/api/auth.test", true) => Reply::Json(200, r#"{"ok":true,"user":"bot"}"#.into()),
            ("/api/auth.revoke", true) => Reply::Json(200, r#"{"ok":true,"revoked":true}"#.into()),
            _ => Reply::Json(200, r#"{"ok":false,"error":"invalid_auth"}"#.into()),
        }
    });
    let t = TestDir::new();
    t.write(
        "report.json",
        report(&[
            ("slack-bot-token", &live, None),
            ("slack-bot-token", &gone, None),
        ]),
    );
    let api = format!("{}/api", server.url);
    let o = run(t
        .cmd()
        .args(["validate", "--findings", "report.json", "--allow-internal"])
        .env("KEYWARDEN_SLACK_API_URL", &api));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["findings"][0]["validation"], "verified_active");
    assert_eq!(doc["findings"][1]["validation"], "inactive");
    let db = t.join("state.db");
    let o = run(t
        .cmd()
        .args([
            "revoke",
            "--findings",
            "report.json",
            "--yes",
            "--allow-internal",
        ])
        .args(["--state", db.to_str().unwrap()])
        .env("KEYWARDEN_SLACK_API_URL", &api));
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("slack answered 200\n"), "{out}");
    assert!(
        out.contains("slack answered 200: nothing left to do"),
        "{out}"
    );
    let revokes: Vec<Recorded> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/auth.revoke")
        .collect();
    assert_eq!(revokes.len(), 2);
    assert!(revokes.iter().all(|r| r.method == "POST"));
    assert_hidden(&o, &[&live, &gone]);
}

#[test]
fn gitlab_rotates_a_token_and_shows_the_new_one() {
    let old = format!("{}{}", "glpat-", "OldOldOldOldOldOld12");
    let new = format!("{}{}", "glpat-", "NewNewNewNewNewNew34");
    let n = new.clone();
    let server = FakeProvider::start(move |_, _| {
        Reply::Json(200, format!(r#"{{"id":42,"name":"ci","token":"{n}"}}"#))
    });
    let t = TestDir::new();
    t.write("report.json", report(&[("gitlab-pat", &old, None)]));
    let db = t.join("state.db");
    let o = run(t
        .cmd()
        .args([
            "revoke",
            "--regenerate",
            "--findings",
            "report.json",
            "--yes",
        ])
        .args(["--allow-internal", "--state", db.to_str().unwrap()])
        .env("KEYWARDEN_GITLAB_API_URL", format!("{}/api/v4", server.url)));
    assert_eq!(code(&o), 0, "{}\n{}", stdout(&o), stderr(&o));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("POST", "/api/v4/personal_access_tokens/self/rotate")
    );
    assert_eq!(reqs[0].header("private-token"), Some(old.as_str()));
    assert!(stdout(&o).contains(&format!("new secret (shown once, store it now): {new}")));
    assert_hidden(&o, &[&old]);
    let bytes = db_bytes(&db);
    assert!(!bytes.contains(&old) && !bytes.contains(&new));
}

#[test]
fn actor_regenerates_and_keeps_the_new_secret_out_of_notices() {
    use keywarden::act::policy::{ActSpec, Actor};
    use keywarden::alert::AlertKind;
    let server =
        FakeProvider::start(|_, _| Reply::Json(200, r#"{"secret":"fresh-s3cret-000111"}"#.into()));
    let t = TestDir::new();
    let prov = t.write_aux(
        "providers/own.toml",
        format!(
            "id = \"own\"\nname = \"Our API\"\nkind = \"api\"\nbase_url = \"{}\"\n\n[[regenerate]]\nmethod = \"POST\"\nurl = \"${{base_url}}/keys/${{key_id}}/roll\"\nextract = {{ new_secret = \"/secret\" }}\n",
            server.url
        ),
    );
    let notices = t.join("notices.jsonl");
    let spec: ActSpec = toml::from_str(&format!(
        "provider = \"own\"\n[policy]\nrotation_due = \"regenerate\"\n[notify]\njsonl = {:?}\n",
        notices.display().to_string()
    ))
    .unwrap();
    let db = t.join("state/state.db");
    let http = keywarden::act::http::HttpOptions {
        allow_internal: true,
        ..Default::default()
    };
    let mut actor = Actor::new(&spec, &db, http, &[prov.into()]).unwrap();
    let h = actor.handle(&alert("r-1", AlertKind::RotationDue)).unwrap();
    assert_eq!(h.outcome.unwrap().status(), "done");
    let reqs = server.requests();
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("POST", "/keys/key_777/roll")
    );
    let saved = t.join("state/new-secrets/own-key_777.secret");
    assert_eq!(
        std::fs::read_to_string(&saved).unwrap(),
        "fresh-s3cret-000111\n"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&saved).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let line = std::fs::read_to_string(&notices).unwrap();
    assert!(!line.contains("fresh-s3cret-000111"));
    assert!(line.contains("own-key_777.secret"), "{line}");
    assert!(!db_bytes(&db).contains("fresh-s3cret-000111"));
}

#[test]
fn validation_only_providers_check_and_show_a_runbook() {
    let oa = format!(
        "{}-{}",
        "sk-proj", "Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St90"
    );
    let an = format!("{}-{}", "sk-ant-api03", "Zz".repeat(40));
    let server = FakeProvider::start(|r, _| match r.path.as_str() {
        "/openai/models" => Reply::Json(200, r#"{"data":[]}"#.into()),
        _ => Reply::Json(401, r#"{"type":"error"}"#.into()),
    });
    let t = TestDir::new();
    t.write(
        "report.json",
        report(&[
            ("openai-project-key", &oa, None),
            ("anthropic-api-key", &an, None),
        ]),
    );
    let o = run(t
        .cmd()
        .args(["validate", "--findings", "report.json", "--allow-internal"])
        .env("KEYWARDEN_OPENAI_API_URL", format!("{}/openai", server.url))
        .env(
            "KEYWARDEN_ANTHROPIC_API_URL",
            format!("{}/anthropic", server.url),
        ));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["findings"][0]["validation"], "verified_active");
    assert_eq!(doc["findings"][1]["validation"], "inactive");
    let mut reqs = server.requests();
    reqs.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(reqs[0].path, "/anthropic/models");
    assert_eq!(reqs[0].header("x-api-key"), Some(an.as_str()));
    assert_eq!(reqs[0].header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(reqs[1].path, "/openai/models");
    assert_eq!(
        reqs[1].header("authorization"),
        Some(format!("Bearer {oa}").as_str())
    );
    let o = run(t.cmd().args([
        "revoke",
        "--findings",
        "report.json",
        "--rule",
        "openai-project-key",
    ]));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("revoke openai key sk-p***** (fingerprint"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("https://platform.openai.com/api-keys"),
        "{}",
        stdout(&o)
    );
    assert_eq!(server.requests().len(), 2);
    assert_hidden(&o, &[&oa, &an]);
}

/// A `keywarden monitor` daemon child; its stderr is watched for test-hook lines.
struct MonitorDaemon {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl MonitorDaemon {
    fn start(t: &TestDir) -> MonitorDaemon {
        let mut child = t
            .cmd()
            .args(["monitor", "--config", "monitor.toml", "--interval", "1s"])
            .env("KEYWARDEN_TEST_HOOKS", "1")
            .env("KEYWARDEN_OWN_TOKEN", "own-admin-token-42")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn monitor");
        let err = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        MonitorDaemon { child, lines: rx }
    }

    /// Waits until `n` more polls have finished; returns the stderr lines seen.
    fn polls(&self, n: usize) -> Vec<String> {
        let mut seen = Vec::new();
        let mut left = n;
        while left > 0 {
            match self.lines.recv_timeout(Duration::from_secs(120)) {
                Ok(l) => {
                    if l.contains("keywarden-test: poll ") {
                        left -= 1;
                    }
                    seen.push(l);
                }
                Err(_) => panic!("monitor stopped polling; stderr: {seen:#?}"),
            }
        }
        seen
    }

    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        self.child.wait().unwrap();
        self.lines.try_iter().collect()
    }
}

/// An exposed key shows up in the usage log: the daemon's policy revokes it. Killed with
/// SIGKILL after the provider got the revocation and before the answer was recorded, the
/// restarted daemon checks the key and sends no second revocation.
#[test]
fn daemon_revokes_an_exposed_key_in_use_exactly_once_across_kill_9() {
    let server = FakeProvider::start(|_, _| Reply::Hang);
    let t = TestDir::new();
    t.write(
        "providers/own.toml",
        format!(
            r#"id = "own"
name = "Our API"
kind = "api"
base_url = "{}/admin"

[validate]
method = "GET"
url = "${{base_url}}/keys/${{key_id}}"
headers = {{ Authorization = "Bearer ${{KEYWARDEN_OWN_TOKEN}}" }}
active = {{ status = [200] }}
inactive = {{ status = [404] }}

[[revoke]]
method = "DELETE"
url = "${{base_url}}/keys/${{key_id}}"
headers = {{ Authorization = "Bearer ${{KEYWARDEN_OWN_TOKEN}}" }}
success = {{ status = [204] }}
already_done = {{ status = [404] }}
"#,
            server.url
        ),
    );
    t.write(
        "findings.json",
        serde_json::json!({"version": 1, "findings": [
            {"rule_id": "own-key", "key_id": "k-leaked", "secret_sha256": "00"}
        ], "summary": {}})
        .to_string(),
    );
    t.write(
        "logs/usage.csv",
        "timestamp,api_key_id,status,source_ip\n\
         2024-01-10T10:00:00Z,k-fine,200,10.0.0.1\n\
         2024-01-10T10:01:00Z,k-leaked,200,203.0.113.9\n",
    );
    t.write(
        "monitor.toml",
        r#"inputs = ["logs"]
findings = "findings.json"
state = "state.db"
output = "alerts.jsonl"
format = "jsonl"

[act]
provider = "own"
providers = ["providers"]
allow_internal = true
timeout = 30
retry_pending_every = 0

[act.policy]
exposed_key_in_use = "revoke"

[act.notify]
jsonl = "notices.jsonl"
"#,
    );
    let db = t.join("state.db");
    let d = MonitorDaemon::start(&t);
    server.wait_for(1);
    d.kill9();
    assert_eq!(
        db_rows(&db),
        vec![("revoke".into(), "own".into(), "in_flight".into(), 1)]
    );
    // The revocation went through: the key is gone at the provider.
    server.set_script(|r, _| match r.method.as_str() {
        "GET" => Reply::Json(404, "{}".into()),
        _ => Reply::Json(204, String::new()),
    });
    let d = MonitorDaemon::start(&t);
    d.polls(3);
    let rest = d.stop();
    let reqs: Vec<String> = server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        reqs,
        ["DELETE /admin/keys/k-leaked", "GET /admin/keys/k-leaked"],
        "{rest:#?}"
    );
    assert!(server
        .requests()
        .iter()
        .all(|r| r.header("authorization") == Some("Bearer own-admin-token-42")));
    assert_eq!(
        db_rows(&db),
        vec![("revoke".into(), "own".into(), "done".into(), 1)]
    );
    let notices = std::fs::read_to_string(t.join("notices.jsonl")).unwrap();
    let n: Vec<serde_json::Value> = notices
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(n.len(), 1, "{notices}");
    assert_eq!(n[0]["kind"], "exposed_key_in_use");
    assert_eq!(n[0]["key"], "k-leaked");
    assert_eq!(
        n[0]["done"],
        "nothing to do: Our API no longer accepts the key: the interrupted revoke went through"
    );
    assert!(!db_bytes(&db).contains("own-admin-token-42"));
    assert!(!notices.contains("own-admin-token-42"));
}

/// Without a crash: one request, and a restarted daemon (same alerts replayed from the state)
/// sends nothing more.
#[test]
fn daemon_revokes_once_and_a_rerun_sends_nothing() {
    let server = FakeProvider::start(|_, _| Reply::Json(204, String::new()));
    let t = TestDir::new();
    t.write(
        "findings.json",
        serde_json::json!({"version": 1, "findings": [
            {"rule_id": "own-key", "key_id": "k-leaked", "secret_sha256": "00"}
        ], "summary": {}})
        .to_string(),
    );
    t.write(
        "logs/usage.csv",
        "timestamp,api_key_id,status,source_ip\n2024-01-10T10:01:00Z,k-leaked,200,203.0.113.9\n",
    );
    t.write(
        "monitor.toml",
        r#"inputs = ["logs"]
findings = "findings.json"
state = "state.db"
output = "alerts.jsonl"
format = "jsonl"

[act]
provider = "generic"
allow_internal = true

[act.policy]
exposed_key_in_use = "revoke"

[act.notify]
jsonl = "notices.jsonl"
"#,
    );
    let once = || {
        let mut c = t.cmd();
        c.args(["monitor", "--config", "monitor.toml", "--once"])
            .env("KEYWARDEN_GENERIC_API_URL", format!("{}/v1", server.url))
            .env("KEYWARDEN_GENERIC_ADMIN_TOKEN", "adm-0123456789-secret");
        c
    };
    let o = run(&mut once());
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let o2 = run(&mut once());
    assert_eq!(code(&o2), 0, "{}", stderr(&o2));
    let reqs: Vec<String> = server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(reqs, ["DELETE /v1/keys/k-leaked"]);
    let notices = std::fs::read_to_string(t.join("notices.jsonl")).unwrap();
    assert_eq!(notices.lines().count(), 1);
    assert!(
        notices.contains("\"done\":\"key revoked automatically\""),
        "{notices}"
    );
    assert_hidden(&o, &["adm-0123456789-secret"]);
}

#[test]
fn a_redacted_report_cannot_revoke_by_secret() {
    let server = FakeProvider::start(|_, _| Reply::Json(202, "{}".into()));
    let t = TestDir::new();
    let s = token("redactedredactedredactedredact");
    let mut doc: serde_json::Value =
        serde_json::from_str(&report(&[("github-pat-classic", &s, None)])).unwrap();
    doc["findings"][0]["secret"] = "ghp_*****".into();
    t.write("report.json", doc.to_string());
    let db = t.join("state.db");
    let o = run(t
        .cmd()
        .args([
            "revoke",
            "--findings",
            "report.json",
            "--yes",
            "--allow-internal",
        ])
        .args(["--state", db.to_str().unwrap()])
        .env("KEYWARDEN_GITHUB_API_URL", &server.url));
    assert_eq!(code(&o), 2);
    assert!(
        stdout(&o).contains("needs the secret itself to revoke; run again with a findings file made with --show-secrets"),
        "{}",
        stdout(&o)
    );
    assert!(server.requests().is_empty());
    assert!(db_rows(&db).is_empty());
}
