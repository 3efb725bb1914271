//! The monitor's configuration: a TOML file (`--config`, for the daemon) merged with flags
//! (flags win), validated into `MonitorConfig`. Relative paths in the file are resolved against
//! the file's directory.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::detect::Settings;
use super::ingest::inventory::{parse_cidrs, read_findings, read_keys, Exposed, KeyRecord};
use super::ingest::time::{parse, parse_duration};
use super::ingest::ColumnNames;
use super::output::AlertFormat;
use crate::cli::{MonitorArgs, MonitorFormatArg};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    pub k: Option<f64>,
    pub ratio: Option<f64>,
    pub min_excess: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    pub threshold: Option<u32>,
}

/// The daemon config file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorFileSpec {
    #[serde(default)]
    pub inputs: Vec<PathBuf>,
    pub columns: Option<String>,
    pub keys: Option<PathBuf>,
    pub findings: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub interval: Option<String>,
    pub format: Option<String>,
    pub output: Option<PathBuf>,
    pub unused_after: Option<String>,
    pub rotate_after: Option<String>,
    pub learning: Option<String>,
    pub lateness: Option<String>,
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    #[serde(default)]
    pub volume: VolumeSpec,
    #[serde(default)]
    pub auth: AuthSpec,
    /// What to do about alerts (notify / revoke / regenerate), see `act::policy`.
    #[serde(default)]
    pub act: Option<crate::act::policy::ActSpec>,
}

/// Everything `keywarden monitor` needs, validated.
pub struct MonitorConfig {
    pub inputs: Vec<PathBuf>,
    pub columns: ColumnNames,
    pub inventory: Vec<KeyRecord>,
    pub exposed: Exposed,
    /// `None`: in memory (`--once` without `--state`).
    pub state: Option<PathBuf>,
    pub once: bool,
    pub interval: std::time::Duration,
    pub format: AlertFormat,
    pub output: Option<PathBuf>,
    pub settings: Settings,
    pub now: Option<i64>,
    pub act: Option<crate::act::policy::ActSpec>,
}

/// `$XDG_DATA_HOME/keywarden/state.db`, else `~/.local/share/keywarden/state.db`.
pub fn default_state_path() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("keywarden/state.db"));
    }
    let home = std::env::var_os("HOME").context("no --state given and HOME is not set")?;
    Ok(PathBuf::from(home).join(".local/share/keywarden/state.db"))
}

impl MonitorConfig {
    pub fn from_cli(args: &MonitorArgs) -> Result<MonitorConfig> {
        let (spec, root) = match &args.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config {}", p.display()))?;
                let spec: MonitorFileSpec = toml::from_str(&text).map_err(|e| {
                    let line = e
                        .span()
                        .map(|s| text[..s.start].matches('\n').count() + 1)
                        .unwrap_or(1);
                    anyhow::anyhow!("{}:{line}: {}", p.display(), e.message().trim_end())
                })?;
                (spec, p.parent().map(Path::to_path_buf).unwrap_or_default())
            }
            None => (MonitorFileSpec::default(), PathBuf::new()),
        };
        let rel = |p: &PathBuf| -> PathBuf {
            if p.is_absolute() || root.as_os_str().is_empty() {
                p.clone()
            } else {
                root.join(p)
            }
        };
        let inputs: Vec<PathBuf> = if args.inputs.is_empty() {
            spec.inputs.iter().map(rel).collect()
        } else {
            args.inputs.clone()
        };
        if inputs.is_empty() {
            bail!("no inputs: give --input FILE_OR_DIR (or `inputs` in --config)");
        }
        let columns = match args.columns.as_ref().or(spec.columns.as_ref()) {
            Some(c) => ColumnNames::parse(c)?,
            None => ColumnNames::default(),
        };
        let keys = args.keys.clone().or_else(|| spec.keys.as_ref().map(rel));
        let inventory = match &keys {
            Some(k) => read_keys(k)?,
            None => Vec::new(),
        };
        let findings = args
            .findings
            .clone()
            .or_else(|| spec.findings.as_ref().map(rel));
        let exposed = match &findings {
            Some(f) => read_findings(f)?,
            None => Exposed::default(),
        };
        let state = match args.state.clone().or_else(|| spec.state.as_ref().map(rel)) {
            Some(s) => Some(s),
            None if args.once => None,
            None => Some(default_state_path()?),
        };
        let dur = |flag: &Option<String>, file: &Option<String>, default: i64| -> Result<i64> {
            match flag.as_ref().or(file.as_ref()) {
                Some(s) => parse_duration(s),
                None => Ok(default),
            }
        };
        let mut settings = Settings::default();
        settings.lateness = dur(&args.lateness, &spec.lateness, settings.lateness)?;
        settings.learning = dur(&args.learning, &spec.learning, settings.learning)?;
        settings.unused_after = dur(
            &args.unused_after,
            &spec.unused_after,
            settings.unused_after,
        )?;
        settings.rotate_after = dur(
            &args.rotate_after,
            &spec.rotate_after,
            settings.rotate_after,
        )?;
        let interval = dur(&args.interval, &spec.interval, 60)?.max(1);
        for c in args.allowed_ips.iter().chain(&spec.allowed_ips) {
            settings
                .allowed_ips
                .extend(parse_cidrs(c).with_context(|| format!("bad allowed address {c:?}"))?);
        }
        if let Some(k) = spec.volume.k {
            settings.volume.k = k;
        }
        if let Some(r) = spec.volume.ratio {
            settings.volume.ratio = r;
        }
        if let Some(m) = spec.volume.min_excess {
            settings.volume.min_excess = m;
        }
        if let Some(t) = spec.auth.threshold {
            settings.auth.threshold = t;
        }
        let format = match (args.format, spec.format.as_deref()) {
            (Some(MonitorFormatArg::Jsonl), _) | (None, Some("jsonl")) => AlertFormat::Jsonl,
            (Some(MonitorFormatArg::Human), _) | (None, Some("human")) | (None, None) => {
                AlertFormat::Human
            }
            (None, Some(f)) => bail!("unknown format {f:?} in config (human, jsonl)"),
        };
        let act = spec.act.clone().map(|mut a| {
            a.resolve(&root);
            a
        });
        let now = match &args.now {
            Some(n) => Some(parse(n.as_bytes()).with_context(|| format!("bad --now {n:?}"))?),
            None => None,
        };
        Ok(MonitorConfig {
            inputs,
            columns,
            inventory,
            exposed,
            state,
            once: args.once,
            interval: std::time::Duration::from_secs(interval as u64),
            format,
            output: args
                .output
                .clone()
                .or_else(|| spec.output.as_ref().map(rel)),
            settings,
            now,
            act,
        })
    }
}
