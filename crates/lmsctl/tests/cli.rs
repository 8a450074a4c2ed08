//! `lmsctl` as operators run it: real processes, exit codes and output.

mod support;

use std::time::Duration;

use lms_engine::run_worker;
use lms_engine::setup::{connect_engine, connect_queue, worker_config};
use support::{Cli, text};
use tokio::process::Command;

/// lmsctl with `args` and no config file (defaults and the environment
/// only): for what it refuses before connecting to anything.
async fn unconfigured(args: &[&str]) -> anyhow::Result<std::process::Output> {
    Ok(Command::new(env!("CARGO_BIN_EXE_lmsctl"))
        .args(args)
        .env_remove("LMS_CONFIG")
        .output()
        .await?)
}

#[tokio::test]
async fn seed_migrate_report_and_explain() -> anyhow::Result<()> {
    let cli = Cli::new("cli").await?;
    let seeded = cli
        .run(&["legacy", "seed", "--scale", "small", "--seed", "3"])
        .await?;
    assert!(seeded.status.success(), "{}", text(&seeded.stderr));
    let refused = cli.run(&["legacy", "seed", "--scale", "small"]).await?;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("--force"),
        "{}",
        text(&refused.stderr)
    );
    let up = cli.run(&["db", "up"]).await?;
    assert!(up.status.success(), "{}", text(&up.stderr));

    let run = cli
        .run(&["migrate", "run", "--inline", "--chunk-size", "700"])
        .await?;
    assert!(
        run.status.success(),
        "{}{}",
        text(&run.stdout),
        text(&run.stderr)
    );
    assert!(text(&run.stdout).contains("succeeded"));

    let json = cli.run(&["migrate", "report", "--format", "json"]).await?;
    assert!(json.status.success());
    let report: serde_json::Value = serde_json::from_slice(&json.stdout)?;
    assert_eq!(report["status"], "succeeded");
    assert!(report["run_id"].is_string());
    let entities = report["entities"].as_array().expect("entities is a list");
    assert_eq!(entities.len(), 10);
    for entity in entities {
        for key in [
            "entity",
            "legacy_rows",
            "migrated",
            "merged",
            "rejected",
            "warnings",
            "unexplained",
            "target_rows",
            "derived",
            "changes",
        ] {
            assert!(entity.get(key).is_some(), "{key} missing in {entity}");
        }
        for key in ["created", "updated", "unchanged", "source_deleted"] {
            assert!(
                entity["changes"].get(key).is_some(),
                "changes.{key} missing"
            );
        }
        assert_eq!(entity["unexplained"], 0);
    }
    let journal = entities
        .iter()
        .find(|entity| entity["entity"] == "journal")
        .expect("journal");
    assert!(journal["derived"]["courses"].as_i64().unwrap_or(0) > 0);

    let markdown = cli
        .run(&["migrate", "report", "--format", "markdown"])
        .await?;
    assert!(text(&markdown.stdout).contains("| legacy table | rows | what this run saw |"));
    let table = cli.run(&["migrate", "report"]).await?;
    assert!(text(&table.stdout).contains("exam_results"));

    let explain = cli.run(&["migrate", "explain", "students", "1"]).await?;
    assert!(explain.status.success(), "{}", text(&explain.stderr));
    assert!(
        text(&explain.stdout).starts_with("students 1 was"),
        "{}",
        text(&explain.stdout)
    );
    let unknown = cli.run(&["migrate", "explain", "journals", "1"]).await?;
    assert_eq!(
        unknown.status.code(),
        Some(2),
        "clap rejects an unknown table"
    );
    assert!(text(&unknown.stderr).contains("exam_results"));
    cli.close().await
}

#[tokio::test]
async fn wait_exits_non_zero_unless_every_row_is_accounted_for() -> anyhow::Result<()> {
    let cli = Cli::new("cliwait").await?;
    assert!(
        cli.run(&["legacy", "seed", "--scale", "small", "--seed", "4"])
            .await?
            .status
            .success()
    );
    assert!(cli.run(&["db", "up"]).await?.status.success());
    // A worker in this process serves the queue the CLI pushes to.
    let settings = cli.settings()?;
    let engine = connect_engine(&settings, "cli-test-worker".to_owned(), 2).await?;
    let queue = connect_queue(&settings).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(run_worker(
        engine,
        queue,
        worker_config(&settings, "cli-test-worker".to_owned()),
        async {
            let _ = stopped.await;
        },
    ));

    let ok = cli
        .run(&["migrate", "run", "--wait", "--chunk-size", "1000"])
        .await?;
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}{}",
        text(&ok.stdout),
        text(&ok.stderr)
    );
    assert!(
        text(&ok.stdout).contains("journal"),
        "progress and report on stdout"
    );

    // Drift the legacy schema (no legacy value fails a run, but a column
    // that is no longer what the contract reads does): the next run fails,
    // and so does the command.
    let legacy = lms_pg::connect(cli.legacy.url(), &lms_pg::PoolConfig::small("test")).await?;
    sqlx::raw_sql(
        "ALTER TABLE exams ALTER COLUMN subject_id TYPE text; UPDATE exams SET subject_id = 'lots' WHERE id = 1",
    )
    .execute(&legacy)
    .await?;
    legacy.close().await;
    let failed = tokio::time::timeout(
        Duration::from_secs(120),
        cli.run(&["migrate", "run", "--wait"]),
    )
    .await??;
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed.stdout));
    assert!(
        text(&failed.stderr).contains("failed"),
        "{}",
        text(&failed.stderr)
    );

    let _ = stop.send(());
    worker.await??;
    cli.close().await
}

#[tokio::test]
async fn a_bad_setting_is_named_and_exits_2() -> anyhow::Result<()> {
    let output = Command::new(env!("CARGO_BIN_EXE_lmsctl"))
        .args(["db", "status"])
        .env_remove("LMS_CONFIG")
        .env("LMS_WORKER__CONCURRENCY", "many")
        .output()
        .await?;
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("worker.concurrency") && stderr.contains("LMS_WORKER__CONCURRENCY"),
        "{stderr}"
    );
    Ok(())
}

#[tokio::test]
async fn a_blank_request_id_is_refused_before_anything_runs() -> anyhow::Result<()> {
    let output = unconfigured(&["migrate", "run", "--request-id", "  "]).await?;
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("--request-id") && stderr.contains("is blank"),
        "{stderr}"
    );
    Ok(())
}

#[tokio::test]
async fn a_chunk_size_beyond_the_apis_bound_is_refused() -> anyhow::Result<()> {
    let output = unconfigured(&["migrate", "run", "--chunk-size", "4294967295"]).await?;
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--chunk-size"));
    Ok(())
}

#[tokio::test]
async fn a_verify_chunk_size_beyond_the_apis_bound_is_refused() -> anyhow::Result<()> {
    let output = unconfigured(&["migrate", "verify", "--chunk-size", "1000001"]).await?;
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--chunk-size"));
    Ok(())
}

#[tokio::test]
async fn a_collection_the_api_lacks_is_a_usage_error() -> anyhow::Result<()> {
    let output = unconfigured(&["api", "list", "widgets"]).await?;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("is not a collection"),
        "{}",
        text(&output.stderr)
    );
    Ok(())
}

#[tokio::test]
async fn a_listing_without_the_parent_it_needs_is_a_usage_error() -> anyhow::Result<()> {
    let output = unconfigured(&["api", "list", "materials"]).await?;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("--parent"),
        "{}",
        text(&output.stderr)
    );
    Ok(())
}

#[tokio::test]
async fn an_endpoint_that_is_no_address_is_a_usage_error() -> anyhow::Result<()> {
    let output = unconfigured(&["api", "get", "students/1", "--endpoint", "not a url"]).await?;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("invalid endpoint"),
        "{}",
        text(&output.stderr)
    );
    Ok(())
}

/// Refused before anything is connected: no database is needed to say so.
#[tokio::test]
async fn a_hold_floor_past_a_row_count_is_refused() -> anyhow::Result<()> {
    let output =
        unconfigured(&["migrate", "run", "--hold-min-rows", "9223372036854775808"]).await?;
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("--hold-min-rows") && stderr.contains("a row count"),
        "{stderr}"
    );
    Ok(())
}

#[tokio::test]
async fn api_reads_go_through_the_running_server() -> anyhow::Result<()> {
    use lms_grpc::GrpcApp;
    use lms_grpc::auth::hash_token;

    let cli = Cli::new("cliapi").await?;
    for args in [
        &["legacy", "seed", "--scale", "small", "--seed", "4"][..],
        &["db", "up"],
        &["migrate", "run", "--inline", "--chunk-size", "2000"],
    ] {
        let output = cli.run(args).await?;
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
    let mut settings = cli.settings()?;
    settings.auth.tokens = vec![lms_config::TokenSettings {
        name: "reader".into(),
        sha256: hash_token("cli-reader-token"),
        scopes: vec!["lms.read".into()],
    }];
    let app = GrpcApp::connect(&settings).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, async {
        let _ = stopped.await;
    }));
    let env = [
        ("LMSCTL_API_ENDPOINT", endpoint.as_str()),
        ("LMSCTL_API_TOKEN", "cli-reader-token"),
    ];

    let listed = cli
        .run_with(&["api", "list", "students", "--page-size", "3"], &env, None)
        .await?;
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let students: Vec<serde_json::Value> = text(&listed.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(students.len(), 3);
    assert!(text(&listed.stderr).contains("more: --page-token "));
    let name = students[0]["name"].as_str().unwrap_or_default().to_owned();
    let legacy_id = students[0]["legacy"]["legacyId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let junk = cli
        .run_with(
            &["api", "list", "students", "--page-token", "junk"],
            &env,
            None,
        )
        .await?;
    assert_eq!(junk.status.code(), Some(2), "{}", text(&junk.stderr));

    let got = cli.run_with(&["api", "get", &name], &env, None).await?;
    assert!(got.status.success(), "{}", text(&got.stderr));
    let got: serde_json::Value = serde_json::from_slice(&got.stdout)?;
    assert_eq!(got, students[0]);

    let found = cli
        .run_with(&["api", "lookup", "students", &legacy_id], &env, None)
        .await?;
    assert!(found.status.success(), "{}", text(&found.stderr));
    let found: serde_json::Value = serde_json::from_slice(&found.stdout)?;
    assert_eq!(found["name"].as_str(), Some(name.as_str()));

    let filter = format!("student = \"{name}\"");
    let enrollments = cli
        .run_with(
            &[
                "api",
                "list",
                "enrollments",
                "--filter",
                &filter,
                "--page-size",
                "2",
                "--all",
            ],
            &env,
            None,
        )
        .await?;
    assert!(
        enrollments.status.success(),
        "{}",
        text(&enrollments.stderr)
    );
    let lines: Vec<serde_json::Value> = text(&enrollments.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert!(!lines.is_empty());
    assert!(
        lines
            .iter()
            .all(|line| line["student"].as_str() == Some(name.as_str()))
    );

    let anonymous = cli
        .run_with(&["api", "get", &name], &env[..1], None)
        .await?;
    assert!(!anonymous.status.success());
    assert!(
        text(&anonymous.stderr).contains("Unauthenticated"),
        "{}",
        text(&anonymous.stderr)
    );
    let missing = cli
        .run_with(&["api", "get", "students/999999999"], &env, None)
        .await?;
    assert!(
        text(&missing.stderr).contains("NotFound"),
        "{}",
        text(&missing.stderr)
    );
    let unknown = cli
        .run_with(&["api", "get", "spaceships/1"], &env, None)
        .await?;
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("not a collection"),
        "{}",
        text(&unknown.stderr)
    );

    let _ = stop.send(());
    server.await??;
    cli.close().await
}

#[tokio::test]
async fn hash_token_prints_an_entry_that_loads_as_given_whatever_the_name() -> anyhow::Result<()> {
    let name = "ops \"night\"\u{1}\\";
    let hashed = unconfigured(&["auth", "hash-token", "--name", name]).await?;
    assert!(hashed.status.success(), "{}", text(&hashed.stderr));

    let entry: toml::Value = toml::from_str(&text(&hashed.stdout))?;

    let loaded = entry
        .get("auth")
        .and_then(|auth| auth.get("tokens"))
        .and_then(|tokens| tokens.get(0))
        .and_then(|token| token.get("name"))
        .and_then(toml::Value::as_str);
    assert_eq!(loaded, Some(name));
    Ok(())
}

#[tokio::test]
async fn hash_token_refuses_a_name_the_server_would_refuse() -> anyhow::Result<()> {
    for name in ["lmsctl", "  "] {
        let refused = unconfigured(&["auth", "hash-token", "--name", name]).await?;
        assert_eq!(refused.status.code(), Some(2), "{name:?}");
        assert!(text(&refused.stderr).contains("--name"), "{name:?}");
    }
    Ok(())
}

#[tokio::test]
async fn hash_token_refuses_a_token_no_http_header_can_carry() -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;

    for token in ["pässwörd-0123456789", "two words-0123456789"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lmsctl"))
            .args(["auth", "hash-token", "--stdin", "--name", "ops"])
            .env_remove("LMS_CONFIG")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        if let Some(mut pipe) = child.stdin.take() {
            pipe.write_all(token.as_bytes()).await?;
        }
        let refused = child.wait_with_output().await?;

        assert_eq!(refused.status.code(), Some(2), "{token:?}");
        assert!(
            text(&refused.stderr).contains("visible ASCII"),
            "{}",
            text(&refused.stderr)
        );
        assert!(refused.stdout.is_empty(), "{token:?}");
    }
    Ok(())
}

#[tokio::test]
async fn hash_token_prints_the_config_entry() -> anyhow::Result<()> {
    let cli = Cli::new("clitoken").await?;
    let hashed = cli
        .run_with(
            &[
                "auth",
                "hash-token",
                "--stdin",
                "--name",
                "ops",
                "--scopes",
                "lms.read,migration.admin",
            ],
            &[],
            Some("a-token-of-sufficient-length\n"),
        )
        .await?;
    assert!(hashed.status.success(), "{}", text(&hashed.stderr));
    let entry = text(&hashed.stdout);
    let expected = lms_grpc::auth::hash_token("a-token-of-sufficient-length");
    assert!(
        entry.contains(&format!("sha256 = \"{expected}\"")),
        "{entry}"
    );
    assert!(
        entry.contains(r#"scopes = ["lms.read", "migration.admin"]"#),
        "{entry}"
    );
    assert!(
        !entry.contains("a-token-of-sufficient-length"),
        "the token itself is not echoed"
    );

    let made = cli.run(&["auth", "hash-token"]).await?;
    assert!(made.status.success(), "{}", text(&made.stderr));
    let output = text(&made.stdout);
    let token = output
        .lines()
        .nth(1)
        .and_then(|line| line.strip_prefix("# "))
        .unwrap_or_default();
    assert!(token.starts_with("lms_") && token.len() > 60, "{output}");
    assert!(
        output.contains(&lms_grpc::auth::hash_token(token)),
        "{output}"
    );

    let bad = cli
        .run(&["auth", "hash-token", "--scopes", "everything"])
        .await?;
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("unknown scope"),
        "{}",
        text(&bad.stderr)
    );
    cli.close().await
}

#[tokio::test]
async fn dry_run_writes_nothing_and_cancel_refuses_a_finished_run() -> anyhow::Result<()> {
    let cli = Cli::new("clidry").await?;
    for args in [
        &["legacy", "seed", "--scale", "small", "--seed", "5"][..],
        &["db", "up"],
    ] {
        let output = cli.run(args).await?;
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
    let dry = cli
        .run(&[
            "migrate",
            "run",
            "--inline",
            "--dry-run",
            "--chunk-size",
            "2000",
        ])
        .await?;
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(
        text(&dry.stdout).contains("journal"),
        "{}",
        text(&dry.stdout)
    );
    let lms = lms_pg::connect(cli.lms.url(), &lms_pg::PoolConfig::small("cli-test")).await?;
    let written: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM students) + (SELECT count(*) FROM migration.ledger)",
    )
    .fetch_one(&lms)
    .await?;
    lms.close().await;
    assert_eq!(written, 0, "a dry run writes no rows and no ledger");

    let cancel = cli.run(&["migrate", "cancel"]).await?;
    assert_eq!(cancel.status.code(), Some(1));
    assert!(
        text(&cancel.stderr).contains("already ended"),
        "{}",
        text(&cancel.stderr)
    );
    cli.close().await
}

/// The settings' default log filter, instead of the harness's `warn`.
const DEFAULT_LOG_FILTER: (&str, &str) = ("LMS_LOG__FILTER", "info");

fn has_escape(bytes: &[u8]) -> bool {
    bytes.contains(&0x1b)
}

#[tokio::test]
async fn in_a_pipe_output_has_no_colour_and_no_library_info() -> anyhow::Result<()> {
    let cli = Cli::new("clipipe").await?;
    let up = cli
        .run_with(&["db", "up"], &[DEFAULT_LOG_FILTER], None)
        .await?;
    assert!(up.status.success(), "{}", text(&up.stderr));
    assert!(text(&up.stdout).contains("Applied"), "{}", text(&up.stdout));
    assert!(!has_escape(&up.stdout) && !has_escape(&up.stderr));
    assert!(
        !text(&up.stderr).contains("sea_orm_migration"),
        "{}",
        text(&up.stderr)
    );
    cli.close().await
}

#[tokio::test]
async fn v_brings_the_libraries_info_logs_back() -> anyhow::Result<()> {
    let cli = Cli::new("cliverbose").await?;
    let up = cli
        .run_with(&["-v", "db", "up"], &[DEFAULT_LOG_FILTER], None)
        .await?;
    assert!(up.status.success(), "{}", text(&up.stderr));
    let stderr = text(&up.stderr);
    assert!(
        stderr
            .lines()
            .any(|line| line.contains("INFO") && line.contains("sea_orm_migration")),
        "{stderr}"
    );
    assert!(!has_escape(&up.stderr), "still no colour in a pipe");
    cli.close().await
}

#[tokio::test]
async fn rust_log_still_decides_alone() -> anyhow::Result<()> {
    let cli = Cli::new("clirustlog").await?;
    let up = cli
        .run_with(
            &["db", "up"],
            &[DEFAULT_LOG_FILTER, ("RUST_LOG", "sea_orm_migration=info")],
            None,
        )
        .await?;
    assert!(up.status.success(), "{}", text(&up.stderr));
    assert!(
        text(&up.stderr).contains("sea_orm_migration"),
        "{}",
        text(&up.stderr)
    );
    cli.close().await
}

#[tokio::test]
async fn on_a_terminal_logs_are_coloured_unless_no_color_is_set() -> anyhow::Result<()> {
    let cli = Cli::new("clitty").await?;
    let debug = ("RUST_LOG", "debug");
    let coloured = cli.run_on_terminal(&["db", "status"], &[debug]).await?;
    assert!(
        has_escape(&coloured.stdout),
        "a terminal gets colour: {}{}",
        text(&coloured.stdout),
        text(&coloured.stderr)
    );
    let plain = cli
        .run_on_terminal(&["db", "status"], &[debug, ("NO_COLOR", "1")])
        .await?;
    assert!(
        text(&plain.stdout).contains("DEBUG"),
        "{}",
        text(&plain.stdout)
    );
    assert!(!has_escape(&plain.stdout), "{}", text(&plain.stdout));
    cli.close().await
}

#[tokio::test]
async fn in_a_pipe_progress_is_a_few_plain_lines_with_rows_per_second_and_eta() -> anyhow::Result<()>
{
    let cli = Cli::new("cliprogress").await?;
    cli.run_ok(&["legacy", "seed", "--scale", "small", "--seed", "6"])
        .await?;
    cli.run_ok(&["db", "up"]).await?;
    let started = std::time::Instant::now();
    let run = cli
        .run_ok(&["migrate", "run", "--inline", "--chunk-size", "500"])
        .await?;
    let seconds = started.elapsed().as_secs();
    let stdout = text(&run.stdout);
    assert!(!has_escape(&run.stdout) && !has_escape(&run.stderr));
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|line| line.contains(" chunks, "))
        .collect();
    assert!(
        lines
            .iter()
            .all(|line| line.contains(" rows/s, ETA ") && line.contains(" rows, ")),
        "{stdout}"
    );
    assert!(
        lines.iter().any(|line| !line.contains("- rows/s")),
        "some line has a rate: {stdout}"
    );
    // Ten tables: a line when each of five states begins (stage, resolve,
    // apply, finalize, done), and at most one more every 5 s in between.
    let at_most = 10 * (5 + usize::try_from(seconds / 5 + 1)?);
    assert!(
        lines.len() <= at_most,
        "{} lines in {seconds} s: {stdout}",
        lines.len()
    );
    cli.close().await
}

#[tokio::test]
async fn a_chunk_size_that_plans_too_many_chunks_is_a_usage_error() -> anyhow::Result<()> {
    let cli = Cli::new("clichunks").await?;
    cli.run_ok(&["legacy", "seed", "--scale", "small", "--seed", "5"])
        .await?;
    cli.run_ok(&["db", "up"]).await?;
    let output = cli
        .run_with(
            &["migrate", "run", "--inline", "--chunk-size", "1"],
            &[("LMS_MIGRATION__MAX_CHUNKS", "20")],
            None,
        )
        .await?;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("--chunk-size") && stderr.contains("chunk size of at least"),
        "{stderr}"
    );
    cli.close().await
}
