//! Command-line flags as clap types: raw values only, no I/O. `config` turns them into a
//! validated configuration.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "keywarden",
    version,
    about = "Find leaked API keys, catch their abuse, revoke them"
)]
pub struct Cli {
    /// More diagnostics on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan files, stdin (`-`), git history or staged changes for credentials.
    Scan(ScanArgs),
    /// List or check the rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Check found secrets against their providers (sends each secret to its provider).
    Validate(ValidateArgs),
    /// Revoke or regenerate exposed keys (dry run unless --yes).
    Revoke(RevokeArgs),
    /// Watch API usage-log exports for abuse (once, or as a polling daemon).
    Monitor(MonitorArgs),
    /// Install the git pre-commit hook.
    #[command(subcommand)]
    Hook(HookCommand),
    /// Record today's findings so that later scans report only new ones.
    #[command(subcommand)]
    Baseline(BaselineCommand),
}

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Write .git/hooks/pre-commit running `keywarden scan --staged`.
    Install {
        /// Replace a hook keywarden did not write (it is kept as pre-commit.local and run first).
        #[arg(long)]
        force: bool,
        /// A path inside the repository (default: the current directory).
        #[arg(value_name = "REPO")]
        repo: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Scan and write the findings' fingerprints to FILE.
    Create {
        /// Where to write the baseline.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Scan the git history instead of the working tree.
        #[arg(long)]
        git: bool,
        /// What to scan (default: the current directory).
        #[arg(long, value_name = "PATH")]
        path: Option<PathBuf>,
        #[command(flatten)]
        rules: RuleArgs,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Human,
    Json,
    Jsonl,
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

/// Flags shared by everything that loads rules.
#[derive(Debug, Clone, Args)]
pub struct RuleArgs {
    /// Extra rule directory or file (repeatable); a rule with a shipped id overrides it.
    #[arg(long = "rules", value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Config file (default: .keywarden.toml at the scanned repository's root).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Ignore any .keywarden.toml.
    #[arg(long, conflicts_with = "config")]
    pub no_config: bool,
    /// Load only the rules from --rules and the config, not the shipped pack.
    #[arg(long)]
    pub no_builtin_rules: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    /// Files or directories to scan; `-` reads stdin. Default: the current directory.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value = "human")]
    pub format: FormatArg,
    /// Write the report here instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print secrets in clear (they are redacted by default).
    #[arg(long)]
    pub show_secrets: bool,
    /// Scan files that .gitignore/.ignore exclude.
    #[arg(long)]
    pub no_ignore: bool,
    /// Also scan lockfiles, vendored directories (node_modules, vendor, ...) and binary assets.
    #[arg(long)]
    pub no_default_exclusions: bool,
    /// Skip files larger than this (bytes, or with K/M/G suffix).
    #[arg(long, value_name = "SIZE")]
    pub max_file_size: Option<String>,
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,
    /// Hide findings whose fingerprints this baseline file records.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// When to colour human output.
    #[arg(long, value_enum, default_value = "auto")]
    pub color: ColorArg,
    /// Check each found secret with its provider (sends the secret to the provider).
    #[arg(long)]
    pub validate: bool,
    /// Validation requests in flight at once.
    #[arg(long, value_name = "N", default_value = "4")]
    pub concurrency: usize,
    #[command(flatten)]
    pub provider: ProviderArgs,
    #[command(flatten)]
    pub git: GitArgs,
}

/// How to talk to providers.
#[derive(Debug, Clone, Args)]
pub struct ProviderArgs {
    /// Allow requests to private, loopback and link-local addresses.
    #[arg(long)]
    pub allow_internal: bool,
    /// Timeout for each request, in seconds.
    #[arg(long, value_name = "SECS", default_value = "10")]
    pub timeout: f64,
    /// Attempts per request (timeouts, 429 and 5xx are retried).
    #[arg(long, value_name = "N", default_value = "4")]
    pub attempts: u32,
    /// First retry delay in milliseconds (doubles each retry, plus jitter).
    #[arg(long, value_name = "MS", default_value = "500")]
    pub retry_delay_ms: u64,
    /// Extra provider definitions (directory of .toml files, or one file; repeatable).
    #[arg(long = "providers", value_name = "DIR")]
    pub providers: Vec<PathBuf>,
}

/// Where to send notifications.
#[derive(Debug, Clone, Args)]
pub struct NotifyArgs {
    /// Show a desktop notification for each action.
    #[arg(long)]
    pub notify_desktop: bool,
    /// POST each notification as JSON (Slack-compatible `text`) to this URL.
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// Append each notification as a JSON line to this file (`-`: stdout).
    #[arg(long, value_name = "FILE")]
    pub notify_jsonl: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// A `scan --format json --show-secrets` report (`-`: stdin).
    #[arg(long, value_name = "FILE", default_value = "-")]
    pub findings: PathBuf,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Validation requests in flight at once.
    #[arg(long, value_name = "N", default_value = "4")]
    pub concurrency: usize,
    #[command(flatten)]
    pub provider: ProviderArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RevokeArgs {
    /// A `scan --format json --show-secrets` report to act on.
    #[arg(long, value_name = "FILE")]
    pub findings: Option<PathBuf>,
    /// Only findings with this fingerprint (repeatable).
    #[arg(long, value_name = "FP")]
    pub fingerprint: Vec<String>,
    /// Only findings of this rule (repeatable).
    #[arg(long = "rule", value_name = "RULE")]
    pub rule: Vec<String>,
    /// One key: the provider that holds it.
    #[arg(long = "provider", value_name = "P", conflicts_with = "findings")]
    pub provider_id: Option<String>,
    /// One key: its id at the provider.
    #[arg(long, value_name = "ID", requires = "provider_id")]
    pub key_id: Option<String>,
    /// One key: the environment variable holding its secret (for providers that need it).
    #[arg(long, value_name = "VAR", requires = "provider_id")]
    pub secret_env: Option<String>,
    /// Regenerate the secret (keeping the key id) instead of revoking.
    #[arg(long)]
    pub regenerate: bool,
    /// Also retry the actions the state database holds as pending.
    #[arg(long)]
    pub retry_pending: bool,
    /// Why (recorded in the action log).
    #[arg(long, value_name = "TEXT", default_value = "exposed secret")]
    pub reason: String,
    /// State database (the monitor's; default: $XDG_DATA_HOME/keywarden/state.db).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Perform the requests (without it: print them, secrets redacted).
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub rules: RuleArgs,
    #[command(flatten)]
    pub provider: ProviderArgs,
    #[command(flatten)]
    pub notify: NotifyArgs,
}

/// History and staged scans.
#[derive(Debug, Clone, Args)]
pub struct GitArgs {
    /// Scan git history: every blob reachable from all refs (PATH is the repository).
    #[arg(long)]
    pub git: bool,
    /// History scan of this ref only (implies --git).
    #[arg(long, value_name = "REF")]
    pub branch: Option<String>,
    /// History scan of the commits after REV, e.g. a pull request's base (implies --git).
    #[arg(long, value_name = "REV", conflicts_with = "range")]
    pub since: Option<String>,
    /// History scan of the commits in A..B (implies --git).
    #[arg(long, value_name = "A..B", conflicts_with = "branch")]
    pub range: Option<String>,
    /// Scan the staged changes (index against HEAD), for pre-commit hooks.
    #[arg(long, conflicts_with_all = ["git", "branch", "since", "range"])]
    pub staged: bool,
}

impl GitArgs {
    /// Whether any flag asks for a history scan.
    pub fn history(&self) -> bool {
        self.git || self.branch.is_some() || self.since.is_some() || self.range.is_some()
    }
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the loaded rules.
    List {
        #[command(flatten)]
        rules: RuleArgs,
        #[arg(long, short = 'f', value_enum, default_value = "human")]
        format: FormatArg,
    },
    /// Prove every rule against its own examples and negative examples.
    Check {
        #[command(flatten)]
        rules: RuleArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct MonitorArgs {
    /// Usage-log export files or directories (CSV, JSON lines, CloudTrail JSON; .gz too).
    #[arg(long = "input", short = 'i', value_name = "FILE_OR_DIR")]
    pub inputs: Vec<PathBuf>,
    /// Column names: `timestamp=...,key_id=...,status=...,source_ip=...,secret=...`.
    #[arg(long, value_name = "ROLE=NAME,...")]
    pub columns: Option<String>,
    /// Key inventory CSV (api_key_id, name, created_at, last_rotated_at, allowed_ips).
    #[arg(long, value_name = "FILE")]
    pub keys: Option<PathBuf>,
    /// keywarden scan JSON output: keys reported as leaked.
    #[arg(long, value_name = "FILE")]
    pub findings: Option<PathBuf>,
    /// Daemon config file (TOML); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// State database (default: $XDG_DATA_HOME/keywarden/state.db; `--once` without it keeps
    /// state in memory).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Process what is there and exit (0 no alerts, 1 alerts, 2 error).
    #[arg(long)]
    pub once: bool,
    /// Daemon poll interval (e.g. 60s, 5m).
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// Alert output format.
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<MonitorFormatArg>,
    /// Append alerts to this file (deduplicated by alert id) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Alert on inventory keys unused for this long (default 14d).
    #[arg(long, value_name = "DURATION")]
    pub unused_after: Option<String>,
    /// Alert on keys not rotated for this long (default 90d).
    #[arg(long, value_name = "DURATION")]
    pub rotate_after: Option<String>,
    /// Per-key learning period before volume and address alerts (default 7d).
    #[arg(long, value_name = "DURATION")]
    pub learning: Option<String>,
    /// How late a record may arrive before its bucket is closed (default 15m).
    #[arg(long, value_name = "DURATION")]
    pub lateness: Option<String>,
    /// Addresses every key may use (CIDR, repeatable), on top of the inventory's allowed_ips.
    #[arg(long = "allow-ip", value_name = "CIDR")]
    pub allowed_ips: Vec<String>,
    /// Event time treated as "now" for inventory checks (default: the latest event seen).
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MonitorFormatArg {
    Human,
    Jsonl,
}
