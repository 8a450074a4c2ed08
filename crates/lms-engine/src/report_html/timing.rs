//! The page's timings: for every table and phase, when it ran and for how
//! long, drawn on the run's time line.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::{Hook, ReportPage, count, seconds};
use crate::plan::Phase;
use crate::report::{StepTiming, seconds_between};

/// The stretch of time the time lines cover: the run's start to its end,
/// or to the last step that ended while it is still going.
fn run_span(page: &ReportPage) -> Option<(DateTime<Utc>, f64)> {
    let start = page.report.started_at;
    let end = page
        .report
        .finished_at
        .or_else(|| page.steps.iter().filter_map(|step| step.finished_at).max())?;
    let length = seconds_between(start, end);
    (length > 0.0).then_some((start, length))
}

/// One step's place on the run's time line, as CSS percentages.
fn placement(step: &StepTiming, span: Option<(DateTime<Utc>, f64)>) -> Option<String> {
    let (run_start, length) = span?;
    let start = step.first_chunk_started_at.or(step.ready_at)?;
    let offset = seconds_between(run_start, start).max(0.0);
    let elapsed = step.elapsed_seconds()?.max(0.0);
    let left = (offset / length * 100.0).min(100.0);
    let width = (elapsed / length * 100.0).min(100.0 - left);
    Some(format!("left: {left:.3}%; width: {width:.3}%"))
}

pub(super) fn timings(page: &ReportPage) -> Markup {
    let span = run_span(page);
    html! {
        section #timings {
            h2 { "Timings" }
            p.note {
                "Per table and phase: chunks, the wait from ready (its dependencies done) to its first chunk, "
                "the time from its first chunk to its end, the chunks' working time added up (more than elapsed when chunks ran in parallel), "
                "and its slowest chunk. The bar places the step on the run's time line."
            }
            div.legend {
                @for phase in Phase::ALL {
                    span { i class={ "phase-" (phase.as_str()) } {} (phase.as_str()) }
                }
            }
            table {
                thead { tr {
                    th { "legacy table" } th { "phase" } th { "state" } th.n { "chunks" }
                    th.n { "waited" } th.n { "elapsed" } th.n { "chunk time" } th.n { "slowest chunk" }
                    th { "time line" }
                } }
                tbody {
                    @for (index, step) in page.steps.iter().enumerate() {
                        @let first = index == 0 || page.steps[index - 1].entity != step.entity;
                        @let rows = page.steps[index..].iter().take_while(|next| next.entity == step.entity).count();
                        (step_row(step, first.then_some(rows), span))
                    }
                }
            }
        }
    }
}

/// One step; the first of its table carries the table's name across `rows`.
fn step_row(step: &StepTiming, rows: Option<usize>, span: Option<(DateTime<Utc>, f64)>) -> Markup {
    let hook = |field| Hook::entity(&step.entity, field).phase(step.phase.as_str());
    let waited = step
        .ready_at
        .zip(step.first_chunk_started_at)
        .map(|(ready, started)| seconds_between(ready, started).max(0.0));
    html! {
        tr {
            @if let Some(rows) = rows {
                td rowspan=(rows) { strong { (step.entity) } }
            }
            td { (step.phase) }
            td { (step.state) }
            td.n { (count(hook("timing.chunks"), step.chunks)) }
            td.n { (optional_seconds(hook("timing.waited_seconds"), waited)) }
            td.n { (optional_seconds(hook("timing.elapsed_seconds"), step.elapsed_seconds())) }
            td.n { (seconds(hook("timing.busy_seconds"), step.busy_seconds)) }
            td.n { (seconds(hook("timing.slowest_chunk_seconds"), step.slowest_chunk_seconds)) }
            td {
                div.timeline {
                    @if let Some(style) = placement(step, span) {
                        span class={ "phase-" (step.phase) } style=(style) {}
                    }
                }
            }
        }
    }
}

fn optional_seconds(hook: Hook<'_>, value: Option<f64>) -> Markup {
    match value {
        Some(value) => seconds(hook, value),
        None => html! { span.muted { "–" } },
    }
}
