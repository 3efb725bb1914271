//! History (`scan --git`, `--branch`, `--since`, `--range`), staged scans, the pre-commit hook
//! and baselines, on real repositories built with the git CLI (fixed identities and dates).

use std::cell::Cell;
use std::path::Path;
use std::process::Command;

use crate::harness::*;

/// A repository in a temp dir, driven through the git CLI with a hermetic environment.
struct Repo {
    t: TestDir,
    tick: Cell<u64>,
}

fn git_env(c: &mut Command, home: &Path, tick: u64) {
    let date = format!("@{} +0000", 1_700_000_000 + tick * 60);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", home.join("gitconfig"))
        .env("GIT_AUTHOR_NAME", "Ada Lovelace")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada Lovelace")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date);
}

impl Repo {
    fn new() -> Repo {
        let r = Repo {
            t: TestDir::new(),
            tick: Cell::new(0),
        };
        r.git(&["init", "-q", "-b", "main"]);
        r
    }

    fn path(&self) -> &Path {
        self.t.path()
    }

    fn git_in(&self, dir: &Path, args: &[&str]) -> std::process::Output {
        let mut c = Command::new("git");
        git_env(&mut c, self.t.aux.path(), self.tick.get());
        c.current_dir(dir).args(args).output().expect("run git")
    }

    /// Runs git in the repository, panicking on failure; returns stdout trimmed.
    fn git(&self, args: &[&str]) -> String {
        let o = self.git_in(self.path(), args);
        assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
        stdout(&o).trim().to_string()
    }

    fn write(&self, rel: &str, contents: &str) {
        self.t.write(rel, contents);
    }

    /// Stages everything and commits; returns the commit id.
    fn commit(&self, msg: &str) -> String {
        self.tick.set(self.tick.get() + 1);
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
        self.git(&["rev-parse", "HEAD"])
    }

    fn cmd(&self) -> Command {
        self.t.cmd()
    }

    /// `keywarden scan --format json <args>`: exit code and report.
    fn scan(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let o = run(self.cmd().args(["scan", "--format", "json"]).args(args));
        (code(&o), json(&o))
    }
}

fn key(n: u8) -> String {
    let tails = [
        "Q3EGT7XK2VD4WRNM",
        "W7HJ2KD5XQ4ZT6BP",
        "M4RZ2TQ2VX6KJ3WD",
        "T5BX3QW7ZK2MV6RD",
        "H2KD7QX4WZ3TB3MV",
    ];
    fake::aws_key_id(tails[n as usize])
}

fn keys_of(r: &serde_json::Value) -> Vec<(String, String)> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["commit"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn occurrences(f: &serde_json::Value) -> Vec<(String, String, u64)> {
    f["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["commit"].as_str().unwrap().to_string(),
                o["path"].as_str().unwrap().to_string(),
                o["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn secret_added_then_deleted_is_found_with_its_commit() {
    let r = Repo::new();
    r.write("README", "hello\n");
    r.commit("init");
    r.write("app/config.py", &format!("x = 1\nAWS = \"{}\"\n", key(0)));
    let c2 = r.commit("add config\n\nlonger body");
    std::fs::remove_file(r.path().join("app/config.py")).unwrap();
    r.commit("remove config");
    let (code, rep) = r.scan(&["--git"]);
    assert_eq!(code, 1);
    let f = &rep["findings"][0];
    assert_eq!(rep["findings"].as_array().unwrap().len(), 1);
    assert_eq!(f["rule_id"], "aws-access-key-id");
    assert_eq!(f["path"], "app/config.py");
    assert_eq!(f["line"], 2);
    assert_eq!(f["commit"], c2.as_str());
    assert_eq!(f["author"], "Ada Lovelace");
    assert_eq!(f["email"], "ada@example.com");
    assert_eq!(f["date"], "2023-11-14T22:15:20Z");
    assert_eq!(f["message"], "add config");
    assert_eq!(occurrences(f), vec![(c2, "app/config.py".into(), 2)]);
    assert_eq!(rep["summary"]["commits"], 3);
    assert_eq!(rep["summary"]["blobs_scanned"], 2);
    assert_eq!(rep["summary"]["git"]["corrupt_objects"], 0);
}

#[test]
fn secrets_only_on_a_side_branch_or_a_tag_are_found() {
    let r = Repo::new();
    r.write("README", "hello\n");
    r.commit("init");
    r.git(&["checkout", "-q", "-b", "feature"]);
    r.write("side.env", &format!("KEY={}\n", key(1)));
    let side = r.commit("side work");
    r.git(&["checkout", "-q", "main"]);
    r.git(&["checkout", "-q", "--detach"]);
    r.write("tagged.env", &format!("KEY={}\n", key(2)));
    let tagged = r.commit("tagged work");
    r.git(&["tag", "-a", "v1", "-m", "release"]);
    r.git(&["checkout", "-q", "main"]);
    let (code, rep) = r.scan(&["--git"]);
    assert_eq!(code, 1);
    assert_eq!(
        keys_of(&rep),
        vec![
            ("side.env".into(), side.clone()),
            ("tagged.env".into(), tagged)
        ]
    );
    let (code, rep) = r.scan(&["--branch", "main"]);
    assert_eq!(code, 0, "{rep}");
    let (code, rep) = r.scan(&["--branch", "feature"]);
    assert_eq!(code, 1);
    assert_eq!(keys_of(&rep), vec![("side.env".into(), side)]);
}

#[test]
fn stashed_secret_is_found() {
    let r = Repo::new();
    r.write("a.txt", "one\n");
    r.commit("init");
    r.write("a.txt", &format!("one\nKEY={}\n", key(3)));
    r.git(&["stash", "-q"]);
    let (code, rep) = r.scan(&["--git"]);
    assert_eq!(code, 1);
    assert_eq!(rep["findings"][0]["path"], "a.txt");
    assert_eq!(rep["findings"][0]["line"], 2);
}

#[test]
fn merge_commit_does_not_reintroduce_side_branch_blobs() {
    let r = Repo::new();
    r.write("README", "hello\n");
    r.commit("init");
    r.git(&["checkout", "-q", "-b", "side"]);
    r.write("s.env", &format!("KEY={}\n", key(0)));
    let side = r.commit("side secret");
    r.git(&["checkout", "-q", "main"]);
    r.write("m.txt", "main change\n");
    r.commit("main change");
    r.tick.set(r.tick.get() + 1);
    r.git(&["merge", "-q", "--no-ff", "-m", "merge side", "side"]);
    let (code, rep) = r.scan(&["--git"]);
    assert_eq!(code, 1);
    let f = &rep["findings"][0];
    assert_eq!(rep["findings"].as_array().unwrap().len(), 1);
    assert_eq!(f["commit"], side.as_str());
    assert_eq!(f["message"], "side secret");
    assert_eq!(occurrences(f), vec![(side, "s.env".into(), 1)]);
    assert_eq!(rep["summary"]["commits"], 4);
    // README, s.env, m.txt: nothing scanned twice.
    assert_eq!(rep["summary"]["blobs_scanned"], 3);
}

#[test]
fn rename_is_one_finding_with_two_occurrences() {
    let r = Repo::new();
    r.write("old.py", &format!("K = '{}'\n", key(1)));
    let c1 = r.commit("add");
    r.git(&["mv", "old.py", "new.py"]);
    let c2 = r.commit("rename");
    let (code, rep) = r.scan(&["--git"]);
    assert_eq!(code, 1);
    assert_eq!(rep["findings"].as_array().unwrap().len(), 1);
    let f = &rep["findings"][0];
    assert_eq!(f["path"], "old.py");
    assert_eq!(f["commit"], c1.as_str());
    assert_eq!(
        occurrences(f),
        vec![(c1, "old.py".into(), 1), (c2, "new.py".into(), 1)]
    );
    assert_eq!(rep["summary"]["blobs_scanned"], 1);
}

#[test]
fn a_blob_in_many_commits_is_scanned_once() {
    let r = Repo::new();
    r.write("keys.txt", &format!("KEY={}\n", key(2)));
    let first = r.commit("c0");
    for i in 1..20 {
        r.write("log.txt", &format!("entry {i}\n"));
        r.commit(&format!("c{i}"));
    }
    let (code, rep) = r.scan(&["--git", "-j", "2"]);
    assert_eq!(code, 1);
    assert_eq!(rep["summary"]["commits"], 20);
    // keys.txt once, and the 19 versions of log.txt.
    assert_eq!(rep["summary"]["blobs_scanned"], 20);
    assert_eq!(rep["summary"]["git"]["blobs_seen"], 20);
    let f = &rep["findings"][0];
    assert_eq!(occurrences(f), vec![(first, "keys.txt".into(), 1)]);
}

#[test]
fn same_secret_in_two_files_is_grouped() {
    let r = Repo::new();
    r.write("a.env", &format!("KEY={}\n", key(4)));
    let c1 = r.commit("a");
    r.write("b/b.env", &format!("# copy\nKEY={}\n", key(4)));
    let c2 = r.commit("b");
    let (code, rep) = r.scan(&["--git"]);
    assert_eq!(code, 1);
    assert_eq!(rep["findings"].as_array().unwrap().len(), 1);
    let f = &rep["findings"][0];
    assert_eq!(f["path"], "a.env");
    assert_eq!(
        occurrences(f),
        vec![(c1, "a.env".into(), 1), (c2, "b/b.env".into(), 2)]
    );
    // Same secret, same rule: SARIF has one result too.
    let o = run(r.cmd().args(["scan", "--git", "--format", "sarif"]));
    let sarif: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(sarif["runs"][0]["results"].as_array().unwrap().len(), 1);
    assert_eq!(
        sarif["runs"][0]["results"][0]["properties"]["occurrences"],
        2
    );
}

#[test]
fn since_and_range_report_only_that_range() {
    let r = Repo::new();
    r.write("a.env", &format!("KEY={}\n", key(0)));
    let c1 = r.commit("first secret");
    r.write("b.env", &format!("KEY={}\n", key(1)));
    let c2 = r.commit("second secret");
    r.write("c.txt", "clean\n");
    let c3 = r.commit("clean");
    let (code, rep) = r.scan(&["--since", &c1]);
    assert_eq!(code, 1);
    assert_eq!(keys_of(&rep), vec![("b.env".into(), c2.clone())]);
    assert_eq!(rep["summary"]["commits"], 2);
    let (code, rep) = r.scan(&["--range", &format!("{c2}..{c3}")]);
    assert_eq!(code, 0, "{rep}");
    assert_eq!(rep["summary"]["commits"], 1);
    assert_eq!(rep["summary"]["blobs_scanned"], 1);
    let (code, rep) = r.scan(&["--range", &format!("{c1}..{c3}")]);
    assert_eq!(code, 1);
    assert_eq!(keys_of(&rep), vec![("b.env".into(), c2)]);
    let o = run(r.cmd().args(["scan", "--since", "no-such-rev"]));
    assert_eq!(code_of(&o), 2);
    assert!(stderr(&o).contains("unknown revision"), "{}", stderr(&o));
}

fn code_of(o: &std::process::Output) -> i32 {
    code(o)
}

#[test]
fn staged_secret_in_a_repository_without_commits() {
    let r = Repo::new();
    r.write("new.env", &format!("KEY={}\n", key(0)));
    r.git(&["add", "new.env"]);
    let o = run(r.cmd().args(["scan", "--staged", "--format", "json"]));
    assert_eq!(code(&o), 1);
    let rep = json(&o);
    assert_eq!(
        finding_keys(&rep),
        vec![("aws-access-key-id".into(), "new.env".into(), 1)]
    );
    let err = stderr(&o);
    assert!(err.contains("keywarden:allow"), "{err}");
    assert!(err.contains("baseline"), "{err}");
}

#[test]
fn staged_reports_only_added_lines() {
    let r = Repo::new();
    r.write("cfg.env", &format!("OLD={}\n", key(0)));
    r.commit("old secret");
    r.write("cfg.env", &format!("OLD={}\nNEW={}\n", key(0), key(1)));
    r.write("unstaged.env", &format!("X={}\n", key(2)));
    r.git(&["add", "cfg.env"]);
    let (code, rep) = r.scan(&["--staged"]);
    assert_eq!(code, 1);
    assert_eq!(
        finding_keys(&rep),
        vec![("aws-access-key-id".into(), "cfg.env".into(), 2)]
    );
    // Nothing staged: clean, even with a secret in the work tree.
    r.commit("both");
    let (code, rep) = r.scan(&["--staged"]);
    assert_eq!(code, 0, "{rep}");
    // An allow comment on the line lets it through.
    r.write("more.env", &format!("K={} # keywarden:allow\n", key(3)));
    r.git(&["add", "more.env"]);
    let (code, _) = r.scan(&["--staged"]);
    assert_eq!(code, 0);
}

fn hook_path(r: &Repo) -> std::path::PathBuf {
    r.path().join(".git/hooks/pre-commit")
}

#[test]
fn hook_install_then_a_commit_with_a_secret_is_blocked() {
    let r = Repo::new();
    r.write("README", "hello\n");
    r.commit("init");
    let o = run(r.cmd().args(["hook", "install"]));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let script = std::fs::read_to_string(hook_path(&r)).unwrap();
    assert!(script.contains(bin()), "{script}");
    r.write("leak.env", &format!("KEY={}\n", key(0)));
    r.git(&["add", "leak.env"]);
    let o = r.git_in(r.path(), &["commit", "-q", "-m", "leak"]);
    assert!(!o.status.success(), "the hook let the commit through");
    assert!(stderr(&o).contains("commit blocked"), "{}", stderr(&o));
    assert_eq!(r.git(&["rev-list", "--count", "HEAD"]), "1");
    // A clean change goes through the hook.
    r.git(&["rm", "-q", "--cached", "leak.env"]);
    std::fs::remove_file(r.path().join("leak.env")).unwrap();
    r.write("ok.txt", "fine\n");
    r.git(&["add", "ok.txt"]);
    let o = r.git_in(r.path(), &["commit", "-q", "-m", "ok"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(r.git(&["rev-list", "--count", "HEAD"]), "2");
    // `git commit -a` stages through a temporary index that the hook must read.
    r.write("ok.txt", &format!("fine\nKEY={}\n", key(1)));
    let o = r.git_in(r.path(), &["commit", "-q", "-a", "-m", "sneaky"]);
    assert!(!o.status.success(), "commit -a let the secret through");
    assert_eq!(r.git(&["rev-list", "--count", "HEAD"]), "2");
    // Reinstalling our own hook just updates it.
    let o = run(r.cmd().args(["hook", "install"]));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn hook_install_keeps_a_foreign_hook() {
    let r = Repo::new();
    r.write("README", "hello\n");
    r.commit("init");
    let foreign = "#!/bin/sh\necho ran > \"$(git rev-parse --show-toplevel)/foreign-ran\"\n";
    std::fs::create_dir_all(r.path().join(".git/hooks")).unwrap();
    std::fs::write(hook_path(&r), foreign).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(hook_path(&r), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let o = run(r.cmd().args(["hook", "install"]));
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(hook_path(&r)).unwrap(), foreign);
    let o = run(r.cmd().args(["hook", "install", "--force"]));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let local = r.path().join(".git/hooks/pre-commit.local");
    assert_eq!(std::fs::read_to_string(&local).unwrap(), foreign);
    r.write("ok.txt", "fine\n");
    r.git(&["add", "ok.txt"]);
    let o = r.git_in(r.path(), &["commit", "-q", "-m", "ok"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(r.path().join("foreign-ran").exists());
    // A second --force would lose pre-commit.local's successor: refused.
    std::fs::write(hook_path(&r), foreign).unwrap();
    let o = run(r.cmd().args(["hook", "install", "--force"]));
    assert_eq!(code(&o), 2);
}

#[test]
fn baseline_round_trip_on_history() {
    let r = Repo::new();
    r.write("old.env", &format!("KEY={}\n", key(0)));
    r.commit("old leak");
    let base = r.t.write_aux("baseline.json", "");
    let o = run(r.cmd().args(["baseline", "create", "--git", &base]));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    assert_eq!(spec["findings"].as_array().unwrap().len(), 1);
    let (code, rep) = r.scan(&["--git", "--baseline", &base]);
    assert_eq!(code, 0, "{rep}");
    assert_eq!(rep["summary"]["suppressed"], 1);
    r.write("new.env", &format!("KEY={}\n", key(1)));
    let c2 = r.commit("new leak");
    let (code, rep) = r.scan(&["--git", "--baseline", &base]);
    assert_eq!(code, 1);
    assert_eq!(keys_of(&rep), vec![("new.env".into(), c2)]);
    // .keywardenignore hides the new one for good.
    let fp = rep["findings"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    r.write(".keywardenignore", &format!("# reviewed\n{fp}\n"));
    let (code, rep) = r.scan(&["--git", "--baseline", &base]);
    assert_eq!(code, 0, "{rep}");
    assert_eq!(rep["summary"]["suppressed"], 2);
}

#[test]
fn baseline_create_of_the_work_tree() {
    let t = TestDir::new();
    t.write("a.env", format!("KEY={}\n", key(2)));
    let base = t.write_aux("b.json", "");
    let o = run(t.cmd().args(["baseline", "create", &base]));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(t.cmd().args(["scan", ".", "--baseline", &base]));
    assert_eq!(code(&o), 0, "{}", stdout(&o));
}

#[test]
fn not_a_repository_exits_2() {
    let t = TestDir::new();
    t.write("a.txt", "x\n");
    let o = run(t.cmd().args(["scan", "--git"]));
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("cannot open git repository"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn missing_blob_is_counted_and_the_scan_goes_on() {
    let r = Repo::new();
    r.write("gone.txt", "this blob will be deleted\n");
    r.write("keys.env", &format!("KEY={}\n", key(0)));
    r.commit("two files");
    let oid = r.git(&["rev-parse", "HEAD:gone.txt"]);
    std::fs::remove_file(
        r.path()
            .join(format!(".git/objects/{}/{}", &oid[..2], &oid[2..])),
    )
    .unwrap();
    let (code, rep) = r.scan(&["--git"]);
    assert_eq!(code, 1);
    assert_eq!(keys_of(&rep).len(), 1);
    assert_eq!(rep["summary"]["git"]["corrupt_objects"], 1);
    assert_eq!(rep["summary"]["errors"].as_array().unwrap().len(), 0);
}

#[test]
fn bare_and_shallow_clones_are_scanned() {
    let r = Repo::new();
    r.write("a.env", &format!("KEY={}\n", key(0)));
    r.commit("one");
    r.write("b.env", &format!("KEY={}\n", key(1)));
    r.commit("two");
    let url = format!("file://{}", r.path().display());
    let bare = r.t.aux.path().join("bare.git");
    let o = r.git_in(r.t.aux.path(), &["clone", "-q", "--bare", &url, "bare.git"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(r
        .cmd()
        .args(["scan", "--git", "--format", "json"])
        .arg(&bare));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let rep = json(&o);
    assert_eq!(rep["findings"].as_array().unwrap().len(), 2);
    assert_eq!(rep["summary"]["git"]["bare"], true);
    let o = r.git_in(
        r.t.aux.path(),
        &["clone", "-q", "--depth", "1", &url, "shallow"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(r
        .cmd()
        .args(["scan", "--git", "--format", "json"])
        .arg(r.t.aux.path().join("shallow")));
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let rep = json(&o);
    assert_eq!(rep["summary"]["git"]["shallow"], true);
    assert_eq!(rep["summary"]["commits"], 1);
    // Both files exist at the boundary commit, so both are introduced there.
    assert_eq!(rep["findings"].as_array().unwrap().len(), 2);
}

#[test]
fn submodules_odd_paths_and_large_blobs_are_counted() {
    let r = Repo::new();
    r.write("big.txt", &"x".repeat(5000));
    r.write("ok.env", &format!("KEY={}\n", key(0)));
    r.commit("files");
    let head = r.git(&["rev-parse", "HEAD"]);
    r.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{head},vendor/lib"),
    ]);
    r.git(&["commit", "-q", "-m", "submodule"]);
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.env");
        std::fs::write(r.path().join(name), format!("KEY={}\n", key(1))).unwrap();
        r.commit("latin-1 name");
    }
    let (code, rep) = r.scan(&["--git", "--max-file-size", "1K"]);
    assert_eq!(code, 1);
    let g = &rep["summary"]["git"];
    assert_eq!(g["submodules"], 1);
    assert_eq!(g["blobs_too_large"], 1);
    assert_eq!(rep["summary"]["skipped_too_large"], 1);
    #[cfg(unix)]
    {
        assert_eq!(g["non_utf8_paths"], 1);
        assert_eq!(keys_of(&rep).len(), 2);
        assert_eq!(rep["findings"][0]["path"], "caf\u{fffd}.env");
    }
}

#[test]
fn no_progress_output_on_a_pipe() {
    let r = Repo::new();
    r.write("a.txt", "clean\n");
    r.commit("one");
    let o = run(r.cmd().args(["scan", "--git", "--format", "json"]));
    assert_eq!(code(&o), 0);
    assert_eq!(stderr(&o), "");
}

#[test]
fn allowlisted_paths_are_not_scanned_in_history() {
    let r = Repo::new();
    r.write(".keywarden.toml", "[allowlist]\npaths = [\"fixtures/\"]\n");
    r.write("fixtures/fake.env", &format!("KEY={}\n", key(0)));
    r.commit("fixtures");
    let (code, rep) = r.scan(&["--git"]);
    assert_eq!(code, 0, "{rep}");
    assert_eq!(rep["summary"]["skipped_excluded"], 1);
}

#[test]
fn thread_count_does_not_change_the_report() {
    let r = Repo::new();
    for i in 0..5u8 {
        r.write(
            &format!("d{i}/k.env"),
            &format!("A={}\nB={}\n", key(i), key((i + 1) % 5)),
        );
        r.commit(&format!("c{i}"));
    }
    let one = run(r
        .cmd()
        .args(["scan", "--git", "-j", "1", "--format", "json"]));
    let two = run(r
        .cmd()
        .args(["scan", "--git", "-j", "2", "--format", "json"]));
    assert_eq!(code(&one), 1);
    assert_eq!(stdout(&one), stdout(&two));
    // Five distinct secrets, each grouped with its second occurrence.
    let rep = json(&one);
    assert_eq!(rep["findings"].as_array().unwrap().len(), 5);
}
