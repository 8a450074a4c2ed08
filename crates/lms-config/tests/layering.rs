//! The configuration layers and their error messages, checked in figment's
//! `Jail` (a private working directory and environment per test).

// figment::Jail closures must return figment::Error, which is large.
#![allow(clippy::result_large_err)]

use figment::Jail;
use lms_config::{ConfigError, ConfigSource, Settings};

fn load() -> Result<Settings, ConfigError> {
    Settings::load(&ConfigSource::default())
}

#[test]
fn defaults_point_at_local_services() {
    Jail::expect_with(|_jail| {
        let settings = load().map_err(|error| error.to_string())?;
        assert_eq!(settings.database.url.database_name(), "lms");
        assert_eq!(settings.legacy.url.database_name(), "edu");
        assert_eq!(settings.redis.url.expose(), "redis://127.0.0.1:6379");
        assert_eq!(settings.grpc.listen.to_string(), "127.0.0.1:50051");
        Ok(())
    });
}

#[test]
fn file_overrides_defaults_and_environment_overrides_file() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "lms.toml",
            r#"
            [database]
            url = "postgres://app@db.internal:5432/lms_prod"
            [grpc]
            listen = "0.0.0.0:6000"
            "#,
        )?;
        jail.set_env("LMS_GRPC__LISTEN", "0.0.0.0:7000");
        jail.set_env("LMS_LEGACY__URL", "postgres://ro@legacy:5432/edu_prod");
        let settings = load().map_err(|error| error.to_string())?;
        assert_eq!(settings.database.url.database_name(), "lms_prod");
        assert_eq!(settings.grpc.listen.port(), 7000);
        assert_eq!(settings.legacy.url.database_name(), "edu_prod");
        Ok(())
    });
}

#[test]
fn config_file_named_by_environment() {
    Jail::expect_with(|jail| {
        jail.create_file("other.toml", "[worker]\nconcurrency = 7\n")?;
        jail.set_env("LMS_CONFIG", "other.toml");
        let settings = load().map_err(|error| error.to_string())?;
        assert_eq!(settings.worker.concurrency, 7);
        Ok(())
    });
}

#[test]
fn an_empty_config_variable_means_no_file() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_CONFIG", "");
        jail.set_env("LMS_WORKER__CONCURRENCY", "3");
        let settings = load().map_err(|error| error.to_string())?;
        assert_eq!(settings.worker.concurrency, 3);
        Ok(())
    });
}

#[test]
fn missing_explicit_file_is_an_error() {
    Jail::expect_with(|_jail| {
        let source = ConfigSource {
            file: Some("nowhere.toml".into()),
        };
        let error = Settings::load(&source).expect_err("a missing file must fail");
        assert!(error.to_string().contains("nowhere.toml"), "{error}");
        Ok(())
    });
}

#[test]
fn bad_environment_value_names_key_and_variable() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_GRPC__LISTEN", "not-an-address");
        let message = load().expect_err("must fail").to_string();
        assert!(message.contains("grpc.listen"), "{message}");
        assert!(message.contains("LMS_GRPC__LISTEN"), "{message}");
        Ok(())
    });
}

#[test]
fn bad_url_in_file_names_key_and_file() {
    Jail::expect_with(|jail| {
        jail.create_file("lms.toml", "[database]\nurl = \"mysql://x/y\"\n")?;
        let message = load().expect_err("must fail").to_string();
        assert!(message.contains("database.url"), "{message}");
        assert!(message.contains("lms.toml"), "{message}");
        assert!(message.contains("postgres://"), "{message}");
        Ok(())
    });
}

#[test]
fn unknown_key_is_rejected() {
    Jail::expect_with(|jail| {
        jail.create_file("lms.toml", "[database]\nulr = \"postgres://x/y\"\n")?;
        let message = load().expect_err("must fail").to_string();
        assert!(message.contains("ulr"), "{message}");
        Ok(())
    });
}

#[test]
fn relations_between_values_are_checked() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_DATABASE__MIN_CONNECTIONS", "30");
        jail.set_env("LMS_DATABASE__MAX_CONNECTIONS", "20");
        let message = load().expect_err("must fail").to_string();
        assert!(message.contains("database.min_connections"), "{message}");
        Ok(())
    });
}

#[test]
fn durations_are_human_readable() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_MIGRATION__REQUEUE_AFTER", "90s");
        jail.set_env("LMS_WORKER__POLL_INTERVAL", "soon");
        let message = load().expect_err("must fail").to_string();
        assert!(message.contains("worker.poll_interval"), "{message}");
        jail.set_env("LMS_WORKER__POLL_INTERVAL", "250ms");
        let settings = load().map_err(|error| error.to_string())?;
        assert_eq!(settings.migration.requeue_after.as_secs(), 90);
        assert_eq!(settings.worker.poll_interval.as_millis(), 250);
        Ok(())
    });
}

#[test]
fn legacy_time_zone_must_be_a_name() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_LEGACY__TIMEZONE", "+05");
        let message = load().expect_err("an offset must fail").to_string();
        assert!(message.contains("legacy.timezone"), "{message}");
        jail.set_env("LMS_LEGACY__TIMEZONE", "Asia/Almaty");
        let settings = load().map_err(|error| error.to_string())?;
        assert_eq!(settings.legacy.timezone, "Asia/Almaty");
        Ok(())
    });
}

#[test]
fn posix_time_zone_forms_are_not_names() {
    Jail::expect_with(|jail| {
        for posix in [
            "UTC+5",
            "<+05>-5",
            "EST5EDT,M3.2.0/2,M11.1.0",
            "Asia/Almaty+5",
            "Etc/UTC-5",
            "Etc/GMT+5x",
        ] {
            jail.set_env("LMS_LEGACY__TIMEZONE", posix);
            let message = load().expect_err(posix).to_string();
            assert!(message.contains("legacy.timezone"), "{message}");
        }
        Ok(())
    });
}

#[test]
fn zone_names_with_offsets_in_them_are_names() {
    Jail::expect_with(|jail| {
        for name in [
            "Etc/GMT-5",
            "EST5EDT",
            "posix/Etc/GMT+5",
            "GMT0",
            "right/PST8PDT",
            "Asia/Almaty",
        ] {
            jail.set_env("LMS_LEGACY__TIMEZONE", name);
            let settings = load().map_err(|error| format!("{name}: {error}"))?;
            assert_eq!(settings.legacy.timezone, name);
        }
        Ok(())
    });
}

#[test]
fn a_tls_certificate_without_its_key_is_an_error() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_GRPC__TLS_CERT", "/etc/lms/tls.crt");
        let error = load().expect_err("half a TLS pair must fail");
        assert!(error.to_string().contains("grpc.tls_key"), "{error}");
        Ok(())
    });
}

#[test]
fn a_token_with_an_unknown_scope_is_named() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "lms.toml",
            r#"
            [[auth.tokens]]
            name = "ops"
            sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
            scopes = ["lms.read", "admin"]
            "#,
        )?;
        let error = load().expect_err("an unknown scope must fail");
        assert!(
            error.to_string().contains("auth.tokens[0].scopes[1]"),
            "{error}"
        );
        Ok(())
    });
}

#[test]
fn two_entries_for_one_token_are_refused() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "lms.toml",
            r#"
            [[auth.tokens]]
            name = "ops"
            sha256 = "00000000000000000000000000000000000000000000000000000000000000aa"
            scopes = ["lms.read"]
            [[auth.tokens]]
            name = "ops-admin"
            sha256 = "00000000000000000000000000000000000000000000000000000000000000AA"
            scopes = ["migration.admin"]
            "#,
        )?;
        let error = load().expect_err("one token twice must fail");
        assert!(
            error.to_string().contains("auth.tokens[1].sha256"),
            "{error}"
        );
        Ok(())
    });
}

#[test]
fn a_token_may_not_take_the_command_lines_name() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "lms.toml",
            r#"
            [[auth.tokens]]
            name = "lmsctl"
            sha256 = "00000000000000000000000000000000000000000000000000000000000000aa"
            scopes = ["migration.admin"]
            "#,
        )?;
        let error = load().expect_err("the command line's name must fail");
        assert!(error.to_string().contains("auth.tokens[0].name"), "{error}");
        Ok(())
    });
}

#[test]
fn run_watchers_are_bounded_by_default() {
    Jail::expect_with(|_jail| {
        let settings = load().map_err(|error| error.to_string())?;
        assert_eq!(settings.grpc.max_run_watchers, 1_000);
        assert_eq!(settings.grpc.max_run_watch_age.as_secs(), 3_600);
        assert_eq!(settings.metrics.refresh_interval.as_secs(), 5);
        Ok(())
    });
}

#[test]
fn zero_run_watchers_is_an_error_naming_the_key() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_GRPC__MAX_RUN_WATCHERS", "0");
        let message = load().expect_err("no watchers must fail").to_string();
        assert!(message.contains("grpc.max_run_watchers"), "{message}");
        Ok(())
    });
}

#[test]
fn a_concurrency_limit_a_semaphore_cannot_hold_is_an_error_naming_the_key() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_GRPC__CONCURRENCY_LIMIT", "18446744073709551615");
        let message = load().expect_err("a huge limit must fail").to_string();
        assert!(message.contains("grpc.concurrency_limit"), "{message}");
        Ok(())
    });
}

#[test]
fn a_slow_request_probe_under_10ms_is_an_error() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_FAILOVER__SLOW_REQUEST_PROBE", "1ms");
        let message = load().expect_err("1ms must fail").to_string();
        assert!(message.contains("failover.slow_request_probe"), "{message}");
        Ok(())
    });
}

#[test]
fn a_max_standby_lag_is_read_from_the_environment() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_FAILOVER__MAX_STANDBY_LAG", "5s");
        let settings = load().map_err(|error| error.to_string())?;
        assert_eq!(
            settings.failover.max_standby_lag,
            std::time::Duration::from_secs(5)
        );
        Ok(())
    });
}

#[test]
fn a_max_standby_lag_under_100ms_is_an_error() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_FAILOVER__MAX_STANDBY_LAG", "0s");
        let message = load().expect_err("0s must fail").to_string();
        assert!(message.contains("failover.max_standby_lag"), "{message}");
        Ok(())
    });
}

#[test]
fn ten_runs_stay_undoable_by_default() {
    Jail::expect_with(|_jail| {
        let settings = load().map_err(|error| error.to_string())?;
        assert_eq!(settings.migration.undo_history, 10);
        Ok(())
    });
}

#[test]
fn an_undo_history_of_zero_is_an_error() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_MIGRATION__UNDO_HISTORY", "0");
        let message = load().expect_err("0 must fail").to_string();
        assert!(message.contains("migration.undo_history"), "{message}");
        Ok(())
    });
}

#[test]
fn a_metrics_refresh_interval_under_100ms_is_an_error() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_METRICS__REFRESH_INTERVAL", "10ms");
        let message = load().expect_err("10ms must fail").to_string();
        assert!(message.contains("metrics.refresh_interval"), "{message}");
        jail.set_env("LMS_METRICS__REFRESH_INTERVAL", "250ms");
        let settings = load().map_err(|error| error.to_string())?;
        assert_eq!(settings.metrics.refresh_interval.as_millis(), 250);
        Ok(())
    });
}

#[test]
fn a_run_plans_at_most_50000_chunks_by_default() {
    Jail::expect_with(|_jail| {
        let settings = load().map_err(|error| error.to_string())?;
        assert_eq!(settings.migration.max_chunks, 50_000);
        Ok(())
    });
}

#[test]
fn the_chunk_cap_is_a_setting_and_zero_is_an_error_naming_the_key() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_MIGRATION__MAX_CHUNKS", "0");
        let message = load().expect_err("a cap of 0 must fail").to_string();
        assert!(message.contains("migration.max_chunks"), "{message}");
        jail.set_env("LMS_MIGRATION__MAX_CHUNKS", "1");
        let settings = load().map_err(|error| error.to_string())?;
        assert_eq!(settings.migration.max_chunks, 1);
        Ok(())
    });
}

#[test]
fn a_hold_floor_past_a_row_count_is_an_error_naming_the_key() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_MIGRATION__HOLD_MIN_ROWS", "9223372036854775808");
        let message = load().expect_err("past i64 must fail").to_string();
        assert!(message.contains("migration.hold_min_rows"), "{message}");
        jail.set_env("LMS_MIGRATION__HOLD_MIN_ROWS", "9223372036854775807");
        let settings = load().map_err(|error| error.to_string())?;
        assert_eq!(settings.migration.hold_min_rows, 9_223_372_036_854_775_807);
        Ok(())
    });
}

#[test]
fn a_log_filter_tracing_cannot_read_is_an_error_naming_the_key() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_LOG__FILTER", "lms_engine=verbose");
        let message = load().expect_err("a bad level must fail").to_string();
        assert!(message.contains("log.filter"), "{message}");
        jail.set_env("LMS_LOG__FILTER", "lms_engine=debug,warn");
        load().map_err(|error| error.to_string())?;
        Ok(())
    });
}

#[test]
fn a_zero_timeout_is_an_error_naming_the_key() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_GRPC__REQUEST_TIMEOUT", "0s");
        let message = load().expect_err("0s must fail").to_string();
        assert!(message.contains("grpc.request_timeout"), "{message}");
        Ok(())
    });
}

#[test]
fn a_timer_longer_than_a_day_is_an_error_naming_the_key() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_WORKER__POLL_INTERVAL", "400days");
        let message = load().expect_err("400 days must fail").to_string();
        assert!(message.contains("worker.poll_interval"), "{message}");
        Ok(())
    });
}

/// The inline runner waits out a retry by adding it to an `Instant`: a
/// delay no clock holds would panic there.
#[test]
fn a_retry_delay_longer_than_a_day_is_an_error_naming_the_key() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_MIGRATION__RETRY_BASE_DELAY", "1000000000y");
        jail.set_env("LMS_MIGRATION__RETRY_MAX_DELAY", "300000000000y");
        let message = load().expect_err("such delays must fail").to_string();
        assert!(message.contains("migration.retry_base_delay"), "{message}");
        assert!(message.contains("migration.retry_max_delay"), "{message}");
        Ok(())
    });
}

#[test]
fn a_worker_concurrency_no_semaphore_holds_is_an_error_naming_the_key() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_WORKER__CONCURRENCY", "18446744073709551615");
        let message = load()
            .expect_err("a huge concurrency must fail")
            .to_string();
        assert!(message.contains("worker.concurrency"), "{message}");
        Ok(())
    });
}

#[test]
fn a_bare_environment_value_is_text_to_a_text_key() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_REDIS__NAMESPACE", "2024");
        jail.set_env("LMS_LOG__FILTER", "true");
        let settings = load().map_err(|error| error.to_string())?;
        assert_eq!(settings.redis.namespace, "2024");
        assert_eq!(settings.log.filter, "true");
        Ok(())
    });
}

#[test]
fn a_bare_environment_value_keeps_its_leading_zeros() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_REDIS__NAMESPACE", "007");
        let settings = load().map_err(|error| error.to_string())?;
        assert_eq!(settings.redis.namespace, "007");
        Ok(())
    });
}

#[test]
fn a_bare_environment_value_is_a_number_or_a_boolean_to_such_keys() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_WORKER__CONCURRENCY", "3");
        jail.set_env("LMS_GRPC__HEALTH", "false");
        let settings = load().map_err(|error| error.to_string())?;
        assert_eq!(settings.worker.concurrency, 3);
        assert!(!settings.grpc.health);
        Ok(())
    });
}

#[test]
fn a_bare_word_for_a_numeric_key_is_an_error_naming_the_key() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_WORKER__CONCURRENCY", "three");
        let message = load().expect_err("a word is no count").to_string();
        assert!(message.contains("worker.concurrency"), "{message}");
        Ok(())
    });
}

#[test]
fn a_padded_bare_environment_value_is_read_trimmed() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_GRPC__HEALTH", " false ");
        jail.set_env("LMS_REDIS__NAMESPACE", " 2024 ");
        let settings = load().map_err(|error| error.to_string())?;
        assert!(!settings.grpc.health);
        assert_eq!(settings.redis.namespace, "2024");
        Ok(())
    });
}

#[test]
fn a_variable_with_an_empty_key_is_refused_by_name() {
    for name in [
        "LMS_GRPC__LISTEN__",
        "LMS_DATABASE____URL",
        "LMS___GRPC__LISTEN",
    ] {
        Jail::expect_with(|jail| {
            jail.set_env(name, "0.0.0.0:9");
            let message = load().expect_err("must fail").to_string();
            assert!(message.contains(name), "{message}");
            assert!(message.contains("empty key"), "{message}");
            Ok(())
        });
    }
}

#[test]
fn a_requeue_wait_no_longer_than_the_retry_delay_is_an_error_naming_both() {
    Jail::expect_with(|jail| {
        jail.set_env("LMS_MIGRATION__RETRY_MAX_DELAY", "10s");
        jail.set_env("LMS_MIGRATION__REQUEUE_AFTER", "10s");
        let message = load().expect_err("must fail").to_string();
        assert!(message.contains("migration.requeue_after"), "{message}");
        assert!(message.contains("migration.retry_max_delay"), "{message}");
        Ok(())
    });
}
