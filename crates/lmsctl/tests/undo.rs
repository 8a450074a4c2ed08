//! `lmsctl migrate undo RUN`: a delta run undone, a first load refused.

mod support;

use support::{Cli, text};

/// A seeded legacy database migrated once (a first load); the run's id.
async fn first_load(cli: &Cli) -> anyhow::Result<String> {
    for args in [
        &["legacy", "seed", "--scale", "small", "--seed", "9"][..],
        &["db", "up"],
        &["migrate", "run", "--inline", "--chunk-size", "700"],
    ] {
        cli.run_ok(args).await?;
    }
    latest_run(cli).await
}

async fn latest_run(cli: &Cli) -> anyhow::Result<String> {
    let report = cli
        .run_ok(&["migrate", "report", "--format", "json"])
        .await?;
    let report: serde_json::Value = serde_json::from_slice(&report.stdout)?;
    report["run_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no run id in {report}"))
}

async fn legacy_sql(cli: &Cli, sql: &str) -> anyhow::Result<()> {
    let pool = lms_pg::connect(cli.legacy.url(), &lms_pg::PoolConfig::small("cli-test")).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(())
}

async fn user_emails(cli: &Cli) -> anyhow::Result<Vec<Option<String>>> {
    let pool = lms_pg::connect(cli.lms.url(), &lms_pg::PoolConfig::small("cli-test")).await?;
    let emails = sqlx::query_scalar("SELECT email FROM users ORDER BY id")
        .fetch_all(&pool)
        .await?;
    pool.close().await;
    Ok(emails)
}

#[tokio::test]
async fn undo_puts_the_lms_back_as_before_a_delta_run() -> anyhow::Result<()> {
    let cli = Cli::new("cliundo").await?;
    first_load(&cli).await?;
    let before = user_emails(&cli).await?;
    legacy_sql(
        &cli,
        "UPDATE users SET email = 'undo.' || id || '@mail.kz' WHERE id % 10 = 1",
    )
    .await?;
    cli.run_ok(&["migrate", "run", "--inline", "--chunk-size", "300"])
        .await?;
    let delta = latest_run(&cli).await?;
    assert_ne!(user_emails(&cli).await?, before, "the delta changed emails");
    let undo = cli.run_ok(&["migrate", "undo", &delta]).await?;
    assert!(
        text(&undo.stdout).contains(&format!("Run {delta} is undone")),
        "{}",
        text(&undo.stdout)
    );
    assert_eq!(user_emails(&cli).await?, before);
    cli.close().await
}

#[tokio::test]
async fn undo_given_again_with_its_request_id_succeeds_again() -> anyhow::Result<()> {
    let cli = Cli::new("cliundoagain").await?;
    first_load(&cli).await?;
    legacy_sql(
        &cli,
        "UPDATE users SET email = 'again.' || id || '@mail.kz' WHERE id % 10 = 1",
    )
    .await?;
    cli.run_ok(&["migrate", "run", "--inline", "--chunk-size", "300"])
        .await?;
    let delta = latest_run(&cli).await?;
    let undo = ["migrate", "undo", &delta, "--request-id", "nightly-undo"];
    cli.run_ok(&undo).await?;

    let again = cli.run_ok(&undo).await?;

    assert!(
        text(&again.stdout).contains(&format!("Run {delta} is undone")),
        "{}",
        text(&again.stdout)
    );
    cli.close().await
}

#[tokio::test]
async fn undo_of_a_first_load_is_refused_with_the_way_out() -> anyhow::Result<()> {
    let cli = Cli::new("cliundofirst").await?;
    let first = first_load(&cli).await?;
    let refused = cli.run(&["migrate", "undo", &first]).await?;
    assert_eq!(refused.status.code(), Some(1));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("first load") && stderr.contains("fresh database"),
        "{stderr}"
    );
    cli.close().await
}

#[tokio::test]
async fn an_inline_run_removes_the_change_logs_past_the_undo_history() -> anyhow::Result<()> {
    let cli = Cli::new("cliundoprune").await?;
    first_load(&cli).await?;
    let keep_one = [("LMS_MIGRATION__UNDO_HISTORY", "1")];
    let mut deltas = Vec::new();
    for edited in [1, 2] {
        legacy_sql(
            &cli,
            &format!("UPDATE users SET email = 'prune{edited}.' || id || '@mail.kz' WHERE id % 10 = {edited}"),
        )
        .await?;
        let ran = cli
            .run_with(
                &["migrate", "run", "--inline", "--chunk-size", "300"],
                &keep_one,
                None,
            )
            .await?;
        assert!(ran.status.success(), "{}", text(&ran.stderr));
        deltas.push(latest_run(&cli).await?);
    }
    let refused = cli.run(&["migrate", "undo", &deltas[0]]).await?;
    assert_eq!(refused.status.code(), Some(1));
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("change log was removed"), "{stderr}");
    cli.close().await
}
