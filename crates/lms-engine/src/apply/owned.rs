//! The values the three-way delta compares: per legacy table, the composite
//! type `migration.owned_<table>` (the schema's one definition of what the
//! migration owns in an LMS row, in the target columns' types). The
//! proposal is that type built from an apply row, the LMS row now the same
//! type built from the target row (and, for the journal, its final grade),
//! the baselines read back from the ledger: `written` is the type's text
//! form (cast back), `proposed` a `jsonb` object of it (read by
//! `jsonb_populate_record`). Typed values compare as the LMS stores them:
//! numerics by value at the column's scale, timestamps as instants, `jsonb`
//! as `jsonb`.

use lms_domain::LegacyEntity;
use sqlx::{PgConnection, Row};

use crate::error::{DatabaseContext, EngineError};

/// A journal row's grade fields are its final grade's columns, prefixed.
const GRADE_PREFIX: &str = "grade_";

/// The composite type of `entity`'s owned values (a baseline casts to it).
pub fn owned_type(entity: LegacyEntity) -> String {
    format!("migration.owned_{}", entity.as_str())
}

/// One legacy table's owned values.
#[derive(Debug)]
pub struct Owned {
    type_name: String,
    /// The type's fields, in order.
    fields: Vec<String>,
    /// Whether a field is a `timestamptz`, whose text form (the baseline's)
    /// depends on the session's `TimeZone`.
    holds_instants: bool,
}

impl Owned {
    /// Reads the type's fields from the catalog.
    pub async fn load(tx: &mut PgConnection, entity: LegacyEntity) -> Result<Owned, EngineError> {
        let type_name = owned_type(entity);
        let rows = sqlx::query(
            "SELECT a.attname::text AS field, a.atttypid = 'timestamptz'::regtype AS instant \
             FROM pg_type t JOIN pg_attribute a ON a.attrelid = t.typrelid \
             WHERE t.oid = $1::regtype AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        )
        .bind(&type_name)
        .fetch_all(&mut *tx)
        .await
        .lms()?;
        let mut fields = Vec::with_capacity(rows.len());
        let mut holds_instants = false;
        for row in &rows {
            fields.push(row.try_get("field").lms()?);
            holds_instants |= row.try_get::<bool, _>("instant").lms()?;
        }
        if fields.is_empty() {
            return Err(EngineError::Invariant(format!(
                "{type_name} has no fields; is the LMS schema up to date?"
            )));
        }
        Ok(Owned {
            type_name,
            fields,
            holds_instants,
        })
    }

    /// Whether the baseline's text depends on the session's `TimeZone`: it
    /// must then be written in UTC, as the delta path reads and writes it.
    pub fn holds_instants(&self) -> bool {
        self.holds_instants
    }

    /// The owned columns of the main target row.
    pub fn main_columns(&self) -> impl Iterator<Item = &str> {
        self.fields
            .iter()
            .map(String::as_str)
            .filter(|field| !field.starts_with(GRADE_PREFIX))
    }

    /// The proposal, from apply row `a` (whose columns the fields name).
    pub fn proposal(&self) -> String {
        let values: Vec<String> = self
            .fields
            .iter()
            .map(|field| format!("a.{field}"))
            .collect();
        format!("ROW({})::{}", values.join(", "), self.type_name)
    }

    /// The LMS row `alias` now, its final grade being the grades row `grade`
    /// (a join that finds nothing when there is none).
    pub fn current(&self, alias: &str, grade: &str) -> String {
        let values: Vec<String> = self
            .fields
            .iter()
            .map(|field| match field.strip_prefix(GRADE_PREFIX) {
                Some(column) => format!("{grade}.{column}"),
                None => format!("{alias}.{field}"),
            })
            .collect();
        format!("ROW({})::{}", values.join(", "), self.type_name)
    }

    /// The ledger's `written` for the typed value `value`: its text form,
    /// about a quarter of the room a `jsonb` object of it takes (migration
    /// `m20261206_000019`). The form is positional: a change to the type's
    /// fields must rewrite the stored baselines with it.
    pub fn baseline(&self, value: &str) -> String {
        format!("({value})::text")
    }

    /// The ledger's `written` (`baseline`'s text) read back as the type.
    pub fn read_baseline(&self, baseline: &str) -> String {
        format!("({baseline})::{}", self.type_name)
    }

    /// The ledger's `proposed` (a `jsonb` object, for operators to read in
    /// conflict reports) read back as the type.
    pub fn read_proposed(&self, document: &str) -> String {
        format!(
            "jsonb_populate_record(NULL::{}, {document})",
            self.type_name
        )
    }
}
