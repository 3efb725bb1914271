//! Provider definitions: how to validate, revoke or regenerate a provider's keys, declared as
//! TOML under `rules/providers/` (embedded) or `--providers DIR`, never hard-coded in Rust.
//!
//! A definition is a list of request templates (method, URL, headers, body) with placeholders:
//! `${secret}`, `${key_id}`, `${base_url}`, values extracted by earlier steps (lowercase names)
//! and `${ENV_NAME}` (uppercase names) for admin credentials, read from the environment only.
//! Rendering produces two texts per request: the real one and a display one in which the secret
//! is redacted and environment values stay as `${ENV_NAME}`, so nothing printed or logged ever
//! carries a credential.

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Context, Result};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use crate::findings::redact;

/// What a response must look like to count as a given answer. Every condition given must hold:
/// the status is one of `status`, each JSON pointer in `json` has that value, and at least one
/// of the `contains` words occurs in the body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    #[serde(default)]
    pub status: Vec<u16>,
    #[serde(default)]
    pub json: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub contains: Vec<String>,
}

impl MatchSpec {
    pub fn matches(&self, status: u16, body: &str) -> bool {
        if !self.status.is_empty() && !self.status.contains(&status) {
            return false;
        }
        if !self.json.is_empty() {
            let Ok(doc) = serde_json::from_str::<serde_json::Value>(body) else {
                return false;
            };
            for (pointer, want) in &self.json {
                let Some(got) = doc.pointer(pointer) else {
                    return false;
                };
                if !toml_eq_json(want, got) {
                    return false;
                }
            }
        }
        if !self.contains.is_empty() && !self.contains.iter().any(|w| body.contains(w.as_str())) {
            return false;
        }
        true
    }
}

fn toml_eq_json(t: &toml::Value, j: &serde_json::Value) -> bool {
    match (t, j) {
        (toml::Value::String(a), serde_json::Value::String(b)) => a == b,
        (toml::Value::Boolean(a), serde_json::Value::Bool(b)) => a == b,
        (toml::Value::Integer(a), serde_json::Value::Number(b)) => b.as_i64() == Some(*a),
        (toml::Value::Float(a), serde_json::Value::Number(b)) => b.as_f64() == Some(*a),
        _ => false,
    }
}

/// One HTTP request template and how to read its answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A raw body (placeholders replaced as they are).
    #[serde(default)]
    pub body: Option<String>,
    /// A JSON body; placeholders inside strings are replaced and JSON-escaped.
    #[serde(default)]
    pub json: Option<toml::Value>,
    /// The answer that means the step worked (default: any 2xx).
    #[serde(default)]
    pub success: Option<MatchSpec>,
    /// The answer that means there was nothing left to do (already revoked, unknown key).
    #[serde(default)]
    pub already_done: Option<MatchSpec>,
    /// Variables to read from a JSON answer for later steps: name → JSON pointer.
    /// `new_secret` in a regenerate flow is the new secret.
    #[serde(default)]
    pub extract: BTreeMap<String, String>,
}

/// A validation request: answers that mean active, answers that mean inactive; anything else
/// is unknown.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateSpec {
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub json: Option<toml::Value>,
    pub active: MatchSpec,
    pub inactive: MatchSpec,
    /// Rule id globs whose secrets this request can check (default: the provider's `rules`).
    #[serde(default)]
    pub rules: Option<Vec<String>>,
}

impl ValidateSpec {
    pub fn step(&self) -> StepSpec {
        StepSpec {
            method: self.method.clone(),
            url: self.url.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
            json: self.json.clone(),
            success: None,
            already_done: None,
            extract: BTreeMap::new(),
        }
    }
}

/// The runbook for providers without an API.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualSpec {
    pub contact: String,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub steps: Vec<String>,
    #[serde(default)]
    pub after: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextStepsSpec {
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Api,
    Manual,
}

/// A provider file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    pub id: String,
    pub name: String,
    pub kind: ProviderKind,
    /// Overridden by `KEYWARDEN_<ID>_API_URL`; required there when absent here.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Rule id globs whose secrets this provider can revoke or regenerate. A rule's own
    /// `provider` field picks the provider, but only rules matching these are acted on (a
    /// provider without globs takes every rule that names it).
    #[serde(default)]
    pub rules: Vec<String>,
    #[serde(default)]
    pub references: Vec<String>,
    #[serde(default)]
    pub validate: Option<ValidateSpec>,
    #[serde(default)]
    pub revoke: Vec<StepSpec>,
    #[serde(default)]
    pub regenerate: Vec<StepSpec>,
    #[serde(default)]
    pub manual: Option<ManualSpec>,
    #[serde(default)]
    pub next_steps: Option<NextStepsSpec>,
}

/// A loaded provider.
#[derive(Debug, Clone)]
pub struct Provider {
    pub spec: ProviderSpec,
    pub origin: String,
}

impl Provider {
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// The environment variable that overrides the base URL.
    pub fn url_env(&self) -> String {
        let up: String = self
            .spec
            .id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("KEYWARDEN_{up}_API_URL")
    }

    pub fn base_url(&self) -> Result<String> {
        let var = self.url_env();
        if let Ok(v) = std::env::var(&var) {
            if !v.trim().is_empty() {
                return Ok(v.trim().trim_end_matches('/').to_string());
            }
        }
        match &self.spec.base_url {
            Some(u) => Ok(u.trim_end_matches('/').to_string()),
            None => bail!("provider {} needs its base URL in {var}", self.spec.id),
        }
    }

    pub fn next_steps(&self) -> String {
        self.spec
            .next_steps
            .as_ref()
            .map(|n| n.text.clone())
            .unwrap_or_else(|| {
                "Create a new secret, update every integration that used the old one, then make sure the old one no longer works.".to_string()
            })
    }

    fn check(&self) -> Result<()> {
        let s = &self.spec;
        match s.kind {
            ProviderKind::Manual if s.manual.is_none() => {
                bail!(
                    "provider {}: kind = \"manual\" needs a [manual] section",
                    s.id
                )
            }
            _ => {}
        }
        let validate = s.validate.as_ref().map(|v| v.step());
        let steps = s
            .revoke
            .iter()
            .chain(&s.regenerate)
            .chain(validate.as_ref());
        for st in steps {
            if st.body.is_some() && st.json.is_some() {
                bail!("provider {}: a step has both body and json", s.id);
            }
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&st.method.as_str()) {
                bail!("provider {}: unsupported method {:?}", s.id, st.method);
            }
        }
        let vglobs = s.validate.as_ref().and_then(|v| v.rules.as_ref());
        for g in s.rules.iter().chain(vglobs.into_iter().flatten()) {
            Glob::new(g).with_context(|| format!("provider {}: bad rule glob {g:?}", s.id))?;
        }
        Ok(())
    }
}

/// Every known provider, with the rule globs that map findings to them.
pub struct Providers {
    list: Vec<Provider>,
    /// Per provider: (action globs, validation globs).
    globs: Vec<(Option<GlobSet>, Option<GlobSet>)>,
}

fn globset(globs: &[String]) -> Result<Option<GlobSet>> {
    if globs.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for g in globs {
        b.add(Glob::new(g)?);
    }
    Ok(Some(b.build()?))
}

impl Providers {
    /// The embedded `rules/providers/*.toml` plus every `*.toml` in `dirs` (a provider with a
    /// shipped id replaces it).
    pub fn load(dirs: &[std::path::PathBuf]) -> Result<Providers> {
        let mut list: Vec<Provider> = Vec::new();
        for (name, text) in crate::rules::embedded_files() {
            if let Some(rest) = name.strip_prefix("providers/") {
                let p = parse(&format!("embedded:providers/{rest}"), text)?;
                list.push(p);
            }
        }
        for dir in dirs {
            let mut files = Vec::new();
            if dir.is_file() {
                files.push(dir.clone());
            } else {
                for e in std::fs::read_dir(dir)
                    .with_context(|| format!("cannot read providers in {}", dir.display()))?
                {
                    let p = e?.path();
                    if p.extension().is_some_and(|x| x == "toml") {
                        files.push(p);
                    }
                }
            }
            files.sort();
            for f in files {
                let text = std::fs::read_to_string(&f)
                    .with_context(|| format!("cannot read {}", f.display()))?;
                let p = parse(&f.display().to_string(), &text)?;
                list.retain(|q| q.id() != p.id());
                list.push(p);
            }
        }
        list.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
        let mut globs = Vec::new();
        for p in &list {
            let actions = globset(&p.spec.rules)?;
            let checks = match p.spec.validate.as_ref().and_then(|v| v.rules.as_ref()) {
                Some(v) => globset(v)?,
                None => actions.clone(),
            };
            globs.push((actions, checks));
        }
        Ok(Providers { list, globs })
    }

    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.list.iter().find(|p| p.id() == id)
    }

    pub fn list(&self) -> &[Provider] {
        &self.list
    }

    /// The provider that can revoke or regenerate a rule's secrets: the one the rule names
    /// (if its globs allow the rule), else the first whose globs match.
    pub fn for_rule(&self, rule_id: &str, rule_provider: Option<&str>) -> Option<&Provider> {
        self.pick(rule_id, rule_provider, |g| g.0.as_ref())
    }

    /// The provider that can validate a rule's secrets.
    pub fn for_validation(&self, rule_id: &str, rule_provider: Option<&str>) -> Option<&Provider> {
        self.pick(rule_id, rule_provider, |g| g.1.as_ref())
            .filter(|p| p.spec.validate.is_some())
    }

    fn pick<'a>(
        &'a self,
        rule_id: &str,
        rule_provider: Option<&str>,
        which: impl Fn(&(Option<GlobSet>, Option<GlobSet>)) -> Option<&GlobSet>,
    ) -> Option<&'a Provider> {
        let entries = || self.list.iter().zip(&self.globs);
        if let Some(named) = rule_provider {
            if let Some((p, g)) = entries().find(|(p, _)| p.id() == named) {
                return match which(g) {
                    None => Some(p),
                    Some(set) if set.is_match(rule_id) => Some(p),
                    Some(_) => None,
                };
            }
        }
        entries()
            .find(|(_, g)| which(g).is_some_and(|set| set.is_match(rule_id)))
            .map(|(p, _)| p)
    }
}

pub fn parse(origin: &str, text: &str) -> Result<Provider> {
    let spec: ProviderSpec = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start].matches('\n').count() + 1)
            .unwrap_or(1);
        anyhow::anyhow!("{origin}:{line}: {}", e.message().trim_end())
    })?;
    let p = Provider {
        spec,
        origin: origin.to_string(),
    };
    p.check().with_context(|| origin.to_string())?;
    Ok(p)
}

/// Values for placeholders. The secret is kept apart so it can be redacted for display.
#[derive(Clone, Default)]
pub struct Vars {
    pub secret: Option<String>,
    pub values: HashMap<String, String>,
}

impl std::fmt::Debug for Vars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vars")
            .field("secret", &self.secret.as_deref().map(redact))
            .field("values", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A request ready to send, and how to show it.
#[derive(Clone)]
pub struct Rendered {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// The request as printed in a dry run and in logs: secret redacted, environment values
    /// left as `${NAME}`.
    pub display: String,
}

impl Rendered {
    /// `METHOD URL` with the secret redacted, for diagnostics.
    pub fn display_line(&self) -> &str {
        self.display.lines().next().unwrap_or("")
    }
}

fn is_env_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[derive(Clone, Copy, PartialEq)]
enum Escape {
    None,
    Url,
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Replaces placeholders in `template`, returning (real, display).
fn fill(template: &str, vars: &Vars, esc: Escape) -> Result<(String, String)> {
    let mut real = String::new();
    let mut shown = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        real.push_str(&rest[..start]);
        shown.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            bail!("unclosed placeholder in {template:?}");
        };
        let name = &after[..end];
        let (value, display) = if name == "secret" {
            let s = vars
                .secret
                .as_deref()
                .context("this action needs the secret itself (from a findings file made with --show-secrets, or --secret-env)")?;
            (s.to_string(), redact(s))
        } else if name == "base_url" {
            let v = vars.values.get(name).context("no base URL")?.clone();
            (v.clone(), v)
        } else if is_env_name(name) {
            let v = std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .with_context(|| format!("environment variable {name} is not set"))?;
            (v, format!("${{{name}}}"))
        } else {
            let v = vars
                .values
                .get(name)
                .with_context(|| format!("no value for ${{{name}}}"))?
                .clone();
            (v.clone(), v)
        };
        let enc = |s: &str| match esc {
            Escape::Url if name != "base_url" => url_encode(s),
            _ => s.to_string(),
        };
        real.push_str(&enc(&value));
        shown.push_str(&enc(&display));
        rest = &after[end + 1..];
    }
    real.push_str(rest);
    shown.push_str(rest);
    Ok((real, shown))
}

fn fill_toml(v: &toml::Value, vars: &Vars) -> Result<(serde_json::Value, serde_json::Value)> {
    use serde_json::Value as J;
    Ok(match v {
        toml::Value::String(s) => {
            let (r, d) = fill(s, vars, Escape::None)?;
            (J::String(r), J::String(d))
        }
        toml::Value::Integer(i) => (J::from(*i), J::from(*i)),
        toml::Value::Float(f) => (J::from(*f), J::from(*f)),
        toml::Value::Boolean(b) => (J::Bool(*b), J::Bool(*b)),
        toml::Value::Datetime(d) => (J::String(d.to_string()), J::String(d.to_string())),
        toml::Value::Array(a) => {
            let mut r = Vec::new();
            let mut d = Vec::new();
            for x in a {
                let (xr, xd) = fill_toml(x, vars)?;
                r.push(xr);
                d.push(xd);
            }
            (J::Array(r), J::Array(d))
        }
        toml::Value::Table(t) => {
            let mut r = serde_json::Map::new();
            let mut d = serde_json::Map::new();
            for (k, x) in t {
                let (xr, xd) = fill_toml(x, vars)?;
                r.insert(k.clone(), xr);
                d.insert(k.clone(), xd);
            }
            (J::Object(r), J::Object(d))
        }
    })
}

/// Fills a step's templates.
pub fn render(step: &StepSpec, vars: &Vars) -> Result<Rendered> {
    let (url, url_shown) = fill(&step.url, vars, Escape::Url)?;
    let mut headers = Vec::new();
    let mut display = format!("{} {url_shown}", step.method);
    for (k, v) in &step.headers {
        let (r, d) = fill(v, vars, Escape::None)?;
        display.push_str(&format!("\n  {k}: {d}"));
        headers.push((k.clone(), r));
    }
    let body = if let Some(b) = &step.body {
        let (r, d) = fill(b, vars, Escape::None)?;
        display.push_str(&format!("\n  {d}"));
        Some(r)
    } else if let Some(j) = &step.json {
        let (r, d) = fill_toml(j, vars)?;
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("Content-Type".into(), "application/json".into()));
            display.push_str("\n  Content-Type: application/json");
        }
        display.push_str(&format!("\n  {d}"));
        Some(r.to_string())
    } else {
        None
    };
    Ok(Rendered {
        method: step.method.clone(),
        url,
        headers,
        body,
        display,
    })
}

/// Renders a manual runbook as text.
pub fn runbook(p: &Provider, vars: &Vars) -> String {
    let Some(m) = &p.spec.manual else {
        return String::new();
    };
    let f = |s: &str| {
        fill(s, vars, Escape::None)
            .map(|(_, d)| d)
            .unwrap_or_else(|_| s.to_string())
    };
    let mut out = format!(
        "{} has no revocation API; do this by hand:\n  contact: {}\n",
        p.spec.name,
        f(&m.contact)
    );
    if !m.include.is_empty() {
        out.push_str("  include:\n");
        for i in &m.include {
            out.push_str(&format!("    - {}\n", f(i)));
        }
    }
    if !m.steps.is_empty() {
        out.push_str("  steps:\n");
        for (n, s) in m.steps.iter().enumerate() {
            out.push_str(&format!("    {}. {}\n", n + 1, f(s)));
        }
    }
    if !m.after.is_empty() {
        out.push_str("  afterwards:\n");
        for a in &m.after {
            out.push_str(&format!("    - {}\n", f(a)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_providers_load() {
        let ps = Providers::load(&[]).unwrap();
        for id in ["aws", "generic", "github", "gitlab", "slack"] {
            assert!(ps.get(id).is_some(), "{id}");
        }
        assert_eq!(
            ps.for_rule("github-pat-classic", None).unwrap().id(),
            "github"
        );
        assert_eq!(
            ps.for_rule("gitlab-token-named", Some("gitlab"))
                .unwrap()
                .id(),
            "gitlab"
        );
        // The rule names a provider that cannot revoke this kind of secret.
        assert!(ps
            .for_rule("gitlab-runner-auth-token", Some("gitlab"))
            .is_none());
        assert!(ps
            .for_rule("github-app-private-key", Some("github"))
            .is_none());
        assert!(ps.for_rule("slack-webhook-url", Some("slack")).is_none());
        // GitHub validates more token kinds than its revocation API takes.
        assert!(ps
            .for_rule("github-server-to-server-token", Some("github"))
            .is_none());
        assert_eq!(
            ps.for_validation("github-server-to-server-token", Some("github"))
                .unwrap()
                .id(),
            "github"
        );
        assert!(ps
            .for_validation("github-refresh-token", Some("github"))
            .is_none());
        assert!(ps.for_rule("nothing-here", None).is_none());
        // Validation-only providers fall back to their runbook for revocation.
        assert_eq!(
            ps.for_rule("openai-admin-key", Some("openai"))
                .unwrap()
                .id(),
            "openai"
        );
        // A user provider without globs takes every rule that names it.
        assert_eq!(
            ps.for_rule("anything", Some("generic")).unwrap().id(),
            "generic"
        );
    }

    /// Every glob of every shipped provider names at least one shipped rule, so a renamed rule
    /// cannot silently lose its validation or revocation.
    #[test]
    fn provider_globs_match_shipped_rules() {
        let rules = crate::rules::RuleSet::load(true, &[], &[]).unwrap();
        let ps = Providers::load(&[]).unwrap();
        for p in ps.list() {
            let v = p.spec.validate.as_ref().and_then(|v| v.rules.clone());
            for g in p.spec.rules.iter().chain(v.iter().flatten()) {
                let m = Glob::new(g).unwrap().compile_matcher();
                assert!(
                    rules.rules().iter().any(|r| m.is_match(&r.id)),
                    "provider {}: {g} matches no shipped rule",
                    p.id()
                );
            }
        }
    }

    #[test]
    fn renders_with_redaction() {
        let ps = Providers::load(&[]).unwrap();
        let gh = ps.get("github").unwrap();
        let secret = format!("ghp_{}", "a1B2".repeat(9));
        let mut vars = Vars {
            secret: Some(secret.clone()),
            ..Vars::default()
        };
        vars.values
            .insert("base_url".into(), "http://127.0.0.1:1".into());
        let r = render(&gh.spec.revoke[0], &vars).unwrap();
        assert_eq!(r.url, "http://127.0.0.1:1/credentials/revoke");
        assert_eq!(
            r.body.as_deref().unwrap(),
            format!("{{\"credentials\":[\"{secret}\"]}}")
        );
        assert!(!r.display.contains(&secret));
        assert!(r.display.contains("ghp_*****"));
    }

    #[test]
    fn env_placeholders_stay_hidden() {
        let step: StepSpec = toml::from_str(
            "method = \"DELETE\"\nurl = \"${base_url}/keys/${key_id}\"\nheaders = { Authorization = \"Bearer ${KW_TEST_TOKEN_XYZ}\" }",
        )
        .unwrap();
        std::env::set_var("KW_TEST_TOKEN_XYZ", "hunter2-admin");
        let mut vars = Vars::default();
        vars.values.insert("base_url".into(), "https://h".into());
        vars.values.insert("key_id".into(), "a b/c".into());
        let r = render(&step, &vars).unwrap();
        assert_eq!(r.url, "https://h/keys/a%20b%2Fc");
        assert_eq!(r.headers[0].1, "Bearer hunter2-admin");
        assert!(!r.display.contains("hunter2"));
        assert!(r.display.contains("${KW_TEST_TOKEN_XYZ}"));
    }
}
