//! `lmsctl` as operators run it: real processes, exit codes and output.

use std::process::Output;
use std::time::Duration;

use lms_config::Settings;
use lms_engine::run_worker;
use lms_engine::setup::{connect_engine, connect_queue, worker_config};
use lms_testkit::{TestDatabase, TestRedis, test_settings};
use tokio::process::Command;

struct Cli {
    lms: TestDatabase,
    legacy: TestDatabase,
    redis: TestRedis,
}

impl Cli {
    async fn new(purpose: &str) -> anyhow::Result<Cli> {
        Ok(Cli {
            lms: TestDatabase::create(&format!("{purpose}lms")).await?,
            legacy: TestDatabase::create(&format!("{purpose}edu")).await?,
            redis: TestRedis::new(purpose),
        })
    }

    fn settings(&self) -> anyhow::Result<Settings> {
        test_settings(
            self.lms.url(),
            self.legacy.url(),
            self.redis.url(),
            self.redis.namespace(),
        )
    }

    async fn run(&self, args: &[&str]) -> anyhow::Result<Output> {
        let output = Command::new(env!("CARGO_BIN_EXE_lmsctl"))
            .args(args)
            .env_remove("LMS_CONFIG")
            .env("LMS_DATABASE__URL", self.lms.url().expose())
            .env("LMS_LEGACY__URL", self.legacy.url().expose())
            .env("LMS_REDIS__URL", self.redis.url())
            .env("LMS_REDIS__NAMESPACE", self.redis.namespace())
            .env("LMS_LOG__FILTER", "warn")
            .output()
            .await?;
        Ok(output)
    }

    async fn close(self) -> anyhow::Result<()> {
        self.redis.clean().await?;
        self.lms.drop_now().await?;
        self.legacy.drop_now().await
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
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

    // Poison the legacy data: the next run fails, and so does the command.
    let legacy = lms_pg::connect(cli.legacy.url(), &lms_pg::PoolConfig::small("test")).await?;
    sqlx::raw_sql(
        "ALTER TABLE exams ALTER COLUMN max_score TYPE text; UPDATE exams SET max_score = 'lots' WHERE id = 1",
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
