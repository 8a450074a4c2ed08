//! Accounts for legacy students and teachers who had no usable login.

use sqlx::{AssertSqlSafe, PgConnection};

use crate::error::{DatabaseContext, EngineError};
use crate::sql_template::render;

/// Who gets provisioned accounts, and how they are named.
#[derive(Debug, Clone, Copy)]
pub struct Provisioning {
    /// The legacy table, as in `users.provisioned_for` (`students:<id>`).
    pub entity: &'static str,
    /// The login prefix (`student.<id>`).
    pub login_prefix: &'static str,
    pub role: &'static str,
}

pub const STUDENTS: Provisioning = Provisioning {
    entity: "students",
    login_prefix: "student",
    role: "student",
};

pub const TEACHERS: Provisioning = Provisioning {
    entity: "teachers",
    login_prefix: "staff",
    role: "teacher",
};

const CANDIDATES: &str = include_str!("sql/provision_candidates.sql");
const NEXT_CANDIDATE: &str = include_str!("sql/provision_next_candidate.sql");
const CREATE: &str = include_str!("sql/provision_create.sql");

/// The contract: a surviving student (teacher) whose user points nowhere
/// gets an account with login `student.<id>` (`staff.<id>`), no email, no
/// password, to be activated. The account is found again by
/// `provisioned_for` on later runs. A login someone already has gets the
/// id again, as often as it takes (`student.42.42`, `student.42.42.42`):
/// each round only lengthens logins still taken, and the logins taken are
/// finite, so the rounds end.
pub async fn provision_accounts(
    tx: &mut PgConnection,
    who: Provisioning,
) -> Result<(), EngineError> {
    execute(
        tx,
        render(
            CANDIDATES,
            &[("entity", who.entity), ("login_prefix", who.login_prefix)],
        )?,
    )
    .await?;
    loop {
        let lengthened = sqlx::raw_sql(AssertSqlSafe(render(NEXT_CANDIDATE, &[])?))
            .execute(&mut *tx)
            .await
            .lms()?
            .rows_affected();
        if lengthened == 0 {
            break;
        }
    }
    execute(
        tx,
        render(CREATE, &[("entity", who.entity), ("role", who.role)])?,
    )
    .await
}

async fn execute(tx: &mut PgConnection, sql: String) -> Result<(), EngineError> {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(())
}
