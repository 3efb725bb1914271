//! Notifications: which key, what happened, what was done and what the owner must do next.
//! Sent to the desktop (notify-rust over D-Bus), a webhook (JSON with a Slack-compatible `text`
//! field) and/or JSON lines on stdout or a file. A channel that is not there (no notification
//! server, webhook down) is a warning; the action it reports on has already been recorded.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// One notification. Never carries a secret: keys are named by id or redacted value.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    /// `exposed_secret` or an alert kind.
    pub kind: String,
    pub key: String,
    pub provider: String,
    pub happened: String,
    pub done: String,
    pub next: String,
    pub time: String,
}

impl Notice {
    pub fn new(
        kind: &str,
        key: &str,
        provider: &str,
        happened: &str,
        done: &str,
        next: &str,
    ) -> Notice {
        Notice {
            kind: kind.into(),
            key: key.into(),
            provider: provider.into(),
            happened: happened.into(),
            done: done.into(),
            next: next.into(),
            time: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }
    }

    pub fn summary(&self) -> String {
        if self.provider.is_empty() {
            format!("keywarden: key {}", self.key)
        } else {
            format!("keywarden: {} key {}", self.provider, self.key)
        }
    }

    pub fn body(&self) -> String {
        format!(
            "What happened: {}\nWhat was done: {}\nWhat to do next: {}",
            self.happened, self.done, self.next
        )
    }

    pub fn text(&self) -> String {
        format!("{}\n{}", self.summary(), self.body())
    }
}

#[derive(Debug, Clone, Default)]
pub struct NotifyOptions {
    pub desktop: bool,
    pub webhook: Option<String>,
    /// `-` is stdout.
    pub jsonl: Option<PathBuf>,
    pub timeout: Option<Duration>,
}

impl NotifyOptions {
    pub fn is_empty(&self) -> bool {
        !self.desktop && self.webhook.is_none() && self.jsonl.is_none()
    }
}

pub struct Notifier {
    opts: NotifyOptions,
}

impl Notifier {
    pub fn new(opts: NotifyOptions) -> Notifier {
        Notifier { opts }
    }

    /// Sends `n` on every configured channel. Returns the warnings (also logged).
    pub fn send(&self, n: &Notice) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.opts.desktop {
            if let Err(e) = desktop(n) {
                warnings.push(format!("desktop notification not shown: {e}"));
            }
        }
        if let Some(url) = &self.opts.webhook {
            if let Err(e) = webhook(url, n, self.opts.timeout.unwrap_or(Duration::from_secs(10))) {
                // Webhook URLs carry their credential in the path (Slack): show the host only.
                warnings.push(format!("webhook at {} not notified: {e}", origin(url)));
            }
        }
        if let Some(path) = &self.opts.jsonl {
            if let Err(e) = jsonl(path, n) {
                warnings.push(format!("cannot write {}: {e}", path.display()));
            }
        }
        for w in &warnings {
            tracing::warn!("{w}");
        }
        warnings
    }
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host = host.rsplit('@').next().unwrap_or(host);
            format!("{scheme}://{host}")
        }
        None => "(invalid URL)".into(),
    }
}

fn desktop(n: &Notice) -> Result<(), String> {
    let mut note = notify_rust::Notification::new();
    note.appname("keywarden")
        .summary(&n.summary())
        .body(&n.body());
    note.show().map(|_| ()).map_err(|e| e.to_string())
}

fn webhook(url: &str, n: &Notice, timeout: Duration) -> Result<(), String> {
    let agent = ureq::AgentBuilder::new()
        .timeout(timeout)
        .redirects(0)
        .user_agent(concat!("keywarden/", env!("CARGO_PKG_VERSION")))
        .build();
    let doc = serde_json::json!({ "text": n.text(), "keywarden": n });
    match agent.post(url).send_json(doc) {
        Ok(_) => Ok(()),
        Err(ureq::Error::Status(s, _)) => Err(format!("status {s}")),
        Err(ureq::Error::Transport(t)) => Err(t.kind().to_string()),
    }
}

fn jsonl(path: &PathBuf, n: &Notice) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(n)?;
    line.push(b'\n');
    if path.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(&line)?;
        return out.flush();
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(&line)
}

#[cfg(test)]
mod tests {
    #[test]
    fn webhook_origin_hides_the_path() {
        assert_eq!(
            super::origin("https://hooks.slack.com/services/T0/B0/xyz"),
            "https://hooks.slack.com"
        );
        assert_eq!(
            super::origin("http://u:p@127.0.0.1:9/h?k=v"),
            "http://127.0.0.1:9"
        );
    }
}
