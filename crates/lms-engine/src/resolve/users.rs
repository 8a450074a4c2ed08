//! Users: unique logins and emails.

use sqlx::{AssertSqlSafe, PgConnection, Row};

use crate::error::{DatabaseContext, EngineError};

const KEYS: &str = include_str!("sql/user_keys.sql");
const LOGINS: &str = include_str!("sql/user_logins.sql");
const RENAMES: &str = include_str!("sql/user_renames.sql");
const EMAILS: &str = include_str!("sql/user_emails.sql");

/// The contract: among users whose `lower(trim(login))` collide the lowest id
/// keeps the login and each other gets `<login>.<legacy id>`
/// (`login_renamed`); a placeholder login (`user.<id>`, for a blank one)
/// gives way to a legacy login, whatever the ids. Among users sharing a valid normalised email the
/// lowest id keeps it and the others lose it (`email_duplicate`).
///
/// Accounts the LMS has that no legacy user owns keep their logins and
/// emails: a legacy user colliding with a provisioned account is renamed or
/// loses the email; one colliding with an account born in the LMS takes it
/// on if the migration never wrote the user and its login is not a
/// placeholder, and is renamed otherwise (docs/contract.md). A renamed login that collides again gets its suffix
/// again, as often as it takes (`ivan.5.5`).
pub async fn resolve(tx: &mut PgConnection) -> Result<(), EngineError> {
    execute(tx, KEYS).await?;
    execute(tx, LOGINS).await?;
    // Each round lengthens only logins still colliding, the lowest ids'
    // first settle against a fixed set, and the logins are finite, so the
    // rounds end; the bound is a guard against a mistake in this reasoning.
    let bound: i64 = sqlx::query(
        "SELECT (SELECT count(*) FROM migration.stage_users) + (SELECT count(*) FROM other_accounts) + 2",
    )
    .fetch_one(&mut *tx)
    .await
    .lms()?
    .try_get(0)
    .lms()?;
    let mut rounds = 0;
    loop {
        let renamed = sqlx::raw_sql(RENAMES)
            .execute(&mut *tx)
            .await
            .lms()?
            .rows_affected();
        if renamed == 0 {
            break;
        }
        rounds += 1;
        if rounds > bound {
            return Err(EngineError::Invariant(format!(
                "logins still collide after {rounds} rounds of renaming"
            )));
        }
    }
    execute(tx, EMAILS).await
}

async fn execute(tx: &mut PgConnection, sql: &'static str) -> Result<(), EngineError> {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(())
}
