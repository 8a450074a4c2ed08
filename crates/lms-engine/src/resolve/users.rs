//! Users: unique logins and emails.

use sqlx::{PgConnection, Row};

use crate::error::{DatabaseContext, EngineError};

/// Rounds of renaming before giving up: each round only touches logins that
/// still collide, and real data needs one (a login equal to another's
/// renamed form needs two).
const MAX_RENAME_ROUNDS: usize = 8;

/// The contract: among users whose `lower(trim(login))` collide the lowest id
/// keeps the login and each other gets `<login>.<legacy id>`
/// (`login_renamed`); among users sharing a valid normalised email the
/// lowest id keeps it and the others lose it (`email_duplicate`).
///
/// Accounts the LMS already has that no legacy user owns (provisioned or
/// born in the LMS) keep their logins and emails; a legacy user colliding
/// with one is renamed or loses the email (docs/contract.md). A renamed
/// login that collides again, with a login someone really has, gets its
/// suffix again (`ivan.5.5`).
pub async fn resolve(tx: &mut PgConnection) -> Result<(), EngineError> {
    sqlx::raw_sql(
        "CREATE TEMP TABLE reserved_logins ON COMMIT DROP AS \
         SELECT DISTINCT lower(login COLLATE \"und-x-icu\") AS key FROM users \
         WHERE legacy_id IS NULL AND source_deleted_at IS NULL; \
         CREATE TEMP TABLE reserved_emails ON COMMIT DROP AS \
         SELECT DISTINCT lower(email COLLATE \"und-x-icu\") AS email FROM users \
         WHERE legacy_id IS NULL AND email IS NOT NULL AND source_deleted_at IS NULL; \
         WITH keepers AS (SELECT login_key, min(legacy_id) AS keeper FROM migration.stage_users GROUP BY login_key) \
         UPDATE migration.stage_users s SET \
             final_login = CASE WHEN kept THEN s.login ELSE s.login || '.' || s.legacy_id END, \
             final_key = CASE WHEN kept THEN s.login_key ELSE s.login_key || '.' || s.legacy_id END, \
             warnings = CASE WHEN kept OR 'login_renamed' = ANY (s.warnings) THEN s.warnings \
                             ELSE array_append(s.warnings, 'login_renamed') END \
         FROM (SELECT s2.legacy_id, \
                      s2.legacy_id = k.keeper \
                      AND NOT EXISTS (SELECT 1 FROM reserved_logins r WHERE r.key = s2.login_key) AS kept \
               FROM migration.stage_users s2 JOIN keepers k ON k.login_key = s2.login_key) decided \
         WHERE decided.legacy_id = s.legacy_id;",
    )
    .execute(&mut *tx)
    .await
    .lms()?;

    for _ in 0..MAX_RENAME_ROUNDS {
        // A renamed login whose key someone else also has (a kept login, a
        // reserved one, or another renamed one) is renamed once more.
        let renamed = sqlx::query(
            "UPDATE migration.stage_users s SET \
                 final_login = s.final_login || '.' || s.legacy_id, \
                 final_key = s.final_key || '.' || s.legacy_id \
             WHERE s.final_key <> s.login_key \
               AND (EXISTS (SELECT 1 FROM migration.stage_users o \
                            WHERE o.final_key = s.final_key AND o.legacy_id <> s.legacy_id \
                              AND (o.final_key = o.login_key OR o.legacy_id < s.legacy_id)) \
                    OR EXISTS (SELECT 1 FROM reserved_logins r WHERE r.key = s.final_key))",
        )
        .execute(&mut *tx)
        .await
        .lms()?
        .rows_affected();
        if renamed == 0 {
            return resolve_emails(tx).await;
        }
    }
    let stuck: i64 = sqlx::query(
        "SELECT count(*) FROM (SELECT final_key FROM migration.stage_users GROUP BY final_key HAVING count(*) > 1) c",
    )
    .fetch_one(&mut *tx)
    .await
    .lms()?
    .try_get(0)
    .lms()?;
    Err(EngineError::Invariant(format!(
        "{stuck} logins still collide after {MAX_RENAME_ROUNDS} rounds of renaming"
    )))
}

async fn resolve_emails(tx: &mut PgConnection) -> Result<(), EngineError> {
    sqlx::raw_sql(
        "WITH keepers AS (SELECT email, min(legacy_id) AS keeper FROM migration.stage_users \
                          WHERE email IS NOT NULL GROUP BY email) \
         UPDATE migration.stage_users s SET \
             final_email = CASE WHEN duplicate THEN NULL ELSE s.email END, \
             warnings = CASE WHEN duplicate THEN array_append(s.warnings, 'email_duplicate') ELSE s.warnings END \
         FROM (SELECT s2.legacy_id, \
                      s2.email IS NOT NULL AND (s2.legacy_id <> k.keeper \
                          OR EXISTS (SELECT 1 FROM reserved_emails r WHERE r.email = s2.email)) AS duplicate \
               FROM migration.stage_users s2 LEFT JOIN keepers k ON k.email = s2.email) decided \
         WHERE decided.legacy_id = s.legacy_id;",
    )
    .execute(&mut *tx)
    .await
    .lms()?;
    Ok(())
}
