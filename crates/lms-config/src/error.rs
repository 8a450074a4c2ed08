use std::fmt;
use std::path::PathBuf;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An explicitly named config file does not exist.
    #[error("config file {} does not exist (set by --config or LMS_CONFIG)", path.display())]
    FileNotFound { path: PathBuf },
    /// One or more keys hold unusable values.
    #[error("{}", display_keys(.0))]
    Invalid(Vec<KeyError>),
}

/// One unusable key: which key, where its value came from, and why it is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    /// The dotted key, e.g. `database.url`.
    pub key: String,
    /// Where the value came from, e.g. "environment variable LMS_DATABASE__URL".
    pub origin: Option<String>,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config key `{}`", self.key)?;
        if let Some(origin) = &self.origin {
            write!(f, " (from {origin})")?;
        }
        write!(f, ": {}", self.message)
    }
}

fn display_keys(errors: &[KeyError]) -> String {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

impl ConfigError {
    /// One invalid key found by validation after extraction.
    pub fn invalid(key: &str, message: impl Into<String>) -> Self {
        ConfigError::Invalid(vec![KeyError {
            key: key.to_owned(),
            origin: None,
            message: message.into(),
        }])
    }

    pub(crate) fn from_figment(error: figment::Error) -> Self {
        let errors = error
            .into_iter()
            .map(|error| {
                let key = if error.path.is_empty() {
                    "(top level)".to_owned()
                } else {
                    error.path.join(".")
                };
                let origin = error
                    .metadata
                    .as_ref()
                    .map(|metadata| match &metadata.source {
                        Some(source) => format!("{source}"),
                        // Only the environment layer has no source; name the exact
                        // variable, since figment's own rendering loses the prefix.
                        None => format!(
                            "environment variable {}{}",
                            crate::ENV_PREFIX,
                            error.path.join("__").to_uppercase()
                        ),
                    });
                KeyError {
                    key,
                    origin,
                    message: error.kind.to_string(),
                }
            })
            .collect();
        ConfigError::Invalid(errors)
    }
}
