//! From flags and `.keywarden.toml` to a validated configuration, and the factories that build
//! the rule set, matcher, walker options and report options from it. Only this module and the
//! binary see clap types.

use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::cli::{ColorArg, FormatArg, RuleArgs, ScanArgs};
use crate::findings::Suppressions;
use crate::matcher::{Matcher, SecretFilter};
use crate::report::{Format, ReportOptions};
use crate::rules::RuleSet;
use crate::sources::fs::{PathFilter, WalkOptions};

pub const CONFIG_FILE: &str = ".keywarden.toml";
pub const IGNORE_FILE: &str = ".keywardenignore";
pub const DEFAULT_MAX_FILE_SIZE: u64 = 64 << 20;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanSectionSpec {
    pub max_file_size: Option<String>,
    /// Skip lockfiles, vendored directories and binary assets (default true).
    pub default_exclusions: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowlistSpec {
    /// Globs relative to the config file's directory.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Regexes tested against each secret.
    #[serde(default)]
    pub regexes: Vec<String>,
    /// Case-insensitive substrings that mark a secret as a non-secret.
    #[serde(default)]
    pub stopwords: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesSectionSpec {
    /// Rule ids to turn off.
    #[serde(default)]
    pub disable: Vec<String>,
    /// Extra rule directories, relative to the config file's directory.
    #[serde(default)]
    pub paths: Vec<PathBuf>,
}

/// `.keywarden.toml` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfigSpec {
    #[serde(default)]
    pub scan: ScanSectionSpec,
    #[serde(default)]
    pub allowlist: AllowlistSpec,
    #[serde(default)]
    pub rules: RulesSectionSpec,
}

/// A config file and the directory its relative paths are resolved against.
#[derive(Debug, Default)]
pub struct FileConfig {
    pub root: PathBuf,
    pub path: Option<PathBuf>,
    pub spec: FileConfigSpec,
}

impl FileConfig {
    pub fn read(path: &Path) -> Result<FileConfig> {
        let text = fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let spec: FileConfigSpec = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start].matches('\n').count() + 1)
                .unwrap_or(1);
            anyhow::anyhow!("{}:{line}: {}", path.display(), e.message().trim_end())
        })?;
        let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let root = if root.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            root
        };
        Ok(FileConfig {
            root,
            path: Some(path.to_path_buf()),
            spec,
        })
    }

    /// The explicit `--config`, or `.keywarden.toml` at the root of the repository holding
    /// `scan_root`, or nothing.
    pub fn discover(args: &RuleArgs, scan_root: &Path) -> Result<FileConfig> {
        if let Some(p) = &args.config {
            return FileConfig::read(p);
        }
        let root = project_root(scan_root);
        if args.no_config {
            return Ok(FileConfig {
                root,
                ..FileConfig::default()
            });
        }
        let candidate = root.join(CONFIG_FILE);
        if candidate.is_file() {
            FileConfig::read(&candidate)
        } else {
            Ok(FileConfig {
                root,
                ..FileConfig::default()
            })
        }
    }

    pub fn rule_set(&self, args: &RuleArgs) -> Result<RuleSet> {
        let mut dirs: Vec<PathBuf> = self
            .spec
            .rules
            .paths
            .iter()
            .map(|p| self.root.join(p))
            .collect();
        dirs.extend(args.rules.iter().cloned());
        Ok(RuleSet::load(
            !args.no_builtin_rules,
            &dirs,
            &self.spec.rules.disable,
        )?)
    }

    pub fn secret_filter(&self) -> Result<SecretFilter> {
        let a = &self.spec.allowlist;
        SecretFilter::new(&a.stopwords, &a.regexes).context("bad regex in [allowlist] regexes")
    }

    pub fn path_filter(&self) -> Result<Option<PathFilter>> {
        if self.spec.allowlist.paths.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            PathFilter::new(&self.root, &self.spec.allowlist.paths)
                .context("bad glob in [allowlist] paths")?,
        ))
    }
}

/// The top of the git work tree containing `path`, or `path`'s directory when there is none.
pub fn project_root(path: &Path) -> PathBuf {
    let start = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let start = if start.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        start
    };
    let abs = std::path::absolute(&start).unwrap_or_else(|_| start.clone());
    let mut dir = abs.as_path();
    loop {
        if dir.join(".git").exists() {
            return dir.to_path_buf();
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => return abs,
        }
    }
}

/// Parses `123`, `64K`, `64M`, `1G` (binary multiples; an optional trailing `B`/`iB`).
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 1 << 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .with_context(|| format!("not a size: {s:?} (use e.g. 1048576, 512K, 64M)"))?;
    n.checked_mul(mult)
        .with_context(|| format!("size too large: {s:?}"))
}

pub fn format(f: FormatArg) -> Format {
    match f {
        FormatArg::Human => Format::Human,
        FormatArg::Json => Format::Json,
        FormatArg::Jsonl => Format::Jsonl,
        FormatArg::Sarif => Format::Sarif,
    }
}

/// Everything `keywarden scan` needs, validated.
pub struct ScanConfig {
    pub file: FileConfig,
    pub rules: Arc<RuleSet>,
    pub matcher: Arc<Matcher>,
    pub walk: WalkOptions,
    pub stdin: bool,
    pub report: ReportOptions,
    pub output: Option<PathBuf>,
    pub suppressions: Suppressions,
}

impl ScanConfig {
    pub fn from_cli(args: &ScanArgs) -> Result<ScanConfig> {
        let mut paths = args.paths.clone();
        if paths.is_empty() {
            paths.push(PathBuf::from("."));
        }
        let stdin = paths.iter().any(|p| p.as_os_str() == "-");
        if stdin && paths.len() > 1 {
            bail!("`-` (stdin) cannot be combined with other paths");
        }
        for p in &paths {
            if !stdin && !p.exists() {
                bail!("no such file or directory: {}", p.display());
            }
        }
        let scan_root = if stdin {
            PathBuf::from(".")
        } else {
            paths[0].clone()
        };
        let file = FileConfig::discover(&args.rules, &scan_root)?;
        let rules = Arc::new(file.rule_set(&args.rules)?);
        let matcher = Arc::new(Matcher::new(rules.clone(), file.secret_filter()?));
        let max_file_size = match (&args.max_file_size, &file.spec.scan.max_file_size) {
            (Some(s), _) | (None, Some(s)) => parse_size(s)?,
            (None, None) => DEFAULT_MAX_FILE_SIZE,
        };
        let threads = args.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });
        let walk = WalkOptions {
            roots: paths,
            honour_ignore: !args.no_ignore,
            threads,
            max_file_size,
            exclude: file.path_filter()?,
            default_exclusions: !args.no_default_exclusions
                && file.spec.scan.default_exclusions.unwrap_or(true),
        };
        let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
        let color = match args.color {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => to_terminal && std::env::var_os("NO_COLOR").is_none(),
        };
        let report = ReportOptions {
            format: format(args.format),
            show_secrets: args.show_secrets,
            color,
            hint: Some(
                "To allow a false positive, add a `keywarden:allow` comment on its line, or put its fingerprint in .keywardenignore."
                    .to_string(),
            ),
        };
        let mut suppressions = Suppressions::default();
        let ignore_file = file.root.join(IGNORE_FILE);
        if ignore_file.is_file() {
            suppressions.read_ignore_file(&ignore_file)?;
        }
        if let Some(b) = &args.baseline {
            crate::baseline::read(b, &mut suppressions)?;
        }
        Ok(ScanConfig {
            file,
            rules,
            matcher,
            walk,
            stdin,
            report,
            output: args.output.clone(),
            suppressions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("64M").unwrap(), 64 << 20);
        assert_eq!(parse_size("2KiB").unwrap(), 2048);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert!(parse_size("lots").is_err());
    }
}
