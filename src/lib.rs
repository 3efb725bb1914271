//! keywarden: finds leaked credentials (scan), watches API usage logs for abuse (monitor) and
//! acts on exposed keys (revoke, notify).
//!
//! Data flows one way: rules → matcher → sources → findings → report for the scanner, and
//! ingest → detect → act → state for the monitor. Only `config` and the binary wire the two.

pub mod act;
pub mod alert;
pub mod baseline;
pub mod checksum;
pub mod cli;
pub mod config;
pub mod decode;
pub mod dedupe;
pub mod entropy;
pub mod findings;
pub mod group;
pub mod hook;
pub mod keywords;
pub mod matcher;
pub mod monitor;
pub mod randomness;
pub mod report;
pub mod rules;
pub mod run;
pub mod scan;
pub mod sources;
pub mod state;
pub mod stoplist;
pub mod terminal;
