//! Following export files across polls. A file is known by its identity (device, inode) plus a
//! hash of its first bytes (so a reused inode is a new file), not by its path: a rotated file
//! keeps its offset under its new name, a new file at the old path starts at 0, and a file that
//! shrank (truncated in place) starts again at 0. Only complete lines are consumed; a
//! half-written last line waits for the next poll (except at the end of `--once`, where the
//! input is taken as complete). Compressed and CloudTrail files are read whole, once.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use memchr::{memchr, memchr_iter};

use super::{is_gzip, sniff, ColumnNames, EventSink, Format, IngestStats, LineParser};
use crate::findings::sha256_hex;

const HEAD: usize = 256;
const CHUNK: usize = 1 << 20;

/// What is known about one file between polls (persisted in the state database).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub dev: u64,
    pub ino: u64,
    pub path: String,
    /// Bytes consumed (for whole files: the size when read).
    pub offset: u64,
    /// Lines consumed, for `file:line` samples.
    pub line: u64,
    pub head_len: u64,
    pub head_hash: String,
    /// Read whole (compressed or CloudTrail) and done.
    pub whole: bool,
}

fn head_of(f: &mut File, len: usize) -> Result<(u64, String)> {
    let mut buf = vec![0u8; len];
    f.seek(SeekFrom::Start(0))?;
    let mut n = 0;
    while n < len {
        let r = f.read(&mut buf[n..])?;
        if r == 0 {
            break;
        }
        n += r;
    }
    Ok((n as u64, sha256_hex(&buf[..n])))
}

/// Lists the files under the inputs: directories are walked (hidden entries skipped), sorted
/// by path so processing order does not depend on the file system.
pub fn expand(inputs: &[PathBuf], errors: &mut Vec<String>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<String>) {
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => {
                errors.push(format!("cannot list {}: {e}", dir.display()));
                return;
            }
        };
        for ent in rd.flatten() {
            let p = ent.path();
            if ent.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            match ent.file_type() {
                Ok(t) if t.is_dir() => walk(&p, out, errors),
                Ok(_) if p.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    for i in inputs {
        if i.is_dir() {
            walk(i, &mut out, errors);
        } else if i.is_file() {
            out.push(i.clone());
        } else {
            errors.push(format!("no such file: {}", i.display()));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Finds the tracked record for `path`'s file, or a fresh one. Returns `(record, is_new)`.
pub fn identify(path: &Path, known: &[Tracked]) -> Result<Tracked> {
    let mut f = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let md = f.metadata()?;
    let (dev, ino, size) = (md.dev(), md.ino(), md.len());
    if let Some(t) = known.iter().find(|t| t.dev == dev && t.ino == ino) {
        let (n, h) = head_of(&mut f, t.head_len as usize)?;
        if n == t.head_len && h == t.head_hash {
            let mut t = t.clone();
            t.path = path.display().to_string();
            if size < t.offset && !t.whole {
                // Truncated in place: start again.
                t.offset = 0;
                t.line = 0;
            }
            return Ok(t);
        }
    }
    Ok(Tracked {
        dev,
        ino,
        path: path.display().to_string(),
        offset: 0,
        line: 0,
        head_len: 0,
        head_hash: sha256_hex(b""),
        whole: false,
    })
}

/// Reads what is new in `t`'s file and feeds it to `sink`. `complete` means the input is
/// finished (`--once`): an unterminated last line is parsed too.
pub fn read_new(
    t: &mut Tracked,
    names: &ColumnNames,
    sink: &mut dyn EventSink,
    stats: &mut IngestStats,
    complete: bool,
) -> Result<()> {
    let path = PathBuf::from(&t.path);
    let mut f = File::open(&path).with_context(|| format!("cannot read {}", t.path))?;
    let size = f.metadata()?.len();
    if t.whole {
        return Ok(()); // compressed / CloudTrail files are read once
    }
    if (t.head_len as usize) < HEAD && size > t.head_len {
        let (n, h) = head_of(&mut f, HEAD)?;
        t.head_len = n;
        t.head_hash = h;
    }
    let mut head = [0u8; 64];
    f.seek(SeekFrom::Start(0))?;
    let hn = f.read(&mut head)?;
    let gz = is_gzip(&path, &head[..hn]);
    let format = if gz { None } else { Some(sniff(&head[..hn])) };
    if gz || format == Some(Format::CloudTrail) {
        // Read whole. A compressed file still being written fails to decode: check it in a
        // first pass (cheap next to parsing) and try again next poll.
        if gz && !complete {
            let mut r = super::open(&path)?;
            if std::io::copy(&mut r, &mut std::io::sink()).is_err() {
                return Ok(());
            }
        }
        if !gz && !complete {
            let mut text = Vec::new();
            f.seek(SeekFrom::Start(0))?;
            f.read_to_end(&mut text)?;
            if serde_json::from_slice::<serde::de::IgnoredAny>(&text).is_err() {
                return Ok(());
            }
        }
        super::read_all(&t.path, super::open(&path)?, names, sink, stats)
            .with_context(|| format!("cannot read {}", t.path))?;
        t.whole = true;
        t.offset = size;
        return Ok(());
    }
    if size <= t.offset {
        return Ok(());
    }
    let format = format.unwrap_or(Format::Csv);
    // The header (first line) is needed to resume a CSV in the middle.
    let header = if format == Format::Csv {
        let mut h = Vec::new();
        f.seek(SeekFrom::Start(0))?;
        let mut buf = [0u8; 4096];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            if let Some(p) = memchr(b'\n', &buf[..n]) {
                h.extend_from_slice(&buf[..p]);
                break;
            }
            h.extend_from_slice(&buf[..n]);
            if h.len() > 1 << 20 {
                break;
            }
        }
        if memchr(b'\n', &h).is_none() && !complete && h.len() as u64 == size {
            return Ok(()); // header itself not complete yet
        }
        h
    } else {
        Vec::new()
    };
    let mut parser = match LineParser::new(format, &header, names) {
        Ok(p) => p,
        Err(e) => {
            stats.errors.push(format!("{}: {e:#}", t.path));
            // Skip the file's current content so the error is reported once.
            t.offset = size;
            return Ok(());
        }
    };
    f.seek(SeekFrom::Start(t.offset))?;
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 4096);
    let mut remaining = size - t.offset;
    loop {
        let start = buf.len();
        let want = (CHUNK as u64).min(remaining) as usize;
        buf.resize(start + want, 0);
        let n = read_full(&mut f, &mut buf[start..])?;
        buf.truncate(start + n);
        remaining -= n as u64;
        let eof = n == 0 || remaining == 0;
        let mut consumed = 0;
        for nl in memchr_iter(b'\n', &buf) {
            t.line += 1;
            parser.line(&t.path, t.line, &buf[consumed..nl], sink, stats);
            consumed = nl + 1;
        }
        if eof && complete && consumed < buf.len() {
            t.line += 1;
            parser.line(&t.path, t.line, &buf[consumed..], sink, stats);
            consumed = buf.len();
        }
        t.offset += consumed as u64;
        buf.drain(..consumed);
        if eof {
            break;
        }
    }
    Ok(())
}

fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let r = f.read(&mut buf[n..])?;
        if r == 0 {
            break;
        }
        n += r;
    }
    Ok(n)
}
