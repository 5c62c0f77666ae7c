//! Finding the Chromium binary: `--chrome`, then `$CHROME`, then the usual names on PATH;
//! distro launcher scripts are resolved to the real executable.

use super::{BrowserError, BrowserKind};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const SHELL_NAMES: &[&str] = &["chromium-headless-shell", "headless_shell"];
const FULL_NAMES: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];
/// Where distros keep the real executables their /usr/bin launcher scripts start.
const LIB_DIRS: &[&str] = &[
    "/usr/lib/chromium",
    "/usr/lib/chromium-browser",
    "/opt/google/chrome",
];

/// `--chrome PATH`, then `$CHROME`, then usual names on PATH (chromium-headless-shell,
/// chromium, chromium-browser, google-chrome). `kind` None prefers the headless shell.
/// The returned path is the real executable, not a launcher script: a script that does not
/// `exec` stays the parent of Chromium, and killing it alone leaves Chromium running.
pub fn find_browser(
    kind: Option<BrowserKind>,
    explicit: Option<&Path>,
) -> Result<(BrowserKind, PathBuf), BrowserError> {
    let from_env = std::env::var_os("CHROME").filter(|v| !v.is_empty());
    if let Some(path) = explicit
        .map(Path::to_path_buf)
        .or(from_env.map(PathBuf::from))
    {
        let source = if explicit.is_some() {
            "--chrome"
        } else {
            "$CHROME"
        };
        let path = resolve_path(&path).ok_or_else(|| {
            BrowserError::NotFound(format!(
                "{source} {}: no such executable file",
                path.display()
            ))
        })?;
        let kind = kind.unwrap_or_else(|| kind_of_name(&path));
        return Ok((kind, real_executable(&path)));
    }
    let order: &[(&[&str], BrowserKind)] = match kind {
        Some(BrowserKind::HeadlessShell) => &[(SHELL_NAMES, BrowserKind::HeadlessShell)],
        Some(BrowserKind::Chromium) => &[(FULL_NAMES, BrowserKind::Chromium)],
        None => &[
            (SHELL_NAMES, BrowserKind::HeadlessShell),
            (FULL_NAMES, BrowserKind::Chromium),
        ],
    };
    for (names, kind) in order {
        for name in *names {
            if let Some(path) = resolve_path(Path::new(name)) {
                return Ok((*kind, real_executable(&path)));
            }
        }
    }
    let wanted = match kind {
        Some(BrowserKind::HeadlessShell) => {
            "no chromium-headless-shell on PATH: install it (apt-get install chromium-headless-shell), \
             or pass --chrome PATH / set $CHROME"
        }
        Some(BrowserKind::Chromium) => {
            "no chromium on PATH (looked for chromium, chromium-browser, google-chrome): install it \
             (apt-get install chromium), or pass --chrome PATH / set $CHROME"
        }
        None => {
            "no Chromium found on PATH: install chromium-headless-shell (apt-get install \
             chromium-headless-shell; or chromium for the full browser), or pass --chrome PATH / set $CHROME"
        }
    };
    Err(BrowserError::NotFound(wanted.to_string()))
}

fn kind_of_name(path: &Path) -> BrowserKind {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.contains("headless") {
        BrowserKind::HeadlessShell
    } else {
        BrowserKind::Chromium
    }
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A path with a slash is taken as is; a bare name is looked up on PATH.
fn resolve_path(path: &Path) -> Option<PathBuf> {
    if path.components().count() > 1 || path.is_absolute() {
        return is_executable(path).then(|| path.to_path_buf());
    }
    let dirs = std::env::var_os("PATH")?;
    std::env::split_paths(&dirs)
        .map(|d| d.join(path))
        .find(|p| is_executable(p))
}

/// Follows symlinks, then, for a `#!` launcher script, the executable it starts: an absolute
/// path in the script, or the same name in a distro library directory.
fn real_executable(path: &Path) -> PathBuf {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let Ok(head) = std::fs::read(&path).map(|b| b[..b.len().min(16_384)].to_vec()) else {
        return path;
    };
    if !head.starts_with(b"#!") {
        return path;
    }
    let text = String::from_utf8_lossy(&head);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let in_script = text
        .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .filter(|t| t.starts_with('/') && t.contains("chrom") && !t.contains('$'))
        .map(PathBuf::from)
        .find(|p| p != &path && is_executable(p) && !is_script(p));
    in_script
        .or_else(|| {
            LIB_DIRS
                .iter()
                .map(|d| Path::new(d).join(name))
                .find(|p| is_executable(p) && !is_script(p))
        })
        .unwrap_or(path)
}

fn is_script(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map(|_| &magic == b"#!")
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launcher_script_resolves_to_the_real_binary() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("chromium-real");
        std::fs::write(&real, b"\x7fELF").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o755)).unwrap();
        let script = dir.path().join("chromium-headless-shell");
        let body = format!("#!/bin/sh -e\n\n{} \"$@\"\n", real.display());
        std::fs::write(&script, body).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (kind, path) = find_browser(None, Some(&script)).unwrap();
        assert_eq!(kind, BrowserKind::HeadlessShell);
        assert_eq!(path, std::fs::canonicalize(&real).unwrap());
    }

    #[test]
    fn missing_explicit_path_says_which_flag() {
        let err = find_browser(None, Some(Path::new("/nope/chrome"))).unwrap_err();
        assert!(err.to_string().contains("--chrome /nope/chrome"), "{err}");
    }
}
