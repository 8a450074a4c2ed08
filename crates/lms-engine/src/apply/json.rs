//! The values the three-way delta compares, as `jsonb`: the proposal built
//! from an apply row, and the LMS row now, built the same way from the
//! target. Both are in the target's types (the proposal is cast to each
//! column's declared type, read from the catalog), and the apply runs with
//! `TimeZone` UTC, so equal values give equal documents: timestamps in UTC,
//! numerics at the column's scale, `jsonb` normalised.

use std::collections::HashMap;

use sqlx::{PgConnection, Row};

use super::specs::{ApplySpec, GRADE_PART};
use crate::error::{DatabaseContext, EngineError};

/// Builds the `jsonb` expressions of one table's owned values.
#[derive(Debug)]
pub struct Builders {
    table: &'static str,
    /// (column, declared type) of the owned columns.
    owned: Vec<(&'static str, String)>,
    /// The journal's grade part: (column, apply row expression, type).
    grade: Option<Vec<(&'static str, &'static str, String)>>,
}

impl Builders {
    pub async fn load(tx: &mut PgConnection, spec: &ApplySpec) -> Result<Builders, EngineError> {
        let table = spec.entity.target_table();
        let types = declared_types(tx, table).await?;
        let owned = spec
            .owned
            .iter()
            .map(|column| Ok((*column, declared(&types, table, column)?)))
            .collect::<Result<_, EngineError>>()?;
        let grade = if spec.entity == lms_domain::LegacyEntity::Journal {
            let types = declared_types(tx, "grades").await?;
            Some(
                GRADE_PART
                    .owned
                    .iter()
                    .map(|(column, from)| Ok((*column, *from, declared(&types, "grades", column)?)))
                    .collect::<Result<_, EngineError>>()?,
            )
        } else {
            None
        };
        Ok(Builders {
            table,
            owned,
            grade,
        })
    }

    /// The contract's proposal, from apply row `a`.
    pub fn proposal(&self) -> String {
        let main = object(
            self.owned
                .iter()
                .map(|(column, kind)| (*column, format!("a.{column}::{kind}"))),
        );
        let grade = self.grade.as_ref().map(|part| {
            let values = object(part.iter().map(|(column, from, kind)| {
                (*column, format!("{}::{kind}", from_apply_row(from)))
            }));
            format!("CASE WHEN a.grade_raw IS NULL THEN NULL ELSE {values} END")
        });
        self.document(&main, grade.as_deref())
    }

    /// The LMS row `alias` now; the journal's grade part is the live grade
    /// whose id `grade_id` gives.
    pub fn current(&self, alias: &str, grade_id: &str) -> String {
        let main = object(
            self.owned
                .iter()
                .map(|(column, _)| (*column, format!("{alias}.{column}"))),
        );
        let grade = self.grade.as_ref().map(|part| {
            let values = object(
                part.iter()
                    .map(|(column, _, _)| (*column, format!("cg.{column}"))),
            );
            format!(
                "(SELECT {values} FROM grades cg WHERE cg.id = {grade_id} AND cg.source_deleted_at IS NULL)"
            )
        });
        self.document(&main, grade.as_deref())
    }

    /// The final grade born in the LMS of adopted enrollment `x`, which
    /// the journal row takes on with it.
    pub fn adopted_grade_id(&self) -> String {
        if self.grade.is_some() {
            "(SELECT ag.id FROM grades ag WHERE ag.enrollment_id = x.id AND ag.legacy_id IS NULL \
              AND ag.kind = 'final' AND ag.source_deleted_at IS NULL LIMIT 1)"
                .to_owned()
        } else {
            "NULL::bigint".to_owned()
        }
    }

    fn document(&self, main: &str, grade: Option<&str>) -> String {
        match grade {
            Some(grade) => format!(
                "jsonb_build_object('{}', {main}, 'grades', {grade})",
                self.table
            ),
            None => format!("jsonb_build_object('{}', {main})", self.table),
        }
    }
}

/// An apply row column (`grade_raw`) as `a.grade_raw`; a literal stays.
pub fn from_apply_row(from: &str) -> String {
    if from.starts_with('\'') {
        from.to_owned()
    } else {
        format!("a.{from}")
    }
}

fn object(pairs: impl Iterator<Item = (&'static str, String)>) -> String {
    let arguments: Vec<String> = pairs
        .map(|(key, value)| format!("'{key}', {value}"))
        .collect();
    format!("jsonb_build_object({})", arguments.join(", "))
}

async fn declared_types(
    tx: &mut PgConnection,
    table: &str,
) -> Result<HashMap<String, String>, EngineError> {
    let rows = sqlx::query(
        "SELECT attname::text AS name, format_type(atttypid, atttypmod) AS declared \
         FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
    )
    .bind(format!("public.{table}"))
    .fetch_all(&mut *tx)
    .await
    .lms()?;
    rows.iter()
        .map(|row| Ok((row.try_get("name").lms()?, row.try_get("declared").lms()?)))
        .collect()
}

fn declared(
    types: &HashMap<String, String>,
    table: &str,
    column: &str,
) -> Result<String, EngineError> {
    types.get(column).cloned().ok_or_else(|| {
        EngineError::Invariant(format!(
            "the LMS schema has no column {table}.{column}; is it up to date?"
        ))
    })
}
