//! Monitor throughput: CSV usage-log lines per second through parse and every detector, on a
//! generated export (many keys, day/night traffic, some failures and addresses). Run with
//! `cargo bench --bench monitor`; for peak memory on a multi-million-row file, generate one with
//! `KEYWARDEN_BENCH_WRITE=/tmp/big.csv cargo bench --bench monitor` and run
//! `/usr/bin/time -v keywarden monitor --once -i /tmp/big.csv`.

use std::io::Write;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keywarden::monitor::detect::{Engine, Settings};
use keywarden::monitor::ingest::inventory::Exposed;
use keywarden::monitor::ingest::{ColumnNames, IngestStats, LineParser};

fn corpus(rows: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows * 80);
    out.extend_from_slice(b"timestamp,api_key_id,status,source_ip,endpoint\n");
    let start = 1_767_571_200i64; // 2026-01-05T00:00:00Z
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..rows {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let t = start + (i as i64) * 14 * 86400 / rows as i64;
        let key = x % 200;
        let status = if x % 97 == 0 { 401 } else { 200 };
        let ip = (x >> 20) % 8;
        let days = t.div_euclid(86400);
        let secs = t.rem_euclid(86400);
        let (y, m, d) = keywarden::monitor::ingest::time::civil_from_days(days);
        writeln!(
            out,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z,key-{key:04},{status},10.{}.0.{ip},/v1/things",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            key % 250
        )
        .unwrap();
    }
    out
}

/// CPU time of the calling thread in nanoseconds (Linux).
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Parses every line of `data` and runs every detector; returns the alert count.
fn run_once(data: &[u8], rows: usize) -> usize {
    let mut engine = Engine::new(Settings::default(), Vec::new(), Exposed::default());
    let mut stats = IngestStats::default();
    let names = ColumnNames::default();
    let nl = memchr::memchr(b'\n', data).unwrap();
    let mut p =
        LineParser::new(keywarden::monitor::ingest::Format::Csv, &data[..nl], &names).unwrap();
    let mut lineno = 0;
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', data) {
        lineno += 1;
        p.line(
            "bench.csv",
            lineno,
            &data[start..end],
            &mut engine,
            &mut stats,
        );
        start = end + 1;
    }
    engine.flush();
    assert_eq!(stats.events, rows as u64);
    engine.alerts.len()
}

fn bench(c: &mut Criterion) {
    let rows = 1_000_000;
    let data = corpus(rows);
    if let Some(p) = std::env::var_os("KEYWARDEN_BENCH_WRITE") {
        let mut f = std::fs::File::create(p).unwrap();
        for _ in 0..5 {
            f.write_all(&data).unwrap();
        }
    }
    let mut g = c.benchmark_group("monitor");
    g.throughput(Throughput::Elements(rows as u64));
    g.sample_size(10);
    // Criterion measures wall time, which a loaded machine inflates; also report CPU time of
    // this thread (Linux schedstat) for events per second per core.
    if let (Some(c0), w0) = (thread_cpu_ns(), std::time::Instant::now()) {
        let runs = 3;
        for _ in 0..runs {
            std::hint::black_box(run_once(&data, rows));
        }
        if let Some(c1) = thread_cpu_ns() {
            let cpu = (c1 - c0) as f64 / 1e9;
            eprintln!(
                "monitor: {} events in {:.2}s CPU ({:.2}s wall): {:.0} events/s per core",
                runs * rows,
                cpu,
                w0.elapsed().as_secs_f64(),
                (runs * rows) as f64 / cpu
            );
        }
    }
    g.bench_function("csv_parse_and_detect", |b| b.iter(|| run_once(&data, rows)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
