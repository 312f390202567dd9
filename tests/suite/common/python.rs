//! Python's `websockets`, the independent implementation the interop
//! tests run against. Its interpreter comes from `WSGATE_PYTHON` (any
//! Python with `websockets` installed), else from a virtualenv made once
//! under the target directory with `python3 -m venv` and
//! `pip install websockets==17.4`. Without Python (or without network for
//! pip) those tests print why and pass, unless `WSGATE_REQUIRE_PYTHON=1`
//! (CI), which makes them fail instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const WEBSOCKETS_VERSION: &str = "17.4";

/// A Python interpreter with `websockets`, or `None` (test skipped).
pub fn python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| match find_python() {
        Ok(path) => Some(path),
        Err(why) => {
            if std::env::var_os("WSGATE_REQUIRE_PYTHON").is_some_and(|v| v == "1") {
                panic!("WSGATE_REQUIRE_PYTHON=1 but {why}");
            }
            eprintln!("SKIPPED: the Python interop tests need Python 3 with websockets: {why}");
            None
        }
    });
    found.as_deref()
}

fn has_websockets(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import websockets.sync.client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn find_python() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("WSGATE_PYTHON") {
        let path = PathBuf::from(path);
        return if has_websockets(&path) {
            Ok(path)
        } else {
            Err(format!(
                "WSGATE_PYTHON={} cannot import websockets",
                path.display()
            ))
        };
    }
    let venv =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("websockets-{WEBSOCKETS_VERSION}"));
    let python = venv.join("bin").join("python");
    if has_websockets(&python) {
        return Ok(python);
    }
    let run = |cmd: &mut Command, what: &str| -> Result<(), String> {
        let output = cmd.output().map_err(|e| format!("{what}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    };
    run(
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
        "python3 -m venv",
    )?;
    run(
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("websockets=={WEBSOCKETS_VERSION}"),
        ]),
        "pip install websockets",
    )?;
    if has_websockets(&python) {
        Ok(python)
    } else {
        Err("websockets installed but cannot be imported".into())
    }
}
