//! A config and the templates it names as one JSON document (`config push`, the S3 source).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::files::Recording;
use super::*;

/// The format tag of a config bundle.
pub const BUNDLE_FORMAT: &str = "draftgate-config/1";

/// A config and the template files it uses, as one JSON document: what `draftgate config push`
/// uploads to S3 and what a deployed function loads at start (`DRAFTGATE_CONFIG_S3_URI`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigBundle {
    pub format: String,
    /// `draftgate.toml` and each template, by the path the config names it with.
    pub files: BTreeMap<String, String>,
}

impl ConfigBundle {
    /// Validate the config file exactly as `check-config` does and, only if it is valid, bundle
    /// it with the templates it uses.
    pub fn from_file(path: &Path) -> Result<(Config, ConfigBundle), Vec<ConfigError>> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError {
                file: name.clone(),
                line: None,
                message: format!("cannot read: {e}"),
            }]
        })?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let disk = DiskFiles(dir);
        let recording = Recording {
            inner: &disk,
            read: Default::default(),
        };
        let config = Config::parse(&name, &text, &recording)?;
        let mut files = recording.read.into_inner();
        files.insert(BUNDLED_FILE.to_string(), text);
        Ok((
            config,
            ConfigBundle {
                format: BUNDLE_FORMAT.into(),
                files,
            },
        ))
    }

    /// Read a bundle fetched from `origin` (e.g. `s3://bucket/key`), and validate its config.
    pub fn load(origin: &str, bytes: &[u8]) -> Result<Config, Vec<ConfigError>> {
        let problem = |message: String| {
            vec![ConfigError {
                file: origin.to_string(),
                line: None,
                message,
            }]
        };
        let bundle: ConfigBundle = serde_json::from_slice(bytes).map_err(|e| {
            problem(format!(
                "not a draftgate config bundle ({e}); upload it with `draftgate config push`"
            ))
        })?;
        if bundle.format != BUNDLE_FORMAT {
            return Err(problem(format!(
                "bundle format `{}` is not `{BUNDLE_FORMAT}`; push it again with this version of draftgate",
                bundle.format
            )));
        }
        let text = bundle
            .files
            .get(BUNDLED_FILE)
            .ok_or_else(|| problem(format!("the bundle has no `{BUNDLED_FILE}`")))?;
        Config::parse(
            &format!("{origin}[{BUNDLED_FILE}]"),
            text,
            &MapFiles(&bundle.files),
        )
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a bundle is plain strings")
    }
}
