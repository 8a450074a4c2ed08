//! Accounts for legacy students and teachers who had no usable login.

use sqlx::{AssertSqlSafe, PgConnection};

use crate::error::{DatabaseContext, EngineError};

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

/// The contract: a surviving student (teacher) whose user points nowhere
/// gets an account with login `student.<id>` (`staff.<id>`), no email, no
/// password, to be activated. The account is found again by
/// `provisioned_for` on later runs; a login someone already has gets the id
/// again as a suffix (`student.42.42`).
pub async fn provision_accounts(
    tx: &mut PgConnection,
    who: Provisioning,
) -> Result<(), EngineError> {
    let Provisioning {
        entity,
        login_prefix,
        role,
    } = who;
    let statement = format!(
        "UPDATE apply_rows a SET user_id = u.id FROM users u \
         WHERE a.outcome = 'migrated' AND a.user_id IS NULL AND u.provisioned_for = '{entity}:' || a.legacy_id; \
         WITH created AS ( \
             INSERT INTO users (login, role, person_id, activation_required, password_reset_required, provisioned_for) \
             SELECT CASE WHEN EXISTS (SELECT 1 FROM users x \
                                      WHERE lower(x.login COLLATE \"und-x-icu\") = '{login_prefix}.' || a.legacy_id \
                                        AND x.source_deleted_at IS NULL) \
                         THEN '{login_prefix}.' || a.legacy_id || '.' || a.legacy_id \
                         ELSE '{login_prefix}.' || a.legacy_id END, \
                    '{role}', a.person_id, true, true, '{entity}:' || a.legacy_id \
             FROM apply_rows a WHERE a.outcome = 'migrated' AND a.user_id IS NULL \
             ORDER BY a.legacy_id \
             RETURNING id, provisioned_for) \
         UPDATE apply_rows a SET user_id = c.id FROM created c WHERE c.provisioned_for = '{entity}:' || a.legacy_id;"
    );
    sqlx::raw_sql(AssertSqlSafe(statement))
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(())
}
