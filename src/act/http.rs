//! The one HTTP client for provider requests: timeouts, retries with exponential backoff and
//! jitter on timeouts, 429 and 5xx, and refusal of private, loopback and link-local targets
//! unless the user allows internal addresses (checked when the address is resolved, so a name
//! that resolves inward is refused too). Redirects are not followed: a provider answer that
//! redirects is reported, never chased with credentials attached.

use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::provider::Rendered;

#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Whole-request timeout (connect, send, read).
    pub timeout: Duration,
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// First backoff; doubles each retry, plus up to the same again in jitter.
    pub backoff: Duration,
    pub allow_internal: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(10),
            attempts: 4,
            backoff: Duration::from_millis(500),
            allow_internal: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("refused to contact {0}: private, loopback or link-local address (pass --allow-internal to allow it)")]
    Internal(String),
    #[error("request timed out after {attempts} attempts")]
    Timeout { attempts: u32 },
    #[error("request failed after {attempts} attempts: {message}")]
    Transport { attempts: u32, message: String },
    #[error("bad request URL {0}")]
    BadUrl(String),
}

impl HttpError {
    /// Worth trying again later (the daemon keeps such actions pending).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            HttpError::Timeout { .. } | HttpError::Transport { .. }
        )
    }
}

pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 0
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let seg = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (seg & 0xfe00) == 0xfc00
                || (seg & 0xffc0) == 0xfe80
        }
    }
}

/// `host:port` of an http(s) URL.
fn netloc(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let auth = rest.split(['/', '?', '#']).next()?;
    let auth = auth.rsplit('@').next()?;
    if let Some(v6) = auth.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default_port,
        };
        return Some((host.to_string(), port));
    }
    match auth.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((auth.to_string(), default_port)),
    }
}

pub struct Http {
    agent: ureq::Agent,
    opts: HttpOptions,
}

impl Http {
    pub fn new(opts: HttpOptions) -> Http {
        let allow = opts.allow_internal;
        let resolver = move |netloc: &str| -> io::Result<Vec<SocketAddr>> {
            let addrs: Vec<SocketAddr> = netloc.to_socket_addrs()?.collect();
            if allow {
                return Ok(addrs);
            }
            let open: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| !is_internal(a.ip()))
                .collect();
            if open.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("{netloc} resolves to an internal address"),
                ));
            }
            Ok(open)
        };
        let agent = ureq::AgentBuilder::new()
            .timeout(opts.timeout)
            .redirects(0)
            .user_agent(concat!("keywarden/", env!("CARGO_PKG_VERSION")))
            .resolver(resolver)
            .build();
        Http { agent, opts }
    }

    pub fn options(&self) -> &HttpOptions {
        &self.opts
    }

    /// Refuses internal targets before anything is sent.
    pub fn check_target(&self, url: &str) -> Result<(), HttpError> {
        let (host, port) = netloc(url).ok_or_else(|| HttpError::BadUrl(url.to_string()))?;
        if self.opts.allow_internal {
            return Ok(());
        }
        let host_only = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<IpAddr> = match host_only.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => (host_only, port)
                .to_socket_addrs()
                .map(|it| it.map(|a| a.ip()).collect())
                .unwrap_or_default(),
        };
        if host_only.eq_ignore_ascii_case("localhost") || addrs.iter().any(|ip| is_internal(*ip)) {
            return Err(HttpError::Internal(format!("{host}:{port}")));
        }
        Ok(())
    }

    /// Sends `req`, retrying timeouts, connection failures, 429 and 5xx. Returns the last
    /// answer (which may still be a 429 or 5xx when every attempt got one).
    pub fn send(&self, req: &Rendered) -> Result<Response, HttpError> {
        self.check_target(&req.url)?;
        let attempts = self.opts.attempts.max(1);
        let mut last_err = None;
        for attempt in 1..=attempts {
            let mut r = self.agent.request(&req.method, &req.url);
            for (k, v) in &req.headers {
                r = r.set(k, v);
            }
            let result = match &req.body {
                Some(b) => r.send_string(b),
                None => r.call(),
            };
            let (resp, retry_after) = match result {
                Ok(resp) => (resp, None),
                Err(ureq::Error::Status(_, resp)) => {
                    let ra = resp
                        .header("Retry-After")
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    (resp, ra)
                }
                Err(ureq::Error::Transport(t)) => {
                    let msg = t.to_string();
                    let timeout = msg.contains("timed out")
                        || msg.contains("Timeout")
                        || msg.contains("WouldBlock");
                    tracing::info!(
                        "{}: attempt {attempt}: {}",
                        req.display_line(),
                        if timeout {
                            "timed out"
                        } else {
                            "transport error"
                        }
                    );
                    last_err = Some(if timeout {
                        HttpError::Timeout { attempts: attempt }
                    } else {
                        HttpError::Transport {
                            attempts: attempt,
                            message: t.kind().to_string(),
                        }
                    });
                    if attempt < attempts {
                        self.sleep(attempt, None);
                    }
                    continue;
                }
            };
            let status = resp.status();
            let body = resp.into_string().unwrap_or_default();
            let transient = status == 429 || (500..600).contains(&status);
            if transient && attempt < attempts {
                tracing::info!(
                    "{}: attempt {attempt}: status {status}, retrying",
                    req.display_line()
                );
                self.sleep(attempt, retry_after);
                continue;
            }
            return Ok(Response { status, body });
        }
        Err(last_err.unwrap_or(HttpError::Timeout { attempts }))
    }

    fn sleep(&self, attempt: u32, retry_after: Option<u64>) {
        let base = self.opts.backoff.as_millis() as u64;
        let exp = base.saturating_mul(1u64 << (attempt - 1).min(16));
        let jitter = if base == 0 { 0 } else { random() % (base + 1) };
        let mut ms = exp + jitter;
        if let Some(s) = retry_after {
            ms = ms.max(s.saturating_mul(1000)).min(60_000);
        }
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// The URL without query string (where some APIs put tokens) for diagnostics.
pub fn redact_url(url: &str) -> String {
    match url.split_once('?') {
        Some((a, _)) => format!("{a}?…"),
        None => url.to_string(),
    }
}

fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "0.0.0.0",
            "100.64.0.1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "140.82.112.3", "2606:4700::1111"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn netlocs() {
        assert_eq!(
            netloc("https://api.github.com/user"),
            Some(("api.github.com".into(), 443))
        );
        assert_eq!(
            netloc("http://127.0.0.1:8080/x?y"),
            Some(("127.0.0.1".into(), 8080))
        );
        assert_eq!(netloc("http://[::1]:9/x"), Some(("::1".into(), 9)));
        assert_eq!(netloc("ftp://x"), None);
    }

    #[test]
    fn refuses_loopback_without_permission() {
        let h = Http::new(HttpOptions::default());
        assert!(matches!(
            h.check_target("http://127.0.0.1:1/x"),
            Err(HttpError::Internal(_))
        ));
        assert!(matches!(
            h.check_target("http://localhost:1/x"),
            Err(HttpError::Internal(_))
        ));
        let h = Http::new(HttpOptions {
            allow_internal: true,
            ..HttpOptions::default()
        });
        assert!(h.check_target("http://127.0.0.1:1/x").is_ok());
    }
}
