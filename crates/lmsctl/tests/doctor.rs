//! `lmsctl doctor` against real services, and against closed ports standing
//! in for stopped ones (the machine's own PostgreSQL and Redis keep running).

mod support;

use std::time::{Duration, Instant};

use lms_engine::run_worker;
use lms_engine::setup::{connect_engine, connect_queue, worker_config};
use lms_testkit::test_settings;
use support::{Cli, text};

/// Runs `lmsctl doctor`, with `overrides` replacing the test's settings.
async fn doctor(cli: &Cli, overrides: &[(&str, &str)]) -> anyhow::Result<Report> {
    let output = cli.run_with(&["doctor"], overrides, None).await?;
    Ok(Report {
        code: output.status.code(),
        stdout: text(&output.stdout),
    })
}

/// What doctor printed and how it exited.
#[derive(Debug)]
struct Report {
    code: Option<i32>,
    stdout: String,
}

impl Report {
    /// The line of one check, and the fix line after it when it failed.
    /// Lines read `ok   NAME: detail` or `FAIL NAME: detail`.
    fn check(&self, name: &str) -> (String, Option<String>) {
        let heading = format!("{name}: ");
        let mut lines = self.stdout.lines();
        let line = lines
            .by_ref()
            .find(|line| line.get(5..).is_some_and(|rest| rest.starts_with(&heading)))
            .unwrap_or_default()
            .to_owned();
        let fix = lines
            .next()
            .and_then(|next| next.trim_start().strip_prefix("fix: "))
            .map(str::to_owned);
        (line, fix)
    }

    fn passed(&self, name: &str) -> bool {
        self.check(name).0.starts_with("ok ")
    }

    /// The fix printed under a failed check; `None` if the check did not fail.
    fn fix(&self, name: &str) -> Option<String> {
        let (line, fix) = self.check(name);
        if line.starts_with("FAIL ") { fix } else { None }
    }
}

/// A TCP port on this machine that nothing listens on (below the
/// ephemeral range, so that no connection of the suite takes it).
fn closed_port() -> anyhow::Result<u16> {
    lms_testkit::free_port()
}

const CHECKS: [&str; 6] = [
    "config",
    "LMS database",
    "legacy database",
    "Redis",
    "LMS schema",
    "workers",
];

#[tokio::test]
async fn doctor_passes_once_a_worker_is_alive() -> anyhow::Result<()> {
    let setup = Cli::new("doctorok").await?;
    let up = setup.run(&["db", "up"]).await?;
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );

    let without_workers = doctor(&setup, &[]).await?;
    for name in &CHECKS[..5] {
        assert!(
            without_workers.passed(name),
            "{name}: {}",
            without_workers.stdout
        );
    }
    let fix = without_workers.fix("workers").unwrap_or_default();
    assert!(fix.contains("`lms-worker`"), "{}", without_workers.stdout);
    assert_eq!(without_workers.code, Some(1), "{}", without_workers.stdout);
    assert!(without_workers.stdout.contains("1 of 6 checks failed."));

    let settings = test_settings(
        setup.lms.url(),
        setup.legacy.url(),
        setup.redis.url(),
        setup.redis.namespace(),
    )?;
    let engine = connect_engine(&settings, "doctor-test-worker".to_owned(), 1).await?;
    let queue = connect_queue(&settings).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(run_worker(
        engine,
        queue,
        worker_config(&settings, "doctor-test-worker".to_owned()),
        async {
            let _ = stopped.await;
        },
    ));
    // The worker registers on its first poll; give it a few seconds.
    let deadline = Instant::now() + Duration::from_secs(20);
    let with_worker = loop {
        let report = doctor(&setup, &[]).await?;
        if report.code == Some(0) || Instant::now() > deadline {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(with_worker.code, Some(0), "{}", with_worker.stdout);
    for name in CHECKS {
        assert!(with_worker.passed(name), "{name}: {}", with_worker.stdout);
    }
    let (workers, _) = with_worker.check("workers");
    assert!(workers.contains("1 alive (doctor-test-worker"), "{workers}");
    assert!(workers.contains("no active run"), "{workers}");
    assert!(with_worker.stdout.contains("All 6 checks passed."));
    assert!(
        !with_worker.stdout.contains("fix:"),
        "{}",
        with_worker.stdout
    );

    let _ = stop.send(());
    worker.await??;
    setup.close().await
}

#[tokio::test]
async fn doctor_names_an_unreachable_redis_and_its_fix() -> anyhow::Result<()> {
    let setup = Cli::new("doctorredis").await?;
    let redis = format!("redis://127.0.0.1:{}", closed_port()?);
    let started = Instant::now();
    let report = doctor(&setup, &[("LMS_REDIS__URL", &redis)]).await?;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(report.code, Some(1), "{}", report.stdout);
    assert!(report.passed("LMS database"), "{}", report.stdout);
    let (line, _) = report.check("Redis");
    assert!(
        line.starts_with("FAIL Redis: ") && line.contains(&redis),
        "{line}"
    );
    let fix = report.fix("Redis").unwrap_or_default();
    assert!(
        fix.contains("start Redis") && fix.contains("redis.url / LMS_REDIS__URL"),
        "{fix}"
    );
    assert!(report.fix("workers").is_some(), "{}", report.stdout);
    setup.close().await
}

#[tokio::test]
async fn doctor_names_an_unreachable_lms_database_and_its_fix() -> anyhow::Result<()> {
    let setup = Cli::new("doctorpg").await?;
    let url = format!("postgres://postgres@127.0.0.1:{}/lms", closed_port()?);
    let report = doctor(&setup, &[("LMS_DATABASE__URL", &url)]).await?;
    assert_eq!(report.code, Some(1), "{}", report.stdout);
    assert!(report.passed("config"), "{}", report.stdout);
    assert!(report.passed("legacy database"), "{}", report.stdout);
    assert!(report.passed("Redis"), "{}", report.stdout);
    let (line, _) = report.check("LMS database");
    assert!(line.starts_with("FAIL LMS database: "), "{}", report.stdout);
    let fix = report.fix("LMS database").unwrap_or_default();
    assert!(
        fix.contains("start PostgreSQL") && fix.contains("database.url / LMS_DATABASE__URL"),
        "{fix}"
    );
    assert!(report.fix("LMS schema").is_some(), "{}", report.stdout);
    setup.close().await
}

#[tokio::test]
async fn doctor_says_to_apply_the_schema() -> anyhow::Result<()> {
    // The test database exists but is empty: no migration is applied.
    let setup = Cli::new("doctorschema").await?;
    let report = doctor(&setup, &[]).await?;
    assert_eq!(report.code, Some(1), "{}", report.stdout);
    assert!(report.passed("LMS database"), "{}", report.stdout);
    let (line, _) = report.check("LMS schema");
    assert!(line.contains("migrations pending"), "{line}");
    assert_eq!(
        report.fix("LMS schema").as_deref(),
        Some("run `lmsctl db up`"),
        "{}",
        report.stdout
    );

    // A database that does not exist yet: `lmsctl db up` creates it.
    let missing = setup
        .lms
        .url()
        .with_database("lms_test_doctor_never_created");
    let report = doctor(&setup, &[("LMS_DATABASE__URL", missing.expose())]).await?;
    assert_eq!(report.code, Some(1), "{}", report.stdout);
    let fix = report.fix("LMS database").unwrap_or_default();
    assert!(fix.starts_with("run `lmsctl db up`"), "{}", report.stdout);
    setup.close().await
}

#[tokio::test]
async fn doctor_names_an_unusable_setting_and_its_fix() -> anyhow::Result<()> {
    let setup = Cli::new("doctorconfig").await?;
    let report = doctor(
        &setup,
        &[(
            "LMS_DATABASE__URL",
            "postgres://app:pa#ss@db.internal:5432/lms",
        )],
    )
    .await?;
    assert_eq!(report.code, Some(1), "{}", report.stdout);
    assert!(!report.passed("config"), "{}", report.stdout);
    assert!(report.stdout.contains("database.url"), "{}", report.stdout);
    // The value may hold a password: it is never printed.
    assert!(!report.stdout.contains("pa#ss"), "{}", report.stdout);
    let fix = report.fix("config").unwrap_or_default();
    assert!(fix.contains("LMS_* variable"), "{}", report.stdout);
    setup.close().await
}
