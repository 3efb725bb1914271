//! `keywarden monitor`: generated exports with planted incidents and normal-but-unusual
//! traffic, every input format, garbled rows, the daemon following grown/rotated/truncated
//! files, and crash-restart (a real child killed with SIGKILL) with exactly-once alerts.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::harness::*;

/// 2024-01-01T00:00:00Z, a Monday (in the past, so no clock makes it "future").
const T0: i64 = 1_704_067_200;
const DAY: i64 = 86400;

fn iso(t: i64) -> String {
    keywarden::monitor::ingest::time::format(t)
}

/// A small deterministic PRNG (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Clone)]
struct Ev {
    ts: i64,
    key: String,
    status: u16,
    ip: String,
}

fn csv(events: &[Ev]) -> String {
    let mut s = String::from("timestamp,api_key_id,status,source_ip,endpoint,method\n");
    for e in events {
        s.push_str(&format!(
            "{},{},{},{},/v1/items,GET\n",
            iso(e.ts),
            e.key,
            e.status,
            e.ip
        ));
    }
    s
}

/// Two weeks of traffic for six keys, in time order except for a few records delivered one
/// bucket late. Planted: a volume spike (k-spike, day 10 14:00), an auth-failure burst (k-auth,
/// day 9 09:00 from 203.0.113.66) and a new address (k-newip, day 11 12:00:30). Normal but
/// unusual: day/night and weekend cycles, a nightly batch job, a gradual ramp, stray 401s.
fn scenario(seed: u64) -> Vec<Ev> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    let mut late: Vec<Ev> = Vec::new();
    let buckets = 14 * 288;
    for b in 0..buckets {
        let start = T0 + b * 300;
        let day = b / 288;
        let hour = (b % 288) / 12;
        let weekend = (day % 7) >= 5;
        let mut this: Vec<Ev> = Vec::new();
        let emit = |this: &mut Vec<Ev>, rng: &mut Rng, key: &str, n: u64, status: u16, ip: &str| {
            for j in 0..n {
                let ts = start + (j as i64 * 300) / n as i64 + rng.below(3) as i64;
                this.push(Ev {
                    ts: ts.min(start + 299),
                    key: key.into(),
                    status,
                    ip: ip.into(),
                });
            }
        };
        let noisy = |rng: &mut Rng, rate: f64| -> u64 {
            let spread = (rate * 0.2).max(1.0) as u64;
            (rate as u64 + rng.below(2 * spread + 1)).saturating_sub(spread)
        };
        // Day/night and weekend cycles.
        let base = match hour {
            0..=6 => 2.0,
            7 | 19..=21 => 8.0,
            8..=18 => 20.0,
            _ => 3.0,
        } * if weekend { 0.4 } else { 1.0 };
        let n = noisy(&mut rng, base);
        let ip = format!("10.0.0.{}", 1 + rng.below(4));
        emit(&mut this, &mut rng, "k-steady", n, 200, &ip);
        if rng.below(72) == 0 {
            emit(&mut this, &mut rng, "k-steady", 1, 401, "10.0.0.1"); // a stray failure now and then
        }
        // Nightly batch job 02:00-02:15 every day.
        let n = if hour == 2 && b % 12 < 3 {
            noisy(&mut rng, 300.0)
        } else {
            noisy(&mut rng, 10.0)
        };
        emit(&mut this, &mut rng, "k-batch", n, 200, "10.0.1.1");
        // A ramp from 5 to 40 per bucket over two weeks.
        let rate = 5.0 + 35.0 * b as f64 / buckets as f64;
        let n = noisy(&mut rng, rate);
        emit(&mut this, &mut rng, "k-ramp", n, 200, "10.0.2.1");
        // Steady, then a spike on day 10 14:00-14:30.
        let n = if day == 10 && hour == 14 && b % 12 < 6 {
            noisy(&mut rng, 400.0)
        } else {
            noisy(&mut rng, 30.0)
        };
        emit(&mut this, &mut rng, "k-spike", n, 200, "10.0.3.1");
        // Auth: steady use, and on day 9 at 09:00 a burst of 60 failures in 3 minutes.
        let n = noisy(&mut rng, 10.0);
        emit(&mut this, &mut rng, "k-auth", n, 200, "10.0.4.1");
        if day == 9 && hour == 9 && b % 12 == 0 {
            for j in 0..60 {
                this.push(Ev {
                    ts: start + j * 3,
                    key: "k-auth".into(),
                    status: 401,
                    ip: "203.0.113.66".into(),
                });
            }
        }
        // New address: five known ones, then one never seen on day 11 12:00:30.
        let n = noisy(&mut rng, 6.0);
        for _ in 0..n {
            let ip = format!("10.0.5.{}", 1 + rng.below(5));
            emit(&mut this, &mut rng, "k-newip", 1, 200, &ip);
        }
        if day == 11 && hour == 12 && b % 12 == 0 {
            this.push(Ev {
                ts: start + 30,
                key: "k-newip".into(),
                status: 200,
                ip: "198.51.100.7".into(),
            });
        }
        this.sort_by_key(|e| e.ts);
        // Deliver last bucket's late records after this bucket's first records.
        let mut rest = Vec::new();
        for e in this {
            if rng.below(20) == 0 {
                rest.push(e);
            } else {
                out.push(e);
            }
        }
        out.append(&mut late);
        late = rest;
    }
    out.append(&mut late);
    out
}

/// `(kind, key, start)` of every alert in JSON-lines output.
fn alerts(jsonl: &str) -> Vec<(String, String, i64)> {
    jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad alert line {l}: {e}"));
            let start =
                keywarden::monitor::ingest::time::parse(v["start"].as_str().unwrap().as_bytes())
                    .unwrap();
            (
                v["kind"].as_str().unwrap().to_string(),
                v["key_id"].as_str().unwrap().to_string(),
                start,
            )
        })
        .collect()
}

fn ids(jsonl: &str) -> Vec<String> {
    jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Asserts the alerts are exactly `want` (kind, key), each start within 5 minutes after the
/// planted time.
fn assert_alerts(got: &[(String, String, i64)], want: &[(&str, &str, i64)]) {
    let mut got_sorted: Vec<_> = got.to_vec();
    got_sorted.sort();
    let mut want_sorted: Vec<_> = want.to_vec();
    want_sorted.sort();
    assert_eq!(
        got_sorted.len(),
        want_sorted.len(),
        "alerts: {got_sorted:?}\nwanted: {want_sorted:?}"
    );
    for ((gk, gkey, gs), (wk, wkey, ws)) in got_sorted.iter().zip(&want_sorted) {
        assert_eq!((gk.as_str(), gkey.as_str()), (*wk, *wkey), "{got_sorted:?}");
        assert!(
            *gs >= *ws && *gs < *ws + 300,
            "{wk} {wkey}: start {} not in the bucket of {}",
            iso(*gs),
            iso(*ws)
        );
    }
}

fn planted() -> Vec<(&'static str, &'static str, i64)> {
    vec![
        ("volume_spike", "k-spike", T0 + 10 * DAY + 14 * 3600),
        ("auth_failures", "k-auth", T0 + 9 * DAY + 9 * 3600),
        ("new_source_ip", "k-newip", T0 + 11 * DAY + 12 * 3600 + 30),
    ]
}

#[test]
fn generated_export_gives_exactly_the_planted_alerts() {
    let t = TestDir::new();
    t.write("usage.csv", csv(&scenario(7)));
    let o = run(t
        .cmd()
        .args(["monitor", "--once", "-i", "usage.csv", "-f", "jsonl"]));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_alerts(&alerts(&stdout(&o)), &planted());
    // A replay gives the same alerts with the same ids.
    let again = run(t
        .cmd()
        .args(["monitor", "--once", "-i", "usage.csv", "-f", "jsonl"]));
    assert_eq!(ids(&stdout(&o)), ids(&stdout(&again)));
}

#[test]
fn normal_traffic_alone_raises_nothing() {
    let t = TestDir::new();
    let evs: Vec<Ev> = scenario(11)
        .into_iter()
        .filter(|e| ["k-steady", "k-batch", "k-ramp"].contains(&e.key.as_str()))
        .collect();
    t.write("usage.csv", csv(&evs));
    let o = run(t
        .cmd()
        .args(["monitor", "--once", "-i", "usage.csv", "-f", "jsonl"]));
    assert_eq!(stdout(&o), "", "{}", stderr(&o));
    assert_eq!(code(&o), 0);
}

/// A small export: k-a used from one address for two hours, then from a new one; k-b gets a
/// burst of failures.
fn small() -> Vec<Ev> {
    let mut v = Vec::new();
    for i in 0..120 {
        v.push(Ev {
            ts: T0 + i * 60,
            key: "k-a".into(),
            status: 200,
            ip: "10.1.1.1".into(),
        });
    }
    v.push(Ev {
        ts: T0 + 7300,
        key: "k-a".into(),
        status: 200,
        ip: "192.0.2.44".into(),
    });
    for i in 0..30 {
        v.push(Ev {
            ts: T0 + 3600 + i * 5,
            key: "k-b".into(),
            status: 403,
            ip: "198.51.100.9".into(),
        });
    }
    v.sort_by_key(|e| e.ts);
    v
}

fn small_want() -> Vec<(&'static str, &'static str, i64)> {
    vec![
        ("new_source_ip", "k-a", T0 + 7300),
        ("auth_failures", "k-b", T0 + 3600),
    ]
}

fn monitor_small(t: &TestDir, input: &str, extra: &[&str]) -> (String, String, i32) {
    let mut c = t.cmd();
    c.args([
        "monitor",
        "--once",
        "-i",
        input,
        "-f",
        "jsonl",
        "--learning",
        "1h",
    ]);
    c.args(extra);
    let o = run(&mut c);
    (stdout(&o), stderr(&o), code(&o))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn every_input_format_gives_the_same_alerts() {
    let t = TestDir::new();
    let evs = small();
    t.write("a.csv", csv(&evs));
    let (base, err, rc) = monitor_small(&t, "a.csv", &[]);
    assert_eq!(rc, 1, "{err}");
    assert_alerts(&alerts(&base), &small_want());
    let want_ids = ids(&base);

    // CSV with other column names, quoted fields, CRLF, and --columns.
    let mut s = String::from("When,Token,HTTP,Client Address,note\r\n");
    for e in &evs {
        s.push_str(&format!(
            "\"{}\",\"{}\",{},{},\"a, \"\"quoted\"\" note\"\r\n",
            iso(e.ts),
            e.key,
            e.status,
            e.ip
        ));
    }
    t.write("b.csv", &s);
    let (out, err, _) = monitor_small(
        &t,
        "b.csv",
        &[
            "--columns",
            "timestamp=When,key_id=Token,status=HTTP,source_ip=Client Address",
        ],
    );
    assert_eq!(ids(&out), want_ids, "{err}");

    // JSON lines.
    let mut s = String::new();
    for e in &evs {
        s.push_str(
            &serde_json::json!({"timestamp": iso(e.ts), "key_id": e.key, "status": e.status,
                "client_ip": e.ip})
            .to_string(),
        );
        s.push('\n');
    }
    t.write("c.jsonl", &s);
    let (out, err, _) = monitor_small(&t, "c.jsonl", &[]);
    assert_eq!(ids(&out), want_ids, "{err}");

    // CloudTrail, gzip-compressed as delivered.
    let records: Vec<serde_json::Value> = evs
        .iter()
        .map(|e| {
            let mut r = serde_json::json!({
                "eventTime": iso(e.ts), "eventName": "GetObject",
                "userIdentity": {"type": "IAMUser", "accessKeyId": e.key},
                "sourceIPAddress": e.ip,
            });
            if e.status == 403 {
                r["errorCode"] = "AccessDenied".into();
            }
            r
        })
        .collect();
    let doc = serde_json::json!({ "Records": records }).to_string();
    t.write("trail/d.json.gz", gzip(doc.as_bytes()));
    let (out, err, _) = monitor_small(&t, "trail", &[]);
    assert_eq!(ids(&out), want_ids, "{err}");

    // Gzip CSV.
    t.write("e.csv.gz", gzip(csv(&evs).as_bytes()));
    let (out, err, _) = monitor_small(&t, "e.csv.gz", &[]);
    assert_eq!(ids(&out), want_ids, "{err}");
}

#[test]
fn garbled_rows_are_counted_with_samples_and_not_fatal() {
    let t = TestDir::new();
    let mut s = csv(&small());
    s.insert_str(
        s.find('\n').unwrap() + 1,
        "not a row\nyesterday,k-a,200,10.1.1.1,/,GET\n2024-01-01T00:00:00Z,k-a,abc,10.1.1.1,/,GET\n\
         2999-01-01T00:00:00Z,k-a,200,10.1.1.1,/,GET\n",
    );
    t.write("g.csv", &s);
    let (out, err, rc) = monitor_small(&t, "g.csv", &[]);
    assert_eq!(rc, 1);
    assert_alerts(&alerts(&out), &small_want());
    assert!(err.contains("4 rows could not be parsed"), "{err}");
    assert!(err.contains("g.csv:2: too few columns"), "{err}");
    assert!(err.contains("g.csv:3: bad timestamp"), "{err}");
    assert!(err.contains("g.csv:4: bad status"), "{err}");
    assert!(err.contains("g.csv:5: timestamp in the future"), "{err}");
    // A file without a key column is an error (exit 2), not a crash.
    t.write("nokey.csv", "timestamp,foo\n2024-01-01T00:00:00Z,1\n");
    let (_, err, rc) = monitor_small(&t, "nokey.csv", &[]);
    assert_eq!(rc, 2);
    assert!(err.contains("no key column"), "{err}");
}

#[test]
fn inventory_kinds_and_exposed_keys() {
    let t = TestDir::new();
    let secret = ["sk", "_live_", "Zx8Qw2Lm4Np6Rt8Vb0Cd2Fg4"].concat();
    let hash = keywarden::findings::sha256_hex(secret.as_bytes());
    t.write(
        "keys.csv",
        "api_key_id,name,created_at,last_rotated_at,allowed_ips\n\
         k-old,billing,2023-06-01T00:00:00Z,,\n\
         k-rotated,search,2023-06-01T00:00:00Z,2023-12-28T00:00:00Z,\n\
         k-idle,legacy,2023-12-15T00:00:00Z,,\n\
         k-fenced,backend,2023-12-20T00:00:00Z,,\"10.9.0.0/16; 10.8.0.1\"\n\
         k-leaked,ci,2023-12-20T00:00:00Z,,\n",
    );
    t.write(
        "findings.json",
        serde_json::json!({"version": 1, "findings": [
            {"rule_id": "x", "key_id": "k-leaked", "secret_sha256": "00"},
            {"rule_id": "y", "secret_sha256": hash},
        ], "summary": {}})
        .to_string(),
    );
    let mut s = String::from("timestamp,api_key_id,status,source_ip\n");
    for (ts, key, ip) in [
        (T0, "k-old", "10.0.0.1"),
        (T0 + 60, "k-rotated", "10.0.0.1"),
        (T0 + 120, "k-fenced", "10.9.4.4"),
        (T0 + 180, "k-fenced", "10.8.0.1"),
        (T0 + 240, "k-fenced", "192.0.2.5"),
        (T0 + 300, "k-fenced", "192.0.2.5"),
        (T0 + 360, "k-leaked", "10.0.0.2"),
    ] {
        s.push_str(&format!("{},{key},200,{ip}\n", iso(ts)));
    }
    t.write("usage.csv", &s);
    // A log whose key column holds the raw secret: hashed on ingest.
    t.write(
        "raw.csv",
        format!("time,token,status\n{},{secret},200\n", iso(T0 + 400)),
    );
    let st = t.join("state.db");
    let o = run(t.cmd().args([
        "monitor",
        "--once",
        "-i",
        "usage.csv",
        "-i",
        "raw.csv",
        "--columns",
        "secret=token",
        "--keys",
        "keys.csv",
        "--findings",
        "findings.json",
        "--now",
        "2024-01-11T00:00:00Z",
        "-f",
        "jsonl",
        "--state",
        st.to_str().unwrap(),
    ]));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let hashed = format!("sha256:{hash}");
    let want = vec![
        ("rotation_due", "k-old", 1_685_577_600 + 90 * DAY),
        ("unused_key", "k-idle", 1_702_598_400),
        ("rotation_due", "k-idle", 1_702_598_400 + 90 * DAY),
        ("new_source_ip", "k-fenced", T0 + 240),
        ("exposed_key_in_use", "k-leaked", T0 + 360),
        ("exposed_key_in_use", hashed.as_str(), T0 + 400),
    ];
    let got = alerts(&stdout(&o));
    // rotation_due for k-idle is not due yet (created 2023-12-15): drop it from the wanted set.
    let want: Vec<_> = want
        .into_iter()
        .filter(|(k, key, _)| !(*k == "rotation_due" && *key == "k-idle"))
        .collect();
    assert_alerts(&got, &want);
    let sev: BTreeSet<String> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "exposed_key_in_use")
        .map(|v| v["severity"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sev, BTreeSet::from(["critical".to_string()]));
    // The raw secret is nowhere: not in the output, not in the state database.
    assert!(!stdout(&o).contains(&secret));
    for f in ["state.db", "state.db-wal"] {
        if let Ok(bytes) = std::fs::read(t.join(f)) {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{f} holds the raw secret"
            );
        }
    }
    // Run again with the same state: nothing new.
    let again = run(t.cmd().args([
        "monitor",
        "--once",
        "-i",
        "usage.csv",
        "-i",
        "raw.csv",
        "--columns",
        "secret=token",
        "--keys",
        "keys.csv",
        "--findings",
        "findings.json",
        "--now",
        "2024-01-11T00:00:00Z",
        "-f",
        "jsonl",
        "--state",
        st.to_str().unwrap(),
    ]));
    assert_eq!(stdout(&again), "");
    assert_eq!(code(&again), 0);
}

/// A daemon child whose stderr is watched for test-hook lines.
struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Daemon {
    fn start(t: &TestDir, extra_env: &[(&str, &str)]) -> Daemon {
        Daemon::start_on(t, "logs", extra_env)
    }

    fn start_on(t: &TestDir, input: &str, extra_env: &[(&str, &str)]) -> Daemon {
        let mut c = t.cmd();
        c.args([
            "monitor",
            "-i",
            input,
            "--interval",
            "1s",
            "--lateness",
            "0s",
            "--state",
            "state.db",
            "-o",
            "alerts.jsonl",
            "-f",
            "jsonl",
        ])
        .env("KEYWARDEN_TEST_HOOKS", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
        for (k, v) in extra_env {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("spawn daemon");
        let err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Daemon { child, lines: rx }
    }

    /// Waits for a stderr line containing `what`; returns every line seen until then.
    fn wait_for(&self, what: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(120)) {
                Ok(l) => {
                    let hit = l.contains(what);
                    seen.push(l);
                    if hit {
                        return seen;
                    }
                }
                Err(_) => panic!("daemon never said {what:?}; stderr: {seen:#?}"),
            }
        }
    }

    /// Waits until a poll that started after now has finished.
    fn settle(&self) -> Vec<String> {
        let mut a = self.wait_for("poll ");
        a.extend(self.wait_for("poll "));
        a
    }

    fn kill9(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    fn stop(mut self) -> i32 {
        let pid = self.child.id() as i32;
        assert!(std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success());
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

/// A failure burst for `key` starting at `at`, then one success 10 minutes later that moves
/// the key's event time past the bucket.
fn burst(key: &str, at: i64) -> String {
    let mut s = String::new();
    for i in 0..25 {
        s.push_str(&format!("{},{key},401,203.0.113.5\n", iso(at + i)));
    }
    s.push_str(&format!("{},{key},200,10.0.0.1\n", iso(at + 600)));
    s
}

fn append(p: &Path, s: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(p).unwrap();
    f.write_all(s.as_bytes()).unwrap();
}

fn alert_file(t: &TestDir) -> String {
    std::fs::read_to_string(t.join("alerts.jsonl")).unwrap_or_default()
}

#[test]
fn daemon_follows_grown_rotated_and_truncated_files() {
    let t = TestDir::new();
    let log = t.join("logs/app.csv");
    let header = "timestamp,api_key_id,status,source_ip\n";
    t.write("logs/app.csv", format!("{header}{}", burst("k-1", T0)));
    let d = Daemon::start(&t, &[]);
    d.settle();
    // Grown between polls, ending in a half-written line.
    let b2 = burst("k-2", T0 + 3600);
    let (head, tail) = b2.split_at(b2.len() - 20);
    append(&log, head);
    d.settle();
    append(&log, tail);
    d.settle();
    // Rotated: renamed within the directory, a new file takes the name.
    std::fs::rename(&log, t.join("logs/app.csv.1")).unwrap();
    append(&t.join("logs/app.csv.1"), &burst("k-3", T0 + 7200));
    t.write(
        "logs/app.csv",
        format!("{header}{}", burst("k-4", T0 + 10800)),
    );
    d.settle();
    // Truncated in place and rewritten.
    t.write(
        "logs/app.csv",
        format!("{header}{}", burst("k-5", T0 + 14400)),
    );
    let lines = d.settle();
    assert_eq!(d.stop(), 0);
    assert!(
        !lines.iter().any(|l| l.contains("could not be parsed")),
        "{lines:#?}"
    );
    let got = alerts(&alert_file(&t));
    assert_alerts(
        &got,
        &[
            ("auth_failures", "k-1", T0),
            ("auth_failures", "k-2", T0 + 3600),
            ("auth_failures", "k-3", T0 + 7200),
            ("auth_failures", "k-4", T0 + 10800),
            ("auth_failures", "k-5", T0 + 14400),
        ],
    );
}

fn crash_restart(pause_var: &str) {
    let t = TestDir::new();
    let header = "timestamp,api_key_id,status,source_ip\n";
    t.write(
        "logs/app.csv",
        format!(
            "{header}{}{}{}",
            burst("k-1", T0),
            burst("k-2", T0 + 3600),
            burst("k-3", T0 + 7200)
        ),
    );
    let d = Daemon::start(&t, &[(pause_var, "1")]);
    d.wait_for("keywarden-test: paused after");
    d.kill9();
    // Restarted: grows meanwhile.
    append(&t.join("logs/app.csv"), &burst("k-4", T0 + 10800));
    let d = Daemon::start(&t, &[]);
    d.settle();
    assert_eq!(d.stop(), 0);
    let text = alert_file(&t);
    let got = alerts(&text);
    assert_alerts(
        &got,
        &[
            ("auth_failures", "k-1", T0),
            ("auth_failures", "k-2", T0 + 3600),
            ("auth_failures", "k-3", T0 + 7200),
            ("auth_failures", "k-4", T0 + 10800),
        ],
    );
    let mut i = ids(&text);
    let n = i.len();
    i.sort();
    i.dedup();
    assert_eq!(i.len(), n, "duplicate alerts:\n{text}");
}

#[test]
fn kill_9_after_commit_then_restart_delivers_each_alert_once() {
    crash_restart("KEYWARDEN_TEST_PAUSE_AFTER_COMMIT");
}

#[test]
fn kill_9_after_delivery_before_marking_then_restart_delivers_each_alert_once() {
    crash_restart("KEYWARDEN_TEST_PAUSE_AFTER_DELIVER");
}

#[test]
fn kill_9_before_commit_then_restart_delivers_each_alert_once() {
    crash_restart("KEYWARDEN_TEST_PAUSE_BEFORE_COMMIT");
}

#[test]
fn daemon_finishes_a_rotated_file_named_explicitly() {
    let t = TestDir::new();
    let log = t.join("logs/app.csv");
    let header = "timestamp,api_key_id,status,source_ip\n";
    t.write("logs/app.csv", format!("{header}{}", burst("k-1", T0)));
    let d = Daemon::start_on(&t, "logs/app.csv", &[]);
    d.settle();
    // Lines written just before rotation, then the rename and a new file.
    append(&log, &burst("k-2", T0 + 3600));
    std::fs::rename(&log, t.join("logs/app.csv.1")).unwrap();
    t.write(
        "logs/app.csv",
        format!("{header}{}", burst("k-3", T0 + 7200)),
    );
    d.settle();
    assert_eq!(d.stop(), 0);
    assert_alerts(
        &alerts(&alert_file(&t)),
        &[
            ("auth_failures", "k-1", T0),
            ("auth_failures", "k-2", T0 + 3600),
            ("auth_failures", "k-3", T0 + 7200),
        ],
    );
}

#[test]
fn config_file_and_human_output() {
    let t = TestDir::new();
    t.write("logs/a.csv", csv(&small()));
    let cfg = t.write(
        "monitor.toml",
        "inputs = [\"logs\"]\nformat = \"jsonl\"\nlearning = \"1h\"\nlateness = \"5m\"\n\
         [auth]\nthreshold = 40\n",
    );
    // Threshold 40 from the file: the 30-failure burst is not one; the new address still is.
    let o = run(t
        .cmd()
        .args(["monitor", "--once", "--config", cfg.to_str().unwrap()]));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_alerts(&alerts(&stdout(&o)), &[("new_source_ip", "k-a", T0 + 7300)]);
    // Flags win over the file.
    let o = run(t.cmd().args([
        "monitor",
        "--once",
        "--config",
        cfg.to_str().unwrap(),
        "-f",
        "human",
    ]));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with(
            "medium   new_source_ip      k-a 2024-01-01T02:01:40Z used from 192.0.2.44"
        ),
        "{out}"
    );
    assert!(out.contains("[id "), "{out}");
    // An unknown setting is an error naming its line.
    let bad = t.write("bad.toml", "inputs = [\"logs\"]\nintervall = \"5s\"\n");
    let o = run(t
        .cmd()
        .args(["monitor", "--once", "--config", bad.to_str().unwrap()]));
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("bad.toml:2"), "{}", stderr(&o));
}

#[test]
fn daemon_judges_a_key_that_goes_quiet_once_others_move_on() {
    let t = TestDir::new();
    let header = "timestamp,api_key_id,status,source_ip\n";
    // k-1: a burst and nothing after it. k-2: ordinary use that goes on for two hours.
    let mut s = String::from(header);
    for i in 0..25 {
        s.push_str(&format!("{},k-1,401,203.0.113.5\n", iso(T0 + i)));
    }
    for i in 0..3 {
        s.push_str(&format!("{},k-2,200,10.0.0.1\n", iso(T0 + i * 3600)));
    }
    t.write("logs/app.csv", s);
    let d = Daemon::start(&t, &[]);
    d.settle();
    assert_eq!(d.stop(), 0);
    assert_alerts(&alerts(&alert_file(&t)), &[("auth_failures", "k-1", T0)]);
}
