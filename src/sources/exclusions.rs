//! Default path exclusions: files that hold no one's secrets but plenty of random-looking text
//! (lockfiles full of integrity hashes), trees of third-party code (vendored dependencies), and
//! binary assets skipped by extension without reading them. Source maps are NOT excluded: they
//! carry the original client-side code.
//!
//! Only paths below a scan root are excluded (a root the user names explicitly is scanned), and
//! `[scan] default_exclusions = false` in `.keywarden.toml` (or `--no-default-exclusions`) turns
//! all of this off.

/// Lockfiles: exact file names.
pub const LOCKFILES: &[&str] = &[
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lock",
    "bun.lockb",
    "Cargo.lock",
    "poetry.lock",
    "Pipfile.lock",
    "pdm.lock",
    "uv.lock",
    "go.sum",
    "go.work.sum",
    "composer.lock",
    "Gemfile.lock",
    "mix.lock",
    "pubspec.lock",
    "packages.lock.json",
    "project.assets.json",
    "gradle.lockfile",
    "flake.lock",
    "Podfile.lock",
    "Package.resolved",
    "Cartfile.resolved",
    "deno.lock",
    "conan.lock",
    ".terraform.lock.hcl",
];

/// Directories of vendored or installed third-party code, pruned from the walk.
pub const VENDORED_DIRS: &[&str] = &[
    "node_modules",
    "bower_components",
    "jspm_packages",
    "vendor",
    "third_party",
    "third-party",
    "thirdparty",
    "site-packages",
    "__pycache__",
    "Pods",
    "Carthage",
    ".yarn",
    ".pnpm-store",
    ".terraform",
];

/// Extensions of binary assets, skipped (and counted as binary) without being read.
pub const BINARY_EXTENSIONS: &[&str] = &[
    "png",
    "jpg",
    "jpeg",
    "gif",
    "bmp",
    "ico",
    "icns",
    "webp",
    "tif",
    "tiff",
    "psd",
    "woff",
    "woff2",
    "ttf",
    "otf",
    "eot",
    "mp3",
    "mp4",
    "m4a",
    "wav",
    "ogg",
    "flac",
    "avi",
    "mov",
    "mkv",
    "webm",
    "pdf",
    "zip",
    "gz",
    "tgz",
    "bz2",
    "xz",
    "7z",
    "rar",
    "jar",
    "war",
    "class",
    "so",
    "dylib",
    "dll",
    "exe",
    "o",
    "a",
    "lib",
    "pyc",
    "pyo",
    "wasm",
    "bin",
    "dat",
    "db",
    "sqlite",
    "parquet",
    "onnx",
    "pt",
    "ckpt",
    "safetensors",
];

/// Why a path is excluded by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion {
    Lockfile,
    BinaryAsset,
}

/// Whether a file named `name` (below a scan root) is excluded by default.
pub fn file(name: &str) -> Option<Exclusion> {
    if LOCKFILES.contains(&name) {
        return Some(Exclusion::Lockfile);
    }
    let ext = name.rsplit_once('.').map(|(_, e)| e)?;
    BINARY_EXTENSIONS
        .iter()
        .any(|b| b.eq_ignore_ascii_case(ext))
        .then_some(Exclusion::BinaryAsset)
}

/// Whether a directory named `name` (below a scan root) is pruned by default.
pub fn dir(name: &str) -> bool {
    VENDORED_DIRS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockfiles_assets_and_vendored_dirs() {
        assert_eq!(file("package-lock.json"), Some(Exclusion::Lockfile));
        assert_eq!(file("go.sum"), Some(Exclusion::Lockfile));
        assert_eq!(file("logo.PNG"), Some(Exclusion::BinaryAsset));
        assert_eq!(file("bundle.js.map"), None, "source maps are scanned");
        assert_eq!(file("app.min.js"), None);
        assert_eq!(file("Makefile"), None);
        assert!(dir("node_modules") && dir("vendor"));
        assert!(!dir("dist") && !dir("src"));
    }
}
