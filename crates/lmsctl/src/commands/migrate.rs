//! `lmsctl migrate ...`: start runs, watch them, read their reports.

use std::process::ExitCode;

use anyhow::{Context, bail};
use lms_config::{COMMAND_LINE_CALLER, Settings};
use lms_engine::control::RetryRequest;
use lms_engine::hold::Approval;
use lms_engine::inline::run_inline;
use lms_engine::report_html::{self, ReportPage};
use lms_engine::setup::{connect_engine, connect_queue, undo_history};
use lms_engine::undo::retention::prune_until_done;
use lms_engine::{
    ActionRequest, AskedRun, EngineContext, RunDefaults, RunStatus, explain, follow_run, report,
    run_progress, start_run,
};
use sqlx::PgPool;
use uuid::Uuid;

use super::output::Layout;
use super::progress_display::ProgressDisplay;
use super::report_table;
use super::usage::{USAGE_EXIT_CODE, usage};
use crate::cli::{
    ApproveArgs, CancelArgs, ExplainArgs, MigrateCommand, ReportArgs, ReportFormat, RetryArgs,
    RunArgs, RunSelector, UndoArgs, VerifyArgs, VerifyFormat,
};

pub async fn run(command: MigrateCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    match command {
        MigrateCommand::Run(args) => start(args, settings).await,
        MigrateCommand::Status(selector) => status(selector, settings).await,
        MigrateCommand::Report(args) => print_report(args, settings).await,
        MigrateCommand::Explain(args) => explain_row(args, settings).await,
        MigrateCommand::Cancel(args) => cancel(args, settings).await,
        MigrateCommand::Undo(args) => undo(args, settings).await,
        MigrateCommand::Approve(args) => approve(args, settings).await,
        MigrateCommand::RetryRejected(args) => retry(args, settings).await,
        MigrateCommand::Verify(args) => verify(args, settings).await,
    }
}

/// Exit 0 when every difference is explained, `UNEXPLAINED_EXIT_CODE`
/// otherwise (1 stays "the command failed").
async fn verify(args: VerifyArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let report = verification(settings, args.chunk_size).await?;
    match args.format {
        VerifyFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        VerifyFormat::Table => print!("{}", lms_engine::verify::table::to_table(&report)),
    }
    Ok(if report.unexplained() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(lms_engine::verify::UNEXPLAINED_EXIT_CODE)
    })
}

/// `migrate run --wait` (and `approve --wait`) when the run stops held.
pub const HELD_EXIT_CODE: u8 = 4;

async fn start(args: RunArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let asked = AskedRun {
        entities: &args.entities,
        chunk_size: args.chunk_size,
        dry_run: args.dry_run,
        on_conflict: args.on_conflict,
        hold_percent: args.hold_percent,
        hold_min_rows: args.hold_min_rows,
        no_hold: args.no_hold,
    };
    let resolved = asked.options(
        args.request_id.clone(),
        COMMAND_LINE_CALLER,
        &RunDefaults::from(&settings.migration),
    );
    let options = match resolved {
        Ok(options) => options,
        // An argument at fault: the exit code of clap's own refusals.
        Err(error) => {
            let flag = error.field().replace('_', "-");
            lms_runtime::report_error(&anyhow::anyhow!("--{flag}: {error}"));
            return Ok(ExitCode::from(USAGE_EXIT_CODE));
        }
    };
    let engine = connect_engine(settings, "lmsctl".to_owned(), settings.worker.concurrency)
        .await
        .context("connecting to the databases")?;
    let planned = if args.inline {
        lms_engine::plan_run(&engine.lms, &engine.legacy, &options).await
    } else {
        let queue = connect_queue(settings)
            .await
            .with_context(|| format!("connecting to Redis at {}", settings.redis.url))?;
        start_run(&engine.lms, &engine.legacy, &queue, &options).await
    };
    let planned = planned.map_err(|error| {
        if error.blames_chosen_chunk_size(args.chunk_size.is_some()) {
            usage(format!("--chunk-size: {error}"))
        } else {
            error.into()
        }
    })?;
    if planned.created {
        println!(
            "Started run {} ({} chunks queued).",
            planned.run_id,
            planned.queued_chunks.len()
        );
    } else {
        println!("Run {} already exists for this request id.", planned.run_id);
    }
    if args.inline {
        run_inline_in_view(&engine, planned.run_id, settings.worker.concurrency).await?;
        prune_change_logs_after_inline(&engine, settings).await;
        return verdict(&engine.lms, planned.run_id).await;
    }
    if !args.wait {
        println!(
            "Follow it with `lmsctl migrate status --run {}`.",
            planned.run_id
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut display = ProgressDisplay::new();
    let finished = follow_run(&engine.lms, planned.run_id, |progress| {
        display.update(progress)
    })
    .await?;
    display.finish(&finished);
    verdict(&engine.lms, planned.run_id).await
}

/// Exit 0 only when the run succeeded and no legacy row is unexplained;
/// [`HELD_EXIT_CODE`] when it is held (its preview printed).
async fn verdict(lms: &PgPool, run_id: Uuid) -> anyhow::Result<ExitCode> {
    let report = report::build(lms, run_id).await?;
    if report.status == RunStatus::Held {
        if let Some(preview) = &report.hold {
            print!("{}", lms_engine::hold::to_text(preview));
        }
        println!(
            "Run {run_id} is held: nothing was written. Approve it with `lmsctl migrate approve {run_id}`, \
             or discard it with `lmsctl migrate cancel --run {run_id}`."
        );
        return Ok(ExitCode::from(HELD_EXIT_CODE));
    }
    print!("{}", report_table::render(&report, Layout::stdout()));
    if report.status == RunStatus::Succeeded && report.unexplained() == 0 {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln_failure(&report);
        Ok(ExitCode::FAILURE)
    }
}

#[allow(clippy::print_stderr)]
fn eprintln_failure(report: &lms_engine::CoverageReport) {
    eprintln!(
        "run {} ended {}{}; {} legacy rows unexplained",
        report.run_id,
        report.status,
        report
            .error
            .as_deref()
            .map(|error| format!(": {error}"))
            .unwrap_or_default(),
        report.unexplained()
    );
}

async fn verification(
    settings: &Settings,
    chunk_size: Option<u32>,
) -> anyhow::Result<lms_engine::verify::VerifyReport> {
    let engine = connect_engine(settings, "lmsctl".to_owned(), 1)
        .await
        .context("connecting to the databases")?;
    let options = lms_engine::verify::VerifyOptions {
        chunk_size: chunk_size.unwrap_or(settings.migration.chunk_size),
        legacy_timezone: settings.legacy.timezone.clone(),
    };
    Ok(lms_engine::verify::verify(&engine.lms, &engine.legacy, &options).await?)
}

async fn lms_pool(settings: &Settings) -> anyhow::Result<PgPool> {
    lms_pg::connect(&settings.database.url, &lms_pg::PoolConfig::small("lmsctl"))
        .await
        .with_context(|| format!("connecting to the LMS database {}", settings.database.url))
}

async fn pick_run(lms: &PgPool, run: Option<Uuid>) -> anyhow::Result<Uuid> {
    match run {
        Some(run) => Ok(run),
        None => match report::latest_run(lms).await? {
            Some(run) => Ok(run),
            None => bail!("no migration run exists yet; start one with `lmsctl migrate run`"),
        },
    }
}

async fn status(selector: RunSelector, settings: &Settings) -> anyhow::Result<ExitCode> {
    let lms = lms_pool(settings).await?;
    let run_id = pick_run(&lms, selector.run).await?;
    let progress = run_progress(&lms, run_id).await?;
    let mut display = ProgressDisplay::plain();
    display.update(&progress);
    if let Some(preview) = &progress.hold {
        print!("{}", lms_engine::hold::to_text(preview));
    }
    if progress.status == RunStatus::Held {
        println!(
            "Run {run_id} is held: approve it with `lmsctl migrate approve {run_id}`, or cancel it."
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn print_report(args: ReportArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let lms = lms_pool(settings).await?;
    let run_id = pick_run(&lms, args.run).await?;
    let report = report::build(&lms, run_id).await?;
    match args.format {
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        ReportFormat::Markdown => print!("{}", report::to_markdown(&report)),
        ReportFormat::Table => print!("{}", report_table::render(&report, Layout::stdout())),
        ReportFormat::Html => {
            let mut page = ReportPage::build(&lms, report).await?;
            if args.verify {
                page.verification = Some(verification(settings, None).await?);
            }
            print!("{}", report_html::render(&page));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn explain_row(args: ExplainArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let lms = lms_pool(settings).await?;
    let legacy = lms_pg::connect(&settings.legacy.url, &lms_pg::PoolConfig::small("lmsctl"))
        .await
        .with_context(|| format!("connecting to the legacy database {}", settings.legacy.url))?;
    let explanation = explain::explain(&lms, &legacy, args.entity, args.legacy_id).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&explanation)?);
    } else {
        println!("{}", explanation.text);
    }
    Ok(if explanation.outcome.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn approve(args: ApproveArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let request = action_request(args.request_id);
    if args.inline {
        return approve_inline(args.run, request.as_ref(), settings).await;
    }
    let lms = lms_pool(settings).await?;
    let queue = connect_queue(settings)
        .await
        .with_context(|| format!("connecting to Redis at {}", settings.redis.url))?;
    let progress = lms_engine::hold::approve_run(&lms, &queue, args.run, request.as_ref()).await?;
    println!("Run {} is approved and {}.", args.run, progress.status);
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let mut display = ProgressDisplay::new();
    let finished = follow_run(&lms, args.run, |progress| display.update(progress)).await?;
    display.finish(&finished);
    verdict(&lms, args.run).await
}

/// Approves a held run and runs its chunks in this process.
async fn approve_inline(
    run_id: Uuid,
    request: Option<&ActionRequest>,
    settings: &Settings,
) -> anyhow::Result<ExitCode> {
    let engine = connect_engine(settings, "lmsctl".to_owned(), settings.worker.concurrency)
        .await
        .context("connecting to the databases")?;
    match lms_engine::hold::approve(&engine.lms, run_id, request).await? {
        Approval::Approved { .. } => {
            println!("Run {run_id} is approved; running its chunks in this process.");
        }
        Approval::Replayed => println!(
            "Run {run_id} was approved already under this request id; running what is left \
             of it in this process."
        ),
    }
    run_inline_in_view(&engine, run_id, settings.worker.concurrency).await?;
    prune_change_logs_after_inline(&engine, settings).await;
    verdict(&engine.lms, run_id).await
}

/// What the workers' sweeper does after a run, for a run this process ran:
/// the change logs past `migration.undo_history` are removed. A failure
/// only leaves them for the next run or sweep, and is logged.
async fn prune_change_logs_after_inline(engine: &EngineContext, settings: &Settings) {
    if let Err(error) = prune_until_done(&engine.lms, undo_history(settings)).await {
        tracing::warn!(%error, "removing change logs past the undo history failed");
    }
}

/// Runs `run_id`'s chunks in this process while its progress is shown,
/// then shows the run as the runner left it. The view follows only while
/// the runner runs: a runner that gave up leaves a run that would never
/// settle.
async fn run_inline_in_view(
    engine: &EngineContext,
    run_id: Uuid,
    parallelism: usize,
) -> anyhow::Result<()> {
    let mut display = ProgressDisplay::new();
    let ran = {
        let runner = run_inline(engine, run_id, parallelism);
        let watcher = follow_run(&engine.lms, run_id, |progress| display.update(progress));
        tokio::pin!(runner, watcher);
        let mut watching = true;
        loop {
            tokio::select! {
                ran = &mut runner => break ran,
                watched = &mut watcher, if watching => {
                    watching = false;
                    if let Err(error) = watched {
                        tracing::warn!(%error, "the run's progress is no longer shown");
                    }
                }
            }
        }
    };
    ran?;
    // The run is over; a progress that cannot be read now only goes
    // unshown (the verdict reads the run again).
    match run_progress(&engine.lms, run_id).await {
        Ok(progress) => display.finish(&progress),
        Err(error) => tracing::warn!(%error, "the run's last progress cannot be shown"),
    }
    Ok(())
}

async fn cancel(args: CancelArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let lms = lms_pool(settings).await?;
    let run_id = pick_run(&lms, args.selector.run).await?;
    let request = action_request(args.request_id);
    let progress = lms_engine::control::cancel_run(&lms, run_id, request.as_ref()).await?;
    if progress.status == RunStatus::Cancelled {
        println!("Run {run_id} is cancelled.");
    } else {
        println!(
            "Run {run_id} is cancelling: chunks in progress finish first. \
             Follow it with `lmsctl migrate status --run {run_id}`."
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn undo(args: UndoArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let lms = lms_pool(settings).await?;
    let request = action_request(args.request_id);
    let progress = lms_engine::undo::undo_run(&lms, args.run, request.as_ref()).await?;
    println!(
        "Run {} is {}: the LMS rows and ledger rows it changed are as they were before it. \
         The next run compares every staged row with the ledger once.",
        args.run, progress.status
    );
    Ok(ExitCode::SUCCESS)
}

/// An approval's, cancel's or undo's request id, sent as the command line.
fn action_request(request_id: Option<String>) -> Option<ActionRequest> {
    request_id.map(|id| ActionRequest::new(id, COMMAND_LINE_CALLER))
}

async fn retry(args: RetryArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let engine = connect_engine(settings, "lmsctl".to_owned(), settings.worker.concurrency)
        .await
        .context("connecting to the databases")?;
    let queue = connect_queue(settings)
        .await
        .with_context(|| format!("connecting to Redis at {}", settings.redis.url))?;
    let planned = lms_engine::control::retry_rejected(
        &engine.lms,
        &engine.legacy,
        &queue,
        RetryRequest {
            only: &args.entities,
            chunk_size: settings.migration.chunk_size,
            max_chunks: settings.migration.max_chunks,
            request_id: args.request_id.clone(),
            caller: COMMAND_LINE_CALLER,
        },
    )
    .await?;
    println!("Started retry run {}.", planned.run_id);
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let mut display = ProgressDisplay::new();
    let finished = follow_run(&engine.lms, planned.run_id, |progress| {
        display.update(progress)
    })
    .await?;
    display.finish(&finished);
    verdict(&engine.lms, planned.run_id).await
}
