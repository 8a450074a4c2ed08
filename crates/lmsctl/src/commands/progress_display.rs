//! Live progress of a run: a bar per legacy table on a terminal; in a pipe
//! or a log, plain lines, one per table when its phase changes and at most
//! every [`LINE_EVERY`] in between, so a log stays readable.
//!
//! The bars and lines count legacy rows: a table's rows pass through two
//! chunked phases, stage and apply (a dry run stages only), and each done
//! chunk records how many rows it covered. Until the stage is done, the
//! table's total is estimated (shown with a `~`): the rows staged so far
//! plus `chunk_size` for each stage chunk still to come (the plan cut the
//! table into chunks of that many rows). Resolve and finalize, one job per
//! table, count no rows. A table's rows per second are its rows through
//! both passes (a row staged and not yet applied counts half) over the time
//! since the run started, waits for other tables included; its ETA is for
//! the rest of its rows at that rate.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use lms_engine::progress_view::EntityProgress;
use lms_engine::{Phase, RunProgress, StepState};

use super::output;

/// In a pipe, a table that keeps progressing in one phase prints a line at
/// most this often.
pub const LINE_EVERY: Duration = Duration::from_secs(5);

/// Shows run progress as it changes.
pub struct ProgressDisplay {
    bars: Option<Bars>,
    tables: HashMap<String, TableWatch>,
    finished: bool,
}

struct Bars {
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
    colour: bool,
}

/// What lmsctl remembers of one table between updates.
struct TableWatch {
    printed: Option<Printed>,
}

/// The table's last plain line.
struct Printed {
    milestone: String,
    at: Instant,
    chunks_done: i64,
}

/// One table's state, as a line and as a bar.
#[derive(Debug, Clone, PartialEq)]
struct Observed {
    entity: String,
    /// Row passes done and in all: a row counts once staged, once applied.
    passes_done: u64,
    passes_total: u64,
    /// The line for a log (or `migrate status`).
    line: String,
    /// The bar's message.
    message: String,
    /// Whether a log should get the line now.
    print: bool,
}

impl ProgressDisplay {
    /// Bars when stdout and stderr are terminals, lines otherwise.
    pub fn new() -> Self {
        if output::live_bars() {
            ProgressDisplay {
                bars: Some(Bars {
                    multi: MultiProgress::new(),
                    bars: HashMap::new(),
                    colour: lms_runtime::terminal::colour(&std::io::stderr()),
                }),
                tables: HashMap::new(),
                finished: false,
            }
        } else {
            Self::plain()
        }
    }

    pub fn plain() -> Self {
        ProgressDisplay {
            bars: None,
            tables: HashMap::new(),
            finished: false,
        }
    }

    pub fn update(&mut self, progress: &RunProgress) {
        // The run's time so far, or in all once it ended; none when this
        // machine's clock is behind the database's.
        let until = progress
            .finished_at
            .map_or_else(SystemTime::now, SystemTime::from);
        let elapsed = until
            .duration_since(SystemTime::from(progress.started_at))
            .ok();
        let observed = self.observe(
            &progress.entities,
            progress.chunk_size,
            elapsed,
            Instant::now(),
        );
        match &mut self.bars {
            Some(bars) => {
                for table in observed {
                    bars.show(&table);
                }
            }
            None => {
                for table in observed.into_iter().filter(|table| table.print) {
                    println!("{}", table.line);
                }
            }
        }
        if progress.is_finished() {
            self.finish(progress);
        }
    }

    pub fn finish(&mut self, progress: &RunProgress) {
        if let Some(bars) = &self.bars {
            for bar in bars.bars.values() {
                bar.finish();
            }
        }
        if !self.finished {
            println!("run {} {}", progress.run_id, progress.status);
            self.finished = true;
        }
    }

    /// Each table's state `elapsed` after the run started (at `now`), and
    /// whether a log should get its line.
    fn observe(
        &mut self,
        entities: &[EntityProgress],
        chunk_size: i32,
        elapsed: Option<Duration>,
        now: Instant,
    ) -> Vec<Observed> {
        let mut observed = Vec::with_capacity(entities.len());
        for entity in entities {
            let (chunks_done, chunks_total) = entity.phases.iter().fold((0, 0), |(d, t), phase| {
                (
                    d + i64::from(phase.chunks_done),
                    t + i64::from(phase.chunks_total),
                )
            });
            let rows = Rows::of(entity, chunk_size);
            let current = entity
                .phases
                .iter()
                .find(|phase| phase.state != StepState::Done);
            let milestone = match current {
                None => "done".to_owned(),
                Some(phase) if matches!(phase.state, StepState::Failed | StepState::Cancelled) => {
                    format!("{} {}", phase.phase, phase.state)
                }
                Some(phase) => phase.phase.as_str().to_owned(),
            };
            let watch = self
                .tables
                .entry(entity.entity.as_str().to_owned())
                .or_insert_with(|| TableWatch { printed: None });
            let (passes_done, passes_total) = rows.passes();
            let passes = rows.pass_count() as f64;
            let rate =
                elapsed.and_then(|elapsed| rows_per_second(passes_done as f64 / passes, elapsed));
            let remaining = passes_total.saturating_sub(passes_done) as f64 / passes;
            let speed = format!(
                "{}, {} rows/s, ETA {}",
                rows.describe(),
                rate.map_or_else(|| "-".to_owned(), |rate| thousands(rate.round() as u64)),
                eta(remaining, rate).map_or_else(|| "-".to_owned(), short_duration),
            );
            let line = format!(
                "{:<14} {milestone:<9} {chunks_done}/{chunks_total} chunks, {speed} ({}){}",
                entity.entity.as_str(),
                entity
                    .phases
                    .iter()
                    .map(|phase| format!(
                        "{} {}/{}",
                        phase.phase, phase.chunks_done, phase.chunks_total
                    ))
                    .collect::<Vec<_>>()
                    .join(", "),
                entity
                    .load_path
                    .map(|path| format!(" [{path}]"))
                    .unwrap_or_default()
            );
            let print = match &watch.printed {
                None => true,
                Some(printed) => {
                    printed.milestone != milestone
                        || (printed.chunks_done != chunks_done
                            && now.saturating_duration_since(printed.at) >= LINE_EVERY)
                }
            };
            if print {
                watch.printed = Some(Printed {
                    milestone: milestone.clone(),
                    at: now,
                    chunks_done,
                });
            }
            observed.push(Observed {
                entity: entity.entity.as_str().to_owned(),
                passes_done,
                passes_total,
                line,
                message: format!("{milestone:<9} {speed}"),
                print,
            });
        }
        observed
    }
}

impl Bars {
    fn show(&mut self, table: &Observed) {
        let template = if self.colour {
            "{prefix:<14} [{bar:30.cyan/blue}] {msg}"
        } else {
            "{prefix:<14} [{bar:30}] {msg}"
        };
        let bar = self.bars.entry(table.entity.clone()).or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new(table.passes_total));
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(table.entity.clone());
            bar
        });
        bar.set_length(table.passes_total);
        bar.set_position(table.passes_done);
        bar.set_message(table.message.clone());
    }
}

/// A table's legacy rows through its two chunked phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rows {
    staged: u64,
    /// None when the run has no apply phase (a dry run).
    applied: Option<u64>,
    /// The table's rows: exact once its stage is done, else estimated.
    total: u64,
    estimated: bool,
}

impl Rows {
    fn of(entity: &EntityProgress, chunk_size: i32) -> Rows {
        let phase = |wanted: Phase| entity.phases.iter().find(|phase| phase.phase == wanted);
        let rows = |phase: &lms_engine::progress_view::PhaseProgress| {
            u64::try_from(phase.rows_done).unwrap_or(0)
        };
        let (staged, chunks_to_stage) = phase(Phase::Stage).map_or((0, 0), |stage| {
            (
                rows(stage),
                u64::try_from(stage.chunks_total.saturating_sub(stage.chunks_done)).unwrap_or(0),
            )
        });
        let applied = phase(Phase::Apply).map(rows);
        Rows {
            staged,
            applied,
            total: staged + chunks_to_stage * u64::try_from(chunk_size).unwrap_or(0),
            estimated: chunks_to_stage > 0,
        }
    }

    /// 1, or 2 with an apply phase.
    fn pass_count(&self) -> u64 {
        if self.applied.is_some() { 2 } else { 1 }
    }

    /// Row passes done and in all.
    fn passes(&self) -> (u64, u64) {
        (
            self.staged + self.applied.unwrap_or(0),
            self.total * self.pass_count(),
        )
    }

    /// `1,500 staged, 0 applied of ~5,500 rows`.
    fn describe(&self) -> String {
        let total = format!(
            "{}{}",
            if self.estimated { "~" } else { "" },
            thousands(self.total)
        );
        match self.applied {
            Some(applied) => format!(
                "{} staged, {} applied of {total} rows",
                thousands(self.staged),
                thousands(applied)
            ),
            None => format!("{} staged of {total} rows", thousands(self.staged)),
        }
    }
}

/// Rows per second over `elapsed`; none before any row or any time.
fn rows_per_second(rows: f64, elapsed: Duration) -> Option<f64> {
    let seconds = elapsed.as_secs_f64();
    (rows > 0.0 && seconds > 0.0).then(|| rows / seconds)
}

/// How long `remaining` rows take at `rate`; none without a rate (zero
/// when nothing remains).
fn eta(remaining: f64, rate: Option<f64>) -> Option<Duration> {
    if remaining <= 0.0 {
        return Some(Duration::ZERO);
    }
    let rate = rate?;
    Duration::try_from_secs_f64(remaining / rate).ok()
}

/// `7s`, `2m05s`, `1h02m`.
fn short_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
    }
}

/// `1234567` as `1,234,567`.
fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use lms_domain::LegacyEntity;
    use lms_engine::bulk::LoadPath;
    use lms_engine::progress_view::PhaseProgress;

    use super::*;

    /// Journal in 20 chunks of 1,000 rows, the last one 500: 19,500 rows.
    fn journal(stage: i32, resolve: i32, apply: i32) -> EntityProgress {
        let phase = |phase: Phase, done: i32, total: i32| PhaseProgress {
            phase,
            state: if done == total {
                StepState::Done
            } else {
                StepState::Ready
            },
            chunks_done: done,
            chunks_total: total,
            rows_done: match phase {
                Phase::Stage | Phase::Apply if done == total => 19_500,
                Phase::Stage | Phase::Apply => i64::from(done) * 1000,
                Phase::Resolve | Phase::Finalize => 0,
            },
        };
        EntityProgress {
            entity: LegacyEntity::Journal,
            load_path: Some(LoadPath::Bulk),
            load_reason: None,
            phases: vec![
                phase(Phase::Stage, stage, 20),
                phase(Phase::Resolve, resolve, 1),
                phase(Phase::Apply, apply, 20),
                phase(Phase::Finalize, 0, 1),
            ],
        }
    }

    fn line_after(entity: EntityProgress, seconds: u64) -> String {
        let mut display = ProgressDisplay::plain();
        let observed = display.observe(
            &[entity],
            1000,
            Some(Duration::from_secs(seconds)),
            Instant::now(),
        );
        observed[0].line.clone()
    }

    #[test]
    fn while_staging_the_total_is_estimated_from_the_chunks_to_come() {
        let line = line_after(journal(10, 0, 0), 2);
        // 10,000 of 2 × ~20,000 row passes in 2 s: 2,500 rows through
        // both a second, 15,000 rows to go.
        assert!(
            line.contains("10,000 staged, 0 applied of ~20,000 rows, 2,500 rows/s, ETA 6s"),
            "{line}"
        );
    }

    #[test]
    fn once_staged_the_total_is_exact() {
        let line = line_after(journal(20, 1, 10), 10);
        // 29,500 of 39,000 row passes in 10 s: 1,475 rows a second, 4,750
        // rows to go.
        assert!(
            line.contains("19,500 staged, 10,000 applied of 19,500 rows, 1,475 rows/s, ETA 3s"),
            "{line}"
        );
    }

    #[test]
    fn a_dry_run_counts_one_pass() {
        let mut entity = journal(20, 0, 0);
        entity.phases.retain(|phase| phase.phase != Phase::Apply);
        let line = line_after(entity, 10);
        assert!(
            line.contains("19,500 staged of 19,500 rows, 1,950 rows/s, ETA 0s"),
            "{line}"
        );
    }

    #[test]
    fn before_any_row_the_rate_and_eta_are_unknown() {
        let mut display = ProgressDisplay::plain();
        let first = display.observe(
            &[journal(0, 0, 0)],
            1000,
            Some(Duration::from_secs(1)),
            Instant::now(),
        );
        assert!(
            first[0].line.contains("- rows/s, ETA -"),
            "{}",
            first[0].line
        );
    }

    #[test]
    fn a_log_gets_a_line_per_phase_change_and_otherwise_at_most_every_few_seconds() {
        let mut display = ProgressDisplay::plain();
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        let mut printed = |stage: i32, resolve: i32, seconds: u64| {
            display.observe(
                &[journal(stage, resolve, 0)],
                1000,
                Some(Duration::from_secs(seconds)),
                at(seconds),
            )[0]
            .print
        };
        assert!(printed(0, 0, 0));
        assert!(!printed(1, 0, 1));
        assert!(!printed(2, 0, 4));
        assert!(printed(3, 0, 5));
        assert!(!printed(3, 0, 30), "no progress, no line");
        assert!(printed(20, 0, 31), "stage done: resolve begins");
        assert!(printed(20, 1, 32));
    }

    #[test]
    fn durations_and_counts_read_as_people_write_them() {
        assert_eq!(short_duration(Duration::from_secs(7)), "7s");
        assert_eq!(short_duration(Duration::from_secs(125)), "2m05s");
        assert_eq!(short_duration(Duration::from_secs(3720)), "1h02m");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
