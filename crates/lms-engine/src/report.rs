//! The coverage report: for every legacy table of a run, what became of
//! every row, and what the run changed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use lms_domain::LegacyEntity;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::coverage::{self, EntityCoverage};
use crate::error::{DatabaseContext, EngineError};

/// A run's report (the `--format json` of `lmsctl migrate report`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageReport {
    pub run_id: Uuid,
    pub status: String,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub entities: Vec<EntityReport>,
}

/// One legacy table in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityReport {
    /// The legacy table's name.
    pub entity: String,
    pub legacy_rows: i64,
    pub migrated: i64,
    pub merged: i64,
    pub rejected: BTreeMap<String, i64>,
    pub warnings: BTreeMap<String, i64>,
    pub unexplained: i64,
    pub target_rows: i64,
    pub derived: BTreeMap<String, i64>,
    pub changes: Changes,
}

/// What a run changed in one table, by legacy row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub source_deleted: i64,
}

impl EntityReport {
    pub fn rejected_total(&self) -> i64 {
        self.rejected.values().sum()
    }

    /// Rows with an outcome: migrated, merged or rejected.
    pub fn explained(&self) -> i64 {
        self.migrated + self.merged + self.rejected_total()
    }
}

impl CoverageReport {
    /// Unexplained rows over all tables.
    pub fn unexplained(&self) -> i64 {
        self.entities.iter().map(|entity| entity.unexplained).sum()
    }
}

/// Builds the report of a run. Tables the run has not finished are counted
/// live from the ledger and the staged rows.
pub async fn build(lms: &PgPool, run_id: Uuid) -> Result<CoverageReport, EngineError> {
    let run = sqlx::query(
        "SELECT status, error, created_at, finished_at, entities FROM migration.runs WHERE id = $1",
    )
    .bind(run_id)
    .fetch_optional(lms)
    .await
    .lms()?
    .ok_or(EngineError::UnknownRun(run_id))?;
    let names: Vec<String> = run.try_get(4).lms()?;
    let steps = sqlx::query(
        "SELECT s.entity, s.phase, s.stats, \
                coalesce(sum((c.stats->>'rows')::bigint), 0)::bigint, \
                coalesce(sum((c.stats->>'created')::bigint), 0)::bigint, \
                coalesce(sum((c.stats->>'updated')::bigint), 0)::bigint, \
                coalesce(sum((c.stats->>'unchanged')::bigint), 0)::bigint, \
                coalesce(sum((c.stats->>'source_deleted')::bigint), 0)::bigint \
         FROM migration.run_steps s LEFT JOIN migration.chunks c ON c.step_id = s.id AND c.state = 'done' \
         WHERE s.run_id = $1 GROUP BY s.id",
    )
    .bind(run_id)
    .fetch_all(lms)
    .await
    .lms()?;
    let mut entities = Vec::new();
    for name in &names {
        let entity: LegacyEntity =
            name.parse()
                .map_err(|error: lms_domain::entity::UnknownEntity| {
                    EngineError::Invariant(error.to_string())
                })?;
        let mut changes = Changes::default();
        let mut staged_rows = 0;
        let mut finished: Option<EntityCoverage> = None;
        for step in steps
            .iter()
            .filter(|step| step.try_get::<String, _>(0).is_ok_and(|e| &e == name))
        {
            let phase: String = step.try_get(1).lms()?;
            match phase.as_str() {
                "stage" => staged_rows = step.try_get(3).lms()?,
                "resolve" => changes.source_deleted = step.try_get(7).lms()?,
                "apply" => {
                    changes.created = step.try_get(4).lms()?;
                    changes.updated = step.try_get(5).lms()?;
                    changes.unchanged = step.try_get(6).lms()?;
                }
                "finalize" => {
                    let stats: serde_json::Value = step.try_get(2).lms()?;
                    if stats.as_object().is_some_and(|object| !object.is_empty()) {
                        finished = serde_json::from_value(stats).ok();
                    }
                }
                _ => {}
            }
        }
        let coverage = match finished {
            Some(coverage) => coverage,
            None => {
                let mut conn = lms.acquire().await.lms()?;
                let mut live = coverage::count(&mut conn, entity).await?;
                live.legacy_rows = staged_rows;
                live.unexplained =
                    (staged_rows - (live.migrated + live.merged + live.rejected_total())).max(0);
                live
            }
        };
        entities.push(EntityReport {
            entity: name.clone(),
            legacy_rows: coverage.legacy_rows,
            migrated: coverage.migrated,
            merged: coverage.merged,
            rejected: coverage.rejected,
            warnings: coverage.warnings,
            unexplained: coverage.unexplained,
            target_rows: coverage.target_rows,
            derived: coverage.derived,
            changes,
        });
    }
    Ok(CoverageReport {
        run_id,
        status: run.try_get(0).lms()?,
        error: run.try_get(1).lms()?,
        started_at: run.try_get(2).lms()?,
        finished_at: run.try_get(3).lms()?,
        entities,
    })
}

/// The most recent run, if any.
pub async fn latest_run(lms: &PgPool) -> Result<Option<Uuid>, EngineError> {
    let row =
        sqlx::query("SELECT id FROM migration.runs ORDER BY created_at DESC, id DESC LIMIT 1")
            .fetch_optional(lms)
            .await
            .lms()?;
    row.map(|row| row.try_get(0)).transpose().lms()
}

fn thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if value < 0 { format!("-{out}") } else { out }
}

fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        return "n/a".to_owned();
    }
    #[allow(clippy::cast_precision_loss)]
    let share = part as f64 * 100.0 / whole as f64;
    format!("{share:.1}%")
}

/// What the target of a legacy table is called, in prose.
fn target_noun(entity: &str) -> &'static str {
    match entity {
        "journal" => "enrollments",
        "exam_results" => "submissions",
        "teachers" => "staff members",
        "exams" => "assessments",
        "groups" => "student groups",
        "organizations" => "organizations",
        "persons" => "persons",
        "users" => "users",
        "subjects" => "subjects",
        "students" => "students",
        _ => "rows",
    }
}

fn summary(entity: &EntityReport) -> String {
    let mut parts = vec![format!(
        "{} {} in LMS ({} of rows migrated)",
        thousands(entity.target_rows),
        target_noun(&entity.entity),
        percent(entity.migrated, entity.legacy_rows)
    )];
    if entity.merged > 0 {
        parts.push(format!(
            "{} merged into survivors",
            thousands(entity.merged)
        ));
    }
    for (reason, count) in &entity.rejected {
        parts.push(format!("{} rejected ({reason})", thousands(*count)));
    }
    let mut notes: Vec<String> = entity
        .warnings
        .iter()
        .map(|(code, count)| format!("{code} {}", thousands(*count)))
        .collect();
    notes.extend(
        entity
            .derived
            .iter()
            .map(|(name, count)| format!("{} {name}", thousands(*count))),
    );
    let mut text = parts.join(", ");
    if !notes.is_empty() {
        let _ = write!(text, "; {}", notes.join(", "));
    }
    if entity.unexplained > 0 {
        let _ = write!(
            text,
            "; **{} rows unexplained**",
            thousands(entity.unexplained)
        );
    } else {
        text.push_str("; every row accounted for");
    }
    text
}

/// The report as Markdown: the analysis report's table, regenerated from the
/// ledger, then the full numbers.
pub fn to_markdown(report: &CoverageReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Migration coverage: run {} ({})\n",
        report.run_id, report.status
    );
    if let Some(error) = &report.error {
        let _ = writeln!(out, "> {error}\n");
    }
    let _ = writeln!(out, "| legacy table | rows | what this run saw |");
    let _ = writeln!(out, "|---|---:|---|");
    for entity in &report.entities {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            entity.entity,
            thousands(entity.legacy_rows),
            summary(entity)
        );
    }
    let _ = writeln!(
        out,
        "\n| legacy table | legacy rows | migrated | merged | rejected | unexplained | LMS rows | created | updated | unchanged | source deleted |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for entity in &report.entities {
        let changes = entity.changes;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            entity.entity,
            thousands(entity.legacy_rows),
            thousands(entity.migrated),
            thousands(entity.merged),
            thousands(entity.rejected_total()),
            thousands(entity.unexplained),
            thousands(entity.target_rows),
            thousands(changes.created),
            thousands(changes.updated),
            thousands(changes.unchanged),
            thousands(changes.source_deleted),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_like_the_analysis_report() {
        assert_eq!(thousands(510_269), "510,269");
        assert_eq!(thousands(56), "56");
        assert_eq!(thousands(-1_000), "-1,000");
        assert_eq!(percent(94_558, 510_269), "18.5%");
        assert_eq!(percent(1, 0), "n/a");
    }
}
