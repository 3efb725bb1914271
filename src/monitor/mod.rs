//! `keywarden monitor`: usage-log exports in, alerts out. `ingest` turns exports into events,
//! `detect` keeps per-key state in event time and raises alerts, `daemon` polls the inputs and
//! commits offsets, detector state and an alert outbox to the state database in one transaction
//! per poll, and `output` delivers the outbox to sinks.

pub mod detect;
pub mod ingest;

use anyhow::Result;

use crate::cli::MonitorArgs;
use crate::run::Outcome;

pub fn run(_args: &MonitorArgs) -> Result<Outcome> {
    anyhow::bail!("not yet")
}
