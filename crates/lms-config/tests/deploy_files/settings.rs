//! Settings: every LMS_* variable must be a real key with a valid value.

use std::collections::BTreeSet;

use anyhow::{Result, anyhow, ensure};
use figment::Jail;
use lms_config::{CONFIG_PATH_VAR, ENV_PREFIX, KNOWN_SCOPES, Settings};

use crate::env_files::Env;
use crate::problems::Problems;

/// Loads settings exactly as a binary does (defaults, then the TOML file when
/// given, then `LMS_*` variables), with only `env` set in the process
/// environment. `LMS_CONFIG` only names the file, which the caller passes
/// as `config_toml`.
pub(crate) fn load_settings(env: &Env, config_toml: Option<&str>) -> Result<Settings> {
    for name in env.keys() {
        ensure!(
            name.starts_with(ENV_PREFIX),
            "{name} is not an LMS setting (they all start with {ENV_PREFIX})"
        );
    }
    let mut loaded = None;
    Jail::try_with(|jail| {
        jail.clear_env();
        for (name, value) in env {
            if name != CONFIG_PATH_VAR {
                jail.set_env(name, value);
            }
        }
        let file = match config_toml {
            Some(text) => {
                jail.create_file("deploy-config.toml", text)?;
                Some(jail.directory().join("deploy-config.toml"))
            }
            None => None,
        };
        let settings = Settings::from_figment(&Settings::figment(file.as_deref()))
            .map_err(|error| error.to_string())?;
        loaded = Some(settings);
        Ok(())
    })
    .map_err(|error| anyhow!("{error}"))?;
    loaded.ok_or_else(|| anyhow!("settings were not loaded"))
}

/// The tokens of a config file must be usable: the server silently skips a
/// token whose hash is not 64 hex digits and a scope it does not know.
pub(crate) fn check_tokens(settings: &Settings, origin: &str, problems: &mut Problems) {
    let mut names = BTreeSet::new();
    for token in &settings.auth.tokens {
        problems.require(!token.name.trim().is_empty(), || {
            format!("{origin}: a token has no name")
        });
        problems.require(names.insert(token.name.clone()), || {
            format!("{origin}: token name {:?} used twice", token.name)
        });
        problems.require(
            token.sha256.len() == 64 && token.sha256.chars().all(|c| c.is_ascii_hexdigit()),
            || {
                format!(
                    "{origin}: token {:?}: sha256 is not 64 hex digits",
                    token.name
                )
            },
        );
        problems.require(!token.scopes.is_empty(), || {
            format!("{origin}: token {:?} has no scopes", token.name)
        });
        for scope in &token.scopes {
            problems.require(KNOWN_SCOPES.contains(&scope.as_str()), || {
                format!("{origin}: token {:?}: unknown scope {scope:?}", token.name)
            });
        }
    }
}

/// The connections a process running `binary` opens to the LMS database.
/// The engine (lms-worker, and lmsctl's `migrate run`) raises the pool to
/// two per chunk in flight plus two.
pub(crate) fn lms_pool_size(binary: &str, settings: &Settings) -> u32 {
    let configured = settings.database.max_connections;
    match binary {
        "lms-server" => configured + lms_config::GrpcSettings::MIGRATION_CONTROL_CONNECTIONS,
        _ => {
            let engine = u32::try_from(settings.worker.concurrency)
                .unwrap_or(u32::MAX)
                .saturating_mul(2)
                .saturating_add(2);
            configured.max(engine)
        }
    }
}

/// One kind of process in one flavour, for the connection budget.
#[derive(Debug, Clone)]
pub(crate) struct PoolUse {
    pub(crate) origin: String,
    pub(crate) binary: String,
    /// How many such processes may run at once; `None` where the files do
    /// not decide it (systemd instances are started by hand).
    pub(crate) processes: Option<u32>,
    pub(crate) connections_each: u32,
}

/// An environment that loads: the base for the negative cases.
fn valid_env() -> Env {
    [
        (
            "LMS_DATABASE__URL",
            "postgres://lms:secret@db.example.internal:5432/lms",
        ),
        ("LMS_GRPC__LISTEN", "0.0.0.0:50051"),
        ("LMS_METRICS__LISTEN", "0.0.0.0:9464"),
        ("LMS_LOG__FORMAT", "json"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

#[test]
fn unknown_keys_and_invalid_values_are_rejected() -> Result<()> {
    let settings = load_settings(&valid_env(), None)?;
    assert_eq!(settings.grpc.listen.port(), 50051);

    let broken = [
        ("LMS_GRPC__LISTN", "0.0.0.0:50051"),
        ("LMS_GRCP__LISTEN", "0.0.0.0:50051"),
        ("LMS_DATABASE__URL", "mysql://db.example.internal/lms"),
        ("LMS_METRICS__LISTEN", "0.0.0.0:99999"),
        ("LMS_LOG__FORMAT", "yaml"),
        ("LMS_WORKER__CONCURRENCY", "0"),
    ];
    for (name, value) in broken {
        let mut env = valid_env();
        env.insert(name.to_owned(), value.to_owned());
        let outcome = load_settings(&env, None);
        assert!(outcome.is_err(), "{name}={value} must be rejected");
    }
    // A variable without the LMS_ prefix would be ignored by the binaries,
    // so setting one in an LMS container is a mistake too.
    let mut env = valid_env();
    env.insert("DATABASE_URL".to_owned(), "postgres://x@y/z".to_owned());
    assert!(load_settings(&env, None).is_err());
    // So is a token entry the server could not use: the loader names it.
    let refused = load_settings(
        &valid_env(),
        Some("[[auth.tokens]]\nname = \"ops\"\nsha256 = \"abc\"\nscopes = [\"lms.admin\"]\n"),
    )
    .map(|_| ())
    .err()
    .map(|error| error.to_string())
    .unwrap_or_default();
    assert!(
        refused.contains("auth.tokens[0].sha256") && refused.contains("auth.tokens[0].scopes[0]"),
        "{refused}"
    );
    Ok(())
}
