//! The state file that keeps runtime registrations across restarts: JSON, written atomically
//! (a temporary file in the same directory, fsync, rename, fsync of the directory), so a crash
//! leaves either the old file or the new one, never a torn one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Registry;

/// The format version written in every state file.
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    portcullis_state: u32,
    #[serde(flatten)]
    registry: Registry,
}

/// `<dir>/<config stem>.state.json` beside the config file.
pub fn default_path(config: &Path) -> PathBuf {
    let stem = config
        .file_stem()
        .map_or_else(|| "portcullis".into(), |s| s.to_string_lossy());
    config.with_file_name(format!("{stem}.state.json"))
}

/// Reads the state file; a missing file is an empty registry.
pub fn load(path: &Path) -> Result<Registry, Vec<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Registry::default()),
        Err(e) => {
            return Err(vec![format!(
                "cannot read state file {}: {e}",
                path.display()
            )])
        }
    };
    let file: File = serde_json::from_str(&text).map_err(|e| {
        vec![format!(
            "{}:{}:{}: invalid state file: {e} (hint: fix it, or move it away to start from the \
             config file alone)",
            path.display(),
            e.line(),
            e.column()
        )]
    })?;
    if file.portcullis_state != FORMAT {
        return Err(vec![format!(
            "{}: state file format {} is not supported (this version reads {FORMAT})",
            path.display(),
            file.portcullis_state
        )]);
    }
    Ok(file.registry)
}

/// Writes `registry` to `path` atomically.
pub fn save(path: &Path, registry: &Registry) -> std::io::Result<()> {
    let file = File {
        portcullis_state: FORMAT,
        registry: registry.clone(),
    };
    let mut text = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
    text.push(b'\n');
    crate::base::fs::write_atomic(path, &text, false)
}
