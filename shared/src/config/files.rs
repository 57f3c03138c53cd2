//! Where a config is read from: the files beside it on disk, the copy compiled into every
//! function, or a bundle's map; and loading it at start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

/// The config shipped in `config/` and compiled into every function (no file I/O at init).
pub static BUNDLED: include_dir::Dir<'_> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/../config");

pub const BUNDLED_FILE: &str = "draftgate.toml";

/// Where template files are read from: a directory on disk, or the bundled `config/`.
pub trait Files {
    fn read(&self, relative: &str) -> Option<String>;
}

pub struct DiskFiles(pub PathBuf);

impl Files for DiskFiles {
    fn read(&self, relative: &str) -> Option<String> {
        std::fs::read_to_string(self.0.join(relative)).ok()
    }
}

pub struct BundledFiles;

impl Files for BundledFiles {
    fn read(&self, relative: &str) -> Option<String> {
        BUNDLED
            .get_file(relative)
            .and_then(|f| f.contents_utf8())
            .map(str::to_string)
    }
}

/// Files held in memory: a config bundle's contents.
pub struct MapFiles<'a>(pub &'a BTreeMap<String, String>);

impl Files for MapFiles<'_> {
    fn read(&self, relative: &str) -> Option<String> {
        self.0.get(relative).cloned()
    }
}

/// Reads through to another source and keeps what was read, so a bundle holds exactly the
/// files the config uses.
pub(super) struct Recording<'a> {
    pub(super) inner: &'a dyn Files,
    pub(super) read: std::cell::RefCell<BTreeMap<String, String>>,
}

impl Files for Recording<'_> {
    fn read(&self, relative: &str) -> Option<String> {
        let text = self.inner.read(relative)?;
        self.read
            .borrow_mut()
            .insert(relative.to_string(), text.clone());
        Some(text)
    }
}

impl Config {
    /// The config compiled into the binary.
    pub fn bundled() -> Result<Config, Vec<ConfigError>> {
        let text = BundledFiles.read(BUNDLED_FILE).ok_or_else(|| {
            vec![ConfigError {
                file: BUNDLED_FILE.into(),
                line: None,
                message: "bundled config is missing".into(),
            }]
        })?;
        Config::parse(&format!("config/{BUNDLED_FILE}"), &text, &BundledFiles)
    }

    /// A config file on disk; templates are read relative to its directory.
    pub fn from_file(path: &Path) -> Result<Config, Vec<ConfigError>> {
        ConfigBundle::from_file(path).map(|(config, _)| config)
    }

    /// The config named by `DRAFTGATE_CONFIG` if set, else the bundled one.
    pub fn from_env() -> Result<Config, Vec<ConfigError>> {
        match std::env::var_os("DRAFTGATE_CONFIG") {
            Some(p) if !p.is_empty() => Config::from_file(Path::new(&p)),
            _ => Config::bundled(),
        }
    }
}

/// Print config problems and exit: used by every binary at start.
pub fn load_or_exit() -> Config {
    match Config::from_env() {
        Ok(c) => c,
        Err(problems) => {
            for p in &problems {
                tracing::error!(problem = %p, "config error");
            }
            settings::refuse_to_start(&format_args!(
                "{} config problem(s): {}",
                problems.len(),
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        }
    }
}
