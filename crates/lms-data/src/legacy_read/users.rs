//! Users: legacy accounts (with the whole-table login and email rules from
//! [`super::accounts`]) and the accounts the migration provisioned.

use lms_domain::DomainError;
use lms_domain::account::{Credential, Role};
use lms_domain::model::*;

use super::LegacyReader;
use super::ids::Accounts;
use super::ids::IdMap;
use super::rows::{
    DatabaseResult, Scanned, UtcTime, VocabularyFilter, collect, served, vocabulary_sql,
};
use super::rows::{legacy_instant, looked_up};

const USER: &str = "user";

/// User lists continue past the last legacy user with the provisioned
/// accounts, which have no legacy id: their cursors are this plus their LMS
/// id, above every legacy user id (an `integer`).
pub const PROVISIONED_CURSOR_BASE: i64 = 1 << 32;

macro_rules! select_users {
    ($($condition:expr),+) => {
        concat!(
            "SELECT id, password_hash, person_id, role, is_active, \
                    ", legacy_instant!("created_at"), " AS created_at, \
                    ", legacy_instant!("last_login_at"), " AS last_login_at \
             FROM users WHERE ",
            $($condition),+
        )
    };
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i32,
    password_hash: Option<String>,
    person_id: Option<i32>,
    role: Option<String>,
    is_active: Option<bool>,
    created_at: Option<UtcTime>,
    last_login_at: Option<UtcTime>,
}

impl LegacyReader {
    pub async fn get_user(&self, id: UserId) -> Result<User, DomainError> {
        let ids = self.ids()?;
        if let Some(provisioned) = ids.provisioned.get(id.0) {
            return Ok(provisioned.clone());
        }
        let found = match ids.users.migrated.legacy_id(id.0) {
            Some(legacy_id) => self.user(&ids, legacy_id).await?,
            None => None,
        };
        found.ok_or_else(|| DomainError::not_known_to_legacy(USER, id))
    }

    pub async fn list_users(
        &self,
        filter: &UserFilter,
        page: PageRequest,
    ) -> Result<Page<User>, DomainError> {
        let ids = self.ids()?;
        let wanted = page.size() as usize + 1;
        let after = page.after().unwrap_or(i64::MIN);
        let mut scanned = if after < PROVISIONED_CURSOR_BASE {
            let accounts = &ids.accounts;
            let role = &VocabularyFilter::new(filter.role, Role::Other, &Role::ALL, Role::as_str);
            collect(
                page,
                self.max_rows_per_list(),
                |from, limit| async move {
                    sqlx::query_as(select_users!(
                        "id >= $2 AND ",
                        vocabulary_sql!("role", "$4", "$5"),
                        " ORDER BY id LIMIT $3"
                    ))
                    .bind(self.timezone())
                    .bind(from)
                    .bind(limit)
                    .bind(role.contains)
                    .bind(role.excluded.as_deref())
                    .persistent(false)
                    .fetch_all(self.pool())
                    .await
                    .legacy()
                },
                |row: &UserRow| i64::from(row.id),
                |row| user(&ids, accounts, &row).filter(|user| matches(filter, user)),
            )
            .await?
        } else {
            Scanned {
                items: Vec::new(),
                stopped_after: None,
            }
        };
        // The provisioned accounts (from the id map, not legacy rows) follow
        // once the legacy users are done; a scan that stopped at its bound
        // continues with them on a later page.
        if scanned.stopped_after.is_none() && scanned.items.len() < wanted {
            let first_provisioned = after.saturating_sub(PROVISIONED_CURSOR_BASE);
            let room = wanted - scanned.items.len();
            scanned.items.extend(
                ids.provisioned
                    .users
                    .iter()
                    .filter(|user| user.id.0 > first_provisioned && matches(filter, user))
                    .take(room)
                    .cloned(),
            );
        }
        Ok(scanned.into_page(page, user_cursor))
    }

    pub async fn lookup_user(&self, legacy_id: i64) -> Result<User, DomainError> {
        let ids = self.ids()?;
        let mapped = ids.users.migrated.lms_id(legacy_id).is_some();
        let found = self.user(&ids, legacy_id).await?;
        looked_up(found, mapped, USER, legacy_id)
    }

    async fn user(&self, ids: &IdMap, legacy_id: i64) -> Result<Option<User>, DomainError> {
        if ids.users.migrated.lms_id(legacy_id).is_none() {
            return Ok(None);
        }
        let row: Option<UserRow> = sqlx::query_as(select_users!("id = $2"))
            .bind(self.timezone())
            .bind(legacy_id)
            .fetch_optional(self.pool())
            .await
            .legacy()?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(user(ids, &ids.accounts, &row))
    }
}

fn matches(filter: &UserFilter, user: &User) -> bool {
    filter.role.is_none_or(|role| user.role == role)
}

/// Where a user stands in a legacy-ordered list.
fn user_cursor(user: &User) -> i64 {
    match user.legacy {
        Some(legacy) => legacy.legacy_id,
        None => PROVISIONED_CURSOR_BASE.saturating_add(user.id.0),
    }
}

/// The contract: the settled login and email, the role from its list, a
/// reset for any hash that is not bcrypt, a person pointing nowhere NULL.
fn user(ids: &IdMap, accounts: &Accounts, row: &UserRow) -> Option<User> {
    let legacy_id = i64::from(row.id);
    let id = ids.users.migrated.lms_id(legacy_id)?;
    // Every migrated user has a settled account; a map that lacks one is
    // from a run that did not write this user.
    let account = accounts.get(legacy_id)?;
    let credential = Credential::from_legacy(row.password_hash.as_deref()).value;
    Some(User {
        id: UserId(id),
        person_id: row
            .person_id
            .and_then(|person| ids.persons.migrated.lms_id(i64::from(person)))
            .map(PersonId),
        login: account.login.clone(),
        email: account.email.clone(),
        role: Role::from_legacy(row.role.as_deref().unwrap_or_default()).value,
        is_active: row.is_active.unwrap_or(true),
        password_reset_required: credential == Credential::ResetRequired,
        activation_required: false,
        created_at: row.created_at.and_then(UtcTime::instant),
        last_login_at: row.last_login_at.and_then(UtcTime::instant),
        legacy: served(legacy_id),
    })
}
