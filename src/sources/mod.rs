//! Where scanned bytes come from. Content (`Blob`) is kept apart from where it was found
//! (`Provenance`), so that the same bytes seen twice can be scanned once.

pub mod clientside;
pub mod exclusions;
pub mod fs;
pub mod git;
pub mod staged;

use serde::Serialize;

/// Bytes to scan, with a content id when the source has one (a git blob id).
pub struct Blob {
    pub id: Option<String>,
    pub bytes: Vec<u8>,
}

/// The commit that introduced a blob, for history scans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitInfo {
    pub commit: String,
    pub author: String,
    pub email: String,
    /// RFC 3339, UTC.
    pub date: String,
    pub message: String,
}

/// Where a blob was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// A display path: relative to the scan root as the user gave it, `-` for stdin.
    pub path: String,
    /// For a source map, the name of the embedded source the finding is in.
    pub inner_path: Option<String>,
    pub commit: Option<CommitInfo>,
}

impl Provenance {
    pub fn file(path: impl Into<String>) -> Provenance {
        Provenance {
            path: path.into(),
            inner_path: None,
            commit: None,
        }
    }
}

/// Content with a NUL byte in its first 8 KiB is binary, as git and ripgrep decide it.
pub fn is_binary(bytes: &[u8]) -> bool {
    memchr::memchr(0, &bytes[..bytes.len().min(8192)]).is_some()
}
