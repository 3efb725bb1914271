//! `keywarden hook install`: a git pre-commit hook that runs `keywarden scan --staged` with this
//! binary's absolute path. A hook someone else wrote is never lost: without `--force` the install
//! refuses; with it the old hook becomes `pre-commit.local` and the new one runs it first.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The line that marks a hook as ours, so that reinstalling updates it in place.
pub const MARKER: &str = "# keywarden pre-commit hook";

/// What `install` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    /// A new hook (no hook was there, or ours was updated).
    Fresh(PathBuf),
    /// The foreign hook was moved to `pre-commit.local` and is chained.
    Chained { hook: PathBuf, local: PathBuf },
}

/// Quotes `s` for a POSIX shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The hook script calling `exe`.
pub fn script(exe: &Path) -> String {
    format!(
        "#!/bin/sh\n\
         {MARKER} (written by `keywarden hook install`; reinstalling replaces it)\n\
         # A hook that was here before lives on as pre-commit.local and runs first.\n\
         local_hook=\"$(dirname \"$0\")/pre-commit.local\"\n\
         if [ -x \"$local_hook\" ]; then\n\
         \x20   \"$local_hook\" \"$@\" || exit $?\n\
         fi\n\
         exec {} scan --staged\n",
        sh_quote(&exe.to_string_lossy())
    )
}

/// The hooks directory of the repository holding `repo_path` (honours `core.hooksPath`).
pub fn hooks_dir(repo_path: &Path) -> Result<PathBuf> {
    let repo = crate::sources::git::open(repo_path)?;
    if let Ok(cfg) = repo.config() {
        if let Ok(p) = cfg.get_path("core.hooksPath") {
            let base = repo.workdir().unwrap_or(repo.path());
            return Ok(base.join(p));
        }
    }
    // A linked worktree's git dir names the shared one in its `commondir` file.
    let common = match std::fs::read_to_string(repo.path().join("commondir")) {
        Ok(rel) => repo.path().join(rel.trim()),
        Err(_) => repo.path().to_path_buf(),
    };
    Ok(common.join("hooks"))
}

/// Installs the pre-commit hook calling `exe` in the repository holding `repo_path`.
pub fn install(repo_path: &Path, exe: &Path, force: bool) -> Result<Installed> {
    let dir = hooks_dir(repo_path)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let hook = dir.join("pre-commit");
    let local = dir.join("pre-commit.local");
    let existing = match std::fs::read(&hook) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", hook.display())),
    };
    let ours = existing
        .as_ref()
        .is_some_and(|b| String::from_utf8_lossy(b).contains(MARKER));
    let mut chained = false;
    if let (Some(_), false) = (&existing, ours) {
        if !force {
            bail!(
                "{} exists and was not written by keywarden; rerun with --force to keep it as \
                 pre-commit.local and call it from the new hook",
                hook.display()
            );
        }
        if local.exists() {
            bail!(
                "{} already exists; move it away first so that no hook is lost",
                local.display()
            );
        }
        std::fs::rename(&hook, &local)
            .with_context(|| format!("cannot move {} aside", hook.display()))?;
        chained = true;
    }
    std::fs::write(&hook, script(exe))
        .with_context(|| format!("cannot write {}", hook.display()))?;
    make_executable(&hook)?;
    Ok(if chained {
        Installed::Chained { hook, local }
    } else {
        Installed::Fresh(hook)
    })
}

#[cfg(unix)]
fn make_executable(p: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", p.display()))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_quotes_the_binary_path() {
        let s = script(Path::new("/opt/it's here/keywarden"));
        assert!(s.contains(r"exec '/opt/it'\''s here/keywarden' scan --staged"));
        assert!(s.contains(MARKER));
    }
}
