//! `keywarden monitor`: usage-log exports in, alerts out. `ingest` turns exports into events,
//! `detect` keeps per-key state in event time and raises alerts, `daemon` polls the inputs and
//! commits offsets, detector state and an alert outbox to the state database in one transaction
//! per poll, and `output` delivers the outbox to sinks (`AlertSink`, the hook for the act
//! layer).

pub mod config;
pub mod daemon;
pub mod detect;
pub mod ingest;
pub mod output;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Result;

use crate::cli::MonitorArgs;
use crate::run::Outcome;
use config::MonitorConfig;
use daemon::Daemon;
use output::{AlertSink, FileSink, StdoutSink};

pub use crate::alert::Alert;

/// Builds the daemon with the output sink `--output` / `--format` ask for.
pub fn daemon_from_cli(args: &MonitorArgs) -> Result<Daemon> {
    let cfg = MonitorConfig::from_cli(args)?;
    let sink: Box<dyn AlertSink> = match &cfg.output {
        Some(p) => Box::new(FileSink::open(p, cfg.format)?),
        None => Box::new(StdoutSink { format: cfg.format }),
    };
    let actor = match &cfg.act {
        Some(spec) => {
            let state = cfg.state.clone().unwrap_or_else(|| ":memory:".into());
            let http = spec.http_options()?;
            Some(crate::act::policy::Actor::new(
                spec,
                &state,
                http,
                &spec.providers,
            )?)
        }
        None => None,
    };
    let mut d = Daemon::open(cfg)?;
    d.add_sink(sink);
    if let Some(a) = actor {
        d.add_sink(Box::new(a));
    }
    Ok(d)
}

pub fn run(args: &MonitorArgs) -> Result<Outcome> {
    let mut d = daemon_from_cli(args)?;
    if args.once {
        let r = d.poll()?;
        daemon::log_report(&r);
        return Ok(if r.new_alerts > 0 || r.delivered > 0 {
            Outcome::Found
        } else if !r.stats.errors.is_empty() {
            Outcome::Failed
        } else {
            Outcome::Clean
        });
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    d.run(stop)?;
    Ok(Outcome::Clean)
}
