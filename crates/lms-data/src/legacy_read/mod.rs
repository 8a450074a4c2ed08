//! The degraded read mode's adapter: the domain's reads answered from the
//! legacy EDU database, with the migration contract applied on the fly.
//!
//! When the LMS primary and its standbys are down, the failover router sends
//! reads here. The answers are meant to equal the LMS repository's, field
//! for field, for every legacy row that has not changed since the last
//! migration run:
//!
//! - **Identity.** LMS ids are translated through an id map loaded from an
//!   LMS database while one still answered (`migration.ledger`, the derived
//!   courses, the grades and the provisioned accounts; see [`ids`]). A row is
//!   served only when the ledger records it `migrated` and not source-deleted,
//!   so a lookup by the legacy id of a rejected row, a merged row or a row
//!   added to legacy since the last run is NOT_FOUND, as in the LMS; an LMS
//!   id the map does not hold is NotKnownToLegacy (below). References
//!   resolve through the same map, a merged student's to its survivor's LMS
//!   id.
//! - **Values** come from the legacy row with the contract's row-local rules
//!   (the `lms-domain` functions the engine's stage phase calls). The
//!   whole-table rules (login renames, duplicate emails) are not recomputed:
//!   a user's login and email are those the run settled, from the id map
//!   ([`ids::Accounts`]), so a change to another legacy row cannot rename an
//!   unchanged user.
//! - **Lists** are keyset pages in legacy id order; their cursors are in
//!   [`CursorSpace::Legacy`](lms_domain::model::CursorSpace::Legacy). Filters
//!   carry LMS ids and are translated to legacy ids; SQL narrows the scan as
//!   far as it can without the contract's Unicode trim and lower, and the
//!   exact filter runs on the converted items. One call examines at most
//!   `max_rows_per_list` rows (legacy rows, or the id map's courses): when a
//!   filter matches few of them, the page comes back short, even empty,
//!   with a cursor after the last row examined (AIP-158: only a page
//!   without a next cursor is the last).
//!
//! Deliberate differences from the LMS answers (the legacy database cannot
//! know better):
//!
//! - Rows born in the LMS (no legacy id) and rows whose legacy row is gone
//!   (flagged `source_deleted` in the LMS) are absent from lists;
//!   `legacy.source_deleted` is therefore always false. Changes made through
//!   the LMS API to migrated rows are not seen: the legacy row is the
//!   source.
//! - A served row whose legacy row has since changed so that the contract
//!   would no longer give it a target row (its person, student, subject or
//!   course key no longer resolves; its student has no account to point at)
//!   is absent from lists rather than guessed.
//! - Absent is never denied by an LMS id: a get by an LMS id the map does
//!   not hold, or whose row legacy can no longer serve, and a list filtered
//!   by such an id, are [`DomainError::NotKnownToLegacy`] (UNAVAILABLE),
//!   not NotFound or an empty page. A lookup by legacy id is NotFound when
//!   the map has no migrated row under it (legacy lacks it, or the ledger
//!   rejected or merged it).
//! - Accounts provisioned for students and teachers have no legacy row: they
//!   are served from the id map's snapshot of them. In user lists they follow
//!   every legacy user, in LMS id order, under cursors
//!   [`PROVISIONED_CURSOR_BASE`]` + LMS id` (above every `integer` legacy id).
//! - Courses have no legacy row either: they come from the id map (every LMS
//!   course of a migrated legacy subject), with the subject's name read from
//!   legacy. They are listed in LMS id order, and their legacy-space cursor
//!   is the LMS course id.
//! - An `infinity` or `-infinity` legacy timestamp has no UTC instant a
//!   `DateTime<Utc>` can hold: it is served as absent (`None`).

mod courses;
mod enrollments;
mod ids;
mod load;
mod people;
mod rows;
mod students;
mod submissions;
mod users;

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use lms_domain::DomainError;
use sqlx::PgPool;

use ids::IdMap;

pub use users::PROVISIONED_CURSOR_BASE;

/// Answers the domain's reads from the legacy EDU database. Cheap to clone
/// (Arc inside).
#[derive(Debug, Clone)]
pub struct LegacyReader {
    inner: Arc<Inner>,
}

struct Inner {
    legacy: PgPool,
    /// The zone of the legacy `timestamp` columns (`legacy.timezone`).
    timezone: String,
    /// The most legacy rows one list call examines
    /// (`legacy.max_rows_per_list`).
    max_rows_per_list: usize,
    /// The latest id map; replaced whole, so a read sees one consistent map.
    ids: RwLock<Option<Arc<IdMap>>>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyReader")
            .field("timezone", &self.timezone)
            .field("max_rows_per_list", &self.max_rows_per_list)
            .field("ids", &self.current_ids())
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn current_ids(&self) -> Option<Arc<IdMap>> {
        // A panic while holding the lock cannot leave a half-written map:
        // the map is swapped whole, so a poisoned lock still holds a good one.
        self.ids
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl LegacyReader {
    /// `timezone` is the legacy `timestamp` columns' zone (a PostgreSQL zone
    /// name, `legacy.timezone`); they are converted to UTC in it, as the
    /// engine does. `max_rows_per_list` (`legacy.max_rows_per_list`) bounds
    /// the rows one list call examines: a list that reaches it before its
    /// page is full returns a short page with a token that resumes there.
    pub fn new(legacy: PgPool, timezone: String, max_rows_per_list: usize) -> LegacyReader {
        LegacyReader {
            inner: Arc::new(Inner {
                legacy,
                timezone,
                max_rows_per_list: max_rows_per_list.max(1),
                ids: RwLock::new(None),
            }),
        }
    }

    /// The legacy database's pool.
    pub fn pool(&self) -> &PgPool {
        &self.inner.legacy
    }

    /// Loads the id map from an LMS database (primary or standby) when a
    /// migration run finished since the last load; returns whether it
    /// reloaded. The first call always loads.
    pub async fn refresh_ids(&self, lms: &PgPool) -> Result<bool, DomainError> {
        let version = load::latest_run(lms).await?;
        if let Some(current) = self.inner.current_ids()
            && current.version == version
        {
            return Ok(false);
        }
        let map = load::load(lms).await?;
        tracing::info!(ids = ?map, "loaded the legacy id map for degraded reads");
        *self
            .inner
            .ids
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(map));
        Ok(true)
    }

    /// Whether an id map has ever been loaded.
    pub fn ids_loaded(&self) -> bool {
        self.inner.current_ids().is_some()
    }

    /// The id map every read needs; Unavailable when none was ever loaded.
    fn ids(&self) -> Result<Arc<IdMap>, DomainError> {
        self.inner.current_ids().ok_or_else(|| {
            DomainError::Unavailable(
                "the LMS database is down and no id map was loaded before it went down: \
                 LMS ids cannot be translated to legacy rows until an LMS database \
                 (the primary or a standby) answers once"
                    .to_owned(),
            )
        })
    }

    fn timezone(&self) -> &str {
        &self.inner.timezone
    }

    fn max_rows_per_list(&self) -> usize {
        self.inner.max_rows_per_list
    }
}
