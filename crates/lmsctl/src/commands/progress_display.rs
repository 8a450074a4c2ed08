//! Live progress of a run: a bar per legacy table on a terminal, plain lines
//! otherwise (logs, CI).

use std::collections::HashMap;
use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use lms_engine::{RunProgress, StepState};

/// Shows run progress as it changes.
pub struct ProgressDisplay {
    bars: Option<(MultiProgress, HashMap<String, ProgressBar>)>,
    last_lines: HashMap<String, String>,
}

impl ProgressDisplay {
    /// Bars when stdout is a terminal, lines otherwise.
    pub fn new() -> Self {
        if std::io::stdout().is_terminal() {
            ProgressDisplay {
                bars: Some((MultiProgress::new(), HashMap::new())),
                last_lines: HashMap::new(),
            }
        } else {
            Self::plain()
        }
    }

    pub fn plain() -> Self {
        ProgressDisplay {
            bars: None,
            last_lines: HashMap::new(),
        }
    }

    pub fn update(&mut self, progress: &RunProgress) {
        for entity in &progress.entities {
            let done: i64 = entity
                .phases
                .iter()
                .map(|phase| i64::from(phase.chunks_done))
                .sum();
            let total: i64 = entity
                .phases
                .iter()
                .map(|phase| i64::from(phase.chunks_total))
                .sum();
            let current = entity
                .phases
                .iter()
                .find(|phase| phase.state != StepState::Done)
                .map_or("done", |phase| phase.phase.as_str());
            let line = format!(
                "{:<14} {current:<9} {done}/{total} chunks ({}){}",
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
            match &mut self.bars {
                Some((multi, bars)) => {
                    let bar = bars
                        .entry(entity.entity.as_str().to_owned())
                        .or_insert_with(|| {
                            let bar =
                                multi.add(ProgressBar::new(u64::try_from(total).unwrap_or(0)));
                            if let Ok(style) = ProgressStyle::with_template(
                                "{prefix:<14} [{bar:30}] {pos}/{len} {msg}",
                            ) {
                                bar.set_style(style.progress_chars("=> "));
                            }
                            bar.set_prefix(entity.entity.as_str());
                            bar
                        });
                    bar.set_length(u64::try_from(total).unwrap_or(0));
                    bar.set_position(u64::try_from(done).unwrap_or(0));
                    bar.set_message(current.to_owned());
                }
                None => {
                    if self.last_lines.get(entity.entity.as_str()) != Some(&line) {
                        println!("{line}");
                        self.last_lines
                            .insert(entity.entity.as_str().to_owned(), line);
                    }
                }
            }
        }
        if progress.is_finished() {
            self.finish(progress);
        }
    }

    pub fn finish(&mut self, progress: &RunProgress) {
        if let Some((_, bars)) = &self.bars {
            for bar in bars.values() {
                bar.finish();
            }
        }
        if !self.last_lines.contains_key("\u{0}finished") {
            println!("run {} {}", progress.run_id, progress.status);
            self.last_lines
                .insert("\u{0}finished".to_owned(), String::new());
        }
    }
}
