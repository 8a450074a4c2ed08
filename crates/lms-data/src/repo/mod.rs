//! The domain's data access: typed reads and writes of the LMS resources,
//! returning `lms-domain` values and `DomainError`s so that no caller needs
//! to know SeaORM.
//!
//! Lists are keyset pages in id order: `WHERE id > after ORDER BY id LIMIT
//! size + 1`, the extra row only telling whether another page follows.

mod assessments;
mod audited;
mod courses;
mod directory;
mod enrollments;
pub(crate) mod errors;
mod numbers;
mod routed;
mod students;

use chrono::{DateTime, Utc};
use lms_domain::DomainError;
use lms_domain::model::{Legacy, Page, PageRequest};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};

use crate::Database;
use crate::failover::DataSources;
use errors::{Target, db_error};

pub use audited::{AuditedWrites, Recorded};

/// Reads and writes the LMS domain, routed by [`DataSources`]: reads to the
/// first endpoint that answers (primary, standbys, then the legacy
/// database), writes only to the primary. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct Repository {
    sources: DataSources,
}

impl Repository {
    /// A repository over one database, with no failover (tools and tests).
    pub fn new(db: &Database) -> Repository {
        Repository {
            sources: DataSources::single(db),
        }
    }

    pub fn with_sources(sources: DataSources) -> Repository {
        Repository { sources }
    }

    pub fn sources(&self) -> &DataSources {
        &self.sources
    }
}

/// The domain's reads and writes on one LMS database (primary or standby),
/// through SeaORM. Cloning is cheap: it shares the pool. Over a
/// transaction (`C` = `DatabaseTransaction`) the same writes run inside it.
#[derive(Debug, Clone)]
pub(crate) struct LmsStore<C = DatabaseConnection> {
    db: C,
}

impl LmsStore {
    pub(crate) fn new(db: &Database) -> LmsStore {
        LmsStore {
            db: db.orm().clone(),
        }
    }
}

/// Reads one page of `select` in id order and converts it.
async fn read_page<E, T>(
    db: &impl ConnectionTrait,
    resource: &'static str,
    select: Select<E>,
    id: E::Column,
    page: PageRequest,
    convert: impl Fn(E::Model) -> Result<T, DomainError>,
    id_of: impl Fn(&T) -> i64,
) -> Result<Page<T>, DomainError>
where
    E: EntityTrait,
{
    let models = keyset(select, id, page)
        .all(db)
        .await
        .map_err(|error| db_error(Target::any(resource), &error))?;
    let items = models
        .into_iter()
        .map(convert)
        .collect::<Result<Vec<T>, DomainError>>()?;
    Ok(Page::from_overfetch(items, page, id_of))
}

/// Restricts `select` to one page in id order, plus one row to tell whether
/// another page follows.
fn keyset<E>(select: Select<E>, id: E::Column, page: PageRequest) -> Select<E>
where
    E: EntityTrait,
{
    let select = match page.after() {
        Some(after) => select.filter(id.gt(after)),
        None => select,
    };
    select.order_by_asc(id).limit(u64::from(page.size()) + 1)
}

/// Reads at most one row, NotFound when there is none.
async fn read_one<E>(
    db: &impl ConnectionTrait,
    resource: &'static str,
    key: impl ToString,
    select: Select<E>,
) -> Result<E::Model, DomainError>
where
    E: EntityTrait,
{
    select
        .one(db)
        .await
        .map_err(|error| db_error(Target::any(resource), &error))?
        .ok_or_else(|| DomainError::not_found(resource, key))
}

/// The key a NotFound names for a legacy id lookup.
fn legacy_key(legacy_id: i64) -> String {
    format!("with legacy id {legacy_id}")
}

/// Legacy ids of most tables are `integer`: a larger id cannot exist, so the
/// lookup is a NotFound rather than an overflow.
fn legacy_i32(resource: &'static str, legacy_id: i64) -> Result<i32, DomainError> {
    i32::try_from(legacy_id).map_err(|_| DomainError::not_found(resource, legacy_key(legacy_id)))
}

/// Where a row came from: `Some` only for rows with a legacy id.
fn legacy(legacy_id: Option<i64>, source_deleted_at: Option<DateTime<Utc>>) -> Option<Legacy> {
    legacy_id.map(|legacy_id| Legacy {
        legacy_id,
        source_deleted: source_deleted_at.is_some(),
    })
}

/// Reads an enum stored as text. The schema's checks allow only known
/// values, so an unknown one is a bug or a schema drift: Internal.
fn parse_text<T>(
    column: &str,
    text: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, DomainError> {
    parse(text)
        .ok_or_else(|| DomainError::Internal(format!("unknown {column} {text:?} in the database")))
}

/// Turns the rows an `UPDATE ... RETURNING` (or a delete count) touched into
/// NotFound when there were none.
fn first_or_not_found<M>(rows: Vec<M>, resource: &'static str, id: i64) -> Result<M, DomainError> {
    rows.into_iter()
        .next()
        .ok_or_else(|| DomainError::not_found(resource, id))
}
