//! The coverage report as one self-contained HTML page (`lmsctl migrate
//! report --format html`): inline CSS, no scripts, nothing fetched.
//!
//! Legacy data is dirty (quotes, angle brackets, any script), so every
//! string goes through maud's escaping; nothing is concatenated into markup
//! by hand. Every number on the page sits in an element with a
//! machine-readable hook (`data-entity`, `data-field`, and `data-key` for a
//! reason, warning code or derived count, `data-phase` for timings,
//! `data-scope="run"` for run-wide numbers) and its raw value in
//! `data-value`, so tools and tests can read the page back.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sqlx::PgPool;

use crate::error::EngineError;
use crate::plan::RunKind;
use crate::progress_view::run_progress;
use crate::report::{
    self, CoverageReport, RejectionExamples, StepTiming, percent, rejection_examples, step_timings,
    thousands,
};
use crate::state::RunStatus;
use crate::verify::VerifyReport;

mod hold;
mod tables;
mod timing;
mod verification;

/// Rejected rows shown per table and reason.
pub const EXAMPLES_PER_REASON: i64 = 5;

const STYLE: &str = include_str!("report_html/page.css");

/// Everything the page shows about one run.
#[derive(Debug, Clone)]
pub struct ReportPage {
    pub report: CoverageReport,
    /// `full`, `retry_rejected` or `dry_run`.
    pub kind: RunKind,
    pub chunk_size: i32,
    pub examples: RejectionExamples,
    pub steps: Vec<StepTiming>,
    /// A verification against legacy, when one was asked for
    /// (`lmsctl migrate report --format html --verify`).
    pub verification: Option<VerifyReport>,
}

impl ReportPage {
    /// Adds a run's rejection examples and timings to its report.
    pub async fn build(lms: &PgPool, report: CoverageReport) -> Result<ReportPage, EngineError> {
        let progress = run_progress(lms, report.run_id).await?;
        let entities: Vec<String> = report
            .entities
            .iter()
            .map(|entity| entity.entity.clone())
            .collect();
        let examples = rejection_examples(lms, &entities, EXAMPLES_PER_REASON).await?;
        let steps = step_timings(lms, report.run_id).await?;
        Ok(ReportPage {
            report,
            kind: progress.kind,
            chunk_size: progress.chunk_size,
            examples,
            steps,
            verification: None,
        })
    }
}

/// The page as a complete HTML document.
pub fn render(page: &ReportPage) -> String {
    let report = &page.report;
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Migration coverage: run " (report.run_id) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                (header(page))
                @if let Some(preview) = &report.hold {
                    (hold::section(preview, report.status))
                }
                (tables::coverage(report))
                (tables::changes(report))
                (tables::conflicts(report))
                (tables::rejections(report, &page.examples))
                (tables::warnings(report))
                (timing::timings(page))
                @if let Some(verification) = &page.verification {
                    (verification::section(verification))
                }
            }
        }
    }
    .into_string()
}

fn header(page: &ReportPage) -> Markup {
    let report = &page.report;
    let unexplained = report.unexplained();
    let duration = report
        .finished_at
        .map(|finished| report::seconds_between(report.started_at, finished));
    html! {
        header {
            h1 { "Migration coverage" }
            dl.run {
                dt { "run" } dd { code { (report.run_id) } }
                dt { "status" }
                dd { span class={ "status status-" (report.status) } { (report.status) } }
                dt { "kind" } dd { (page.kind) }
                dt { "chunk size" }
                dd { (count(Hook::run("run.chunk_size"), i64::from(page.chunk_size))) " legacy rows" }
                dt { "started" } dd { (timestamp(report.started_at)) }
                dt { "finished" }
                dd {
                    @match report.finished_at {
                        Some(finished) => (timestamp(finished)),
                        None => span.muted { "not yet" },
                    }
                }
                dt { "duration" }
                dd {
                    @match duration {
                        Some(seconds) => (self::seconds(Hook::run("run.duration_seconds"), seconds)),
                        None => span.muted { "still running" },
                    }
                }
            }
            @if let Some(error) = &report.error {
                p.error { "Error: " (error) }
            }
            @if report.status != RunStatus::Succeeded {
                p.verdict.bad {
                    "The run is " (report.status) ": its counts are not final, and only a succeeded run accounts for every legacy row."
                }
            } @else if unexplained == 0 {
                p.verdict.ok { "Every legacy row is accounted for: migrated, merged or rejected with a reason." }
            } @else {
                p.verdict.bad {
                    (count(Hook::run("unexplained"), unexplained))
                    " legacy rows are unexplained: they have no outcome in the ledger."
                }
            }
        }
    }
}

fn timestamp(at: DateTime<Utc>) -> Markup {
    html! {
        time datetime=(at.to_rfc3339()) { (at.format("%Y-%m-%d %H:%M:%S%.3f UTC")) }
    }
}

/// Where a number belongs: the attributes that let a program find it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hook<'a> {
    entity: Option<&'a str>,
    field: &'a str,
    key: Option<&'a str>,
    phase: Option<&'a str>,
}

impl<'a> Hook<'a> {
    /// A number of one legacy table.
    pub(crate) fn entity(entity: &'a str, field: &'a str) -> Hook<'a> {
        Hook {
            entity: Some(entity),
            field,
            key: None,
            phase: None,
        }
    }

    /// A number of the whole run.
    pub(crate) fn run(field: &'a str) -> Hook<'a> {
        Hook {
            entity: None,
            field,
            key: None,
            phase: None,
        }
    }

    /// Narrowed to a reason, warning code or derived count.
    pub(crate) fn key(self, key: &'a str) -> Hook<'a> {
        Hook {
            key: Some(key),
            ..self
        }
    }

    /// Narrowed to one phase of the table.
    pub(crate) fn phase(self, phase: &'a str) -> Hook<'a> {
        Hook {
            phase: Some(phase),
            ..self
        }
    }
}

fn hooked(hook: Hook<'_>, value: &str, text: &str) -> Markup {
    let scope = hook.entity.is_none().then_some("run");
    html! {
        span data-entity=[hook.entity] data-scope=[scope] data-field=(hook.field)
            data-key=[hook.key] data-phase=[hook.phase] data-value=(value) { (text) }
    }
}

/// A count, with thousands separators.
pub(crate) fn count(hook: Hook<'_>, value: i64) -> Markup {
    hooked(hook, &value.to_string(), &thousands(value))
}

/// A legacy id, as written in the legacy table (no separators).
pub(crate) fn id(hook: Hook<'_>, value: i64) -> Markup {
    let text = value.to_string();
    hooked(hook, &text, &text)
}

/// `part` as a percentage of `whole`.
pub(crate) fn share(hook: Hook<'_>, part: i64, whole: i64) -> Markup {
    let text = percent(part, whole);
    hooked(hook, text.trim_end_matches('%'), &text)
}

/// A duration: seconds in `data-value`, readable text on the page.
pub(crate) fn seconds(hook: Hook<'_>, value: f64) -> Markup {
    hooked(hook, &format!("{value:.3}"), &readable_duration(value))
}

/// `0.42 s`, `12.3 s`, `4 min 05 s`, `1 h 02 min`.
fn readable_duration(seconds: f64) -> String {
    if seconds < 10.0 {
        return format!("{seconds:.2} s");
    }
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let whole = seconds.round() as u64;
    if whole < 3600 {
        format!("{} min {:02} s", whole / 60, whole % 60)
    } else {
        format!("{} h {:02} min", whole / 3600, whole % 3600 / 60)
    }
}

#[cfg(test)]
mod tests;
