//! `keywarden scan` over working trees and stdin.

use crate::harness::*;

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
    assert_eq!(r["findings"][0]["column"], 22);
    assert_eq!(r["findings"][0]["secret"], "AKIA*****");
}
