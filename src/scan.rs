//! Scan orchestration: sources feed blobs to workers, each with its own matcher scratch, and
//! findings go to one collector. Output order never depends on thread count: the collector's
//! findings are sorted before anyone sees them.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::findings::{self, Finding, ScanError, Summary};
use crate::matcher::{Matcher, RawMatch, Scratch};
use crate::sources::fs::{self, FileEvent, WalkOptions};
use crate::sources::{clientside, is_binary, Provenance};
use crate::{decode, dedupe};

/// The result of a scan, before suppression and reporting.
#[derive(Debug, Default)]
pub struct ScanOutput {
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

/// A worker's reusable state: matcher scratch and a match buffer.
#[derive(Default)]
pub struct Worker {
    scratch: Scratch,
    matches: Vec<RawMatch>,
}

impl Worker {
    /// Scans one blob, appending findings. A source map is scanned through its embedded
    /// sources (the original code), each reported under its own name.
    pub fn scan_blob(
        &mut self,
        matcher: &Matcher,
        prov: &Provenance,
        bytes: &[u8],
        out: &mut Vec<Finding>,
    ) {
        if prov.path.ends_with(".map") {
            if let Some(sources) = clientside::source_map_contents(bytes) {
                for src in sources {
                    let inner = Provenance {
                        inner_path: Some(src.name),
                        ..prov.clone()
                    };
                    self.scan_plain(matcher, &inner, src.content.as_bytes(), out);
                }
                return;
            }
        }
        self.scan_plain(matcher, prov, bytes, out);
    }

    fn scan_plain(
        &mut self,
        matcher: &Matcher,
        prov: &Provenance,
        bytes: &[u8],
        out: &mut Vec<Finding>,
    ) {
        let first = out.len();
        self.matches.clear();
        matcher.scan(bytes, &mut self.scratch, &mut self.matches);
        findings::from_matches(matcher.rules(), bytes, prov, &self.matches, out);
        // Secrets wrapped in base64, percent-encoding or string escapes: scan the decoded
        // text, report at the encoded span.
        for layer in decode::layers(bytes, &decode::Limits::default()) {
            self.matches.clear();
            matcher.scan(&layer.text, &mut self.scratch, &mut self.matches);
            findings::from_decoded(matcher.rules(), bytes, prov, &layer, &self.matches, out);
        }
        dedupe::resolve(matcher.rules(), out, first);
    }
}

#[derive(Default)]
struct Tally {
    files: AtomicU64,
    bytes: AtomicU64,
    binary: AtomicU64,
    large: AtomicU64,
    excluded: AtomicU64,
}

/// Scans the working trees named in `opts`.
pub fn scan_tree(matcher: &Arc<Matcher>, opts: &WalkOptions) -> ScanOutput {
    let found: Mutex<Vec<Finding>> = Mutex::new(Vec::new());
    let errors: Mutex<Vec<ScanError>> = Mutex::new(Vec::new());
    let tally = Tally::default();
    fs::walk(opts, || {
        let mut worker = Worker::default();
        let mut local: Vec<Finding> = Vec::new();
        let (found, errors, tally) = (&found, &errors, &tally);
        move |event: FileEvent<'_>| match event {
            FileEvent::Content { path, bytes } => {
                tally.files.fetch_add(1, Ordering::Relaxed);
                tally.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                worker.scan_blob(matcher, &Provenance::file(path), bytes, &mut local);
                if !local.is_empty() {
                    found.lock().expect("collector").append(&mut local);
                }
            }
            FileEvent::Binary { path } => {
                tracing::debug!("skipping binary file {path}");
                tally.binary.fetch_add(1, Ordering::Relaxed);
            }
            FileEvent::TooLarge { path, size } => {
                tracing::info!("skipping {path}: {size} bytes is over the size limit");
                tally.large.fetch_add(1, Ordering::Relaxed);
            }
            FileEvent::Excluded { .. } => {
                tally.excluded.fetch_add(1, Ordering::Relaxed);
            }
            FileEvent::Error { path, message } => {
                tracing::warn!("cannot scan {path}: {message}");
                errors
                    .lock()
                    .expect("errors")
                    .push(ScanError { path, message });
            }
        }
    });
    let mut errors = errors.into_inner().expect("errors");
    errors.sort_by(|a, b| a.path.cmp(&b.path));
    let mut findings = found.into_inner().expect("collector");
    findings::sort(&mut findings);
    let summary = Summary {
        findings: findings.len(),
        files_scanned: tally.files.into_inner(),
        bytes_scanned: tally.bytes.into_inner(),
        skipped_binary: tally.binary.into_inner(),
        skipped_too_large: tally.large.into_inner(),
        skipped_excluded: tally.excluded.into_inner(),
        rules: matcher.rules().len(),
        errors,
        ..Summary::default()
    };
    ScanOutput { findings, summary }
}

/// Scans standard input as one file named `-`.
pub fn scan_reader(
    matcher: &Matcher,
    name: &str,
    mut input: impl Read,
    max_size: u64,
) -> ScanOutput {
    let mut bytes = Vec::new();
    let mut summary = Summary {
        rules: matcher.rules().len(),
        ..Summary::default()
    };
    if let Err(e) = input.by_ref().take(max_size + 1).read_to_end(&mut bytes) {
        summary.errors.push(ScanError {
            path: name.to_string(),
            message: e.to_string(),
        });
        return ScanOutput {
            findings: Vec::new(),
            summary,
        };
    }
    let mut findings = Vec::new();
    if bytes.len() as u64 > max_size {
        summary.skipped_too_large = 1;
    } else if is_binary(&bytes) {
        summary.skipped_binary = 1;
    } else {
        summary.files_scanned = 1;
        summary.bytes_scanned = bytes.len() as u64;
        Worker::default().scan_blob(matcher, &Provenance::file(name), &bytes, &mut findings);
    }
    summary.findings = findings.len();
    ScanOutput { findings, summary }
}
