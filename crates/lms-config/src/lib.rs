//! Configuration for every LMS binary.
//!
//! Values are layered, later layers winning:
//! 1. the defaults in this crate (local PostgreSQL databases `lms` and `edu`,
//!    Redis on 127.0.0.1:6379);
//! 2. a TOML file: the path given with `--config`, else `$LMS_CONFIG`, else
//!    `./lms.toml` when it exists;
//! 3. environment variables prefixed `LMS_`, with `__` between nested keys
//!    (`LMS_DATABASE__URL` sets `database.url`); a bare value is text to a
//!    text key (`LMS_REDIS__NAMESPACE=2024`) and a number to a numeric one.
//!
//! A bad value is reported as a [`ConfigError`] that names the key and the
//! layer it came from; nothing here panics on input.

mod environment;
mod error;
mod settings;
mod urls;

pub use error::{ConfigError, KeyError};
pub use settings::{
    AuthSettings, COMMAND_LINE_CALLER, DatabaseSettings, FailoverSettings, GrpcSettings,
    KNOWN_SCOPES, LegacySettings, LogFormat, LogSettings, MetricsSettings, MigrationSettings,
    RedisSettings, Settings, StandbySettings, TokenSettings, WorkerSettings, is_named_zone,
    token_name_problem,
};
pub use urls::{PostgresUrl, RedisUrl};

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};

use crate::environment::Environment;

/// The environment variable that names a config file when `--config` is absent.
pub const CONFIG_PATH_VAR: &str = "LMS_CONFIG";
/// The file read from the working directory when no path is given.
pub const DEFAULT_CONFIG_FILE: &str = "lms.toml";
/// The prefix of every environment variable that sets a key.
pub const ENV_PREFIX: &str = "LMS_";

/// Where the TOML layer comes from.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// An explicit path (the `--config` flag); it must exist.
    pub file: Option<PathBuf>,
}

impl ConfigSource {
    /// The file to read: the explicit path, else `$LMS_CONFIG`, else
    /// `./lms.toml` when present. `Ok(None)` means no file layer.
    pub fn resolve_file(&self) -> Result<Option<PathBuf>, ConfigError> {
        let explicit = self
            .file
            .clone()
            // `LMS_CONFIG=` (set, but empty) means no file, as unset does.
            .or_else(|| {
                std::env::var_os(CONFIG_PATH_VAR)
                    .filter(|path| !path.is_empty())
                    .map(PathBuf::from)
            });
        match explicit {
            Some(path) if path.is_file() => Ok(Some(path)),
            Some(path) => Err(ConfigError::FileNotFound { path }),
            None => {
                let local = Path::new(DEFAULT_CONFIG_FILE);
                Ok(local.is_file().then(|| local.to_path_buf()))
            }
        }
    }
}

impl Settings {
    /// Loads the layered configuration and validates it.
    pub fn load(source: &ConfigSource) -> Result<Self, ConfigError> {
        let file = source.resolve_file()?;
        Self::from_figment(&Self::figment(file.as_deref()))
    }

    /// The layered figment: defaults, then the file (if any), then `LMS_*`.
    pub fn figment(file: Option<&Path>) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment.merge(Environment {
            prefix: ENV_PREFIX,
            separator: "__",
            ignored: &["config"],
        })
    }

    /// Extracts and validates settings from any figment (tests build their own).
    /// Lossily: a numeric or boolean key also takes its value as text
    /// (`"8"`, `"yes"`), which is how the environment layer hands over
    /// every bare value (`environment.rs`).
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        let settings: Settings = figment.extract_lossy().map_err(ConfigError::from_figment)?;
        settings.validate()?;
        Ok(settings)
    }
}
