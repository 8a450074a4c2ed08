//! Loading the id map from an LMS database (the primary or a standby).

use lms_domain::account::Role;
use lms_domain::model::{PersonId, User, UserId};
use lms_domain::{DomainError, LegacyEntity};
use sqlx::{PgConnection, PgPool};

use super::ids::{
    Account, Accounts, CourseEntry, Courses, IdMap, Links, Outcomes, Pairs, Provisioned, RunVersion,
};
use super::rows::{DatabaseResult, UtcTime};

/// The latest finished migration run that wrote the ledger: the map's
/// version. A dry run writes nothing, and a running run's ledger is half
/// written, so neither counts.
pub(super) async fn latest_run(lms: &PgPool) -> Result<Option<RunVersion>, DomainError> {
    let mut conn = lms.acquire().await.lms()?;
    read_version(&mut conn).await
}

async fn read_version(conn: &mut PgConnection) -> Result<Option<RunVersion>, DomainError> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT id::text, (extract(epoch FROM finished_at) * 1000000)::bigint \
         FROM migration.runs WHERE NOT dry_run AND finished_at IS NOT NULL \
         ORDER BY finished_at DESC, id DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await
    .lms()?;
    Ok(row.map(|(run_id, finished_micros)| RunVersion {
        run_id,
        finished_micros,
    }))
}

/// Reads the whole map in one snapshot, so that the ledger, the courses and
/// the accounts agree with each other.
pub(super) async fn load(lms: &PgPool) -> Result<IdMap, DomainError> {
    let mut tx = lms.begin().await.lms()?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await
        .lms()?;
    let map = IdMap {
        version: read_version(&mut tx).await?,
        organizations: outcomes(&mut tx, LegacyEntity::Organizations).await?,
        organization_rows: Pairs::new(
            sqlx::query_as(
                "SELECT legacy_id::bigint, id FROM organizations WHERE legacy_id IS NOT NULL",
            )
            .fetch_all(&mut *tx)
            .await
            .lms()?,
        ),
        persons: outcomes(&mut tx, LegacyEntity::Persons).await?,
        users: outcomes(&mut tx, LegacyEntity::Users).await?,
        groups: outcomes(&mut tx, LegacyEntity::Groups).await?,
        subjects: outcomes(&mut tx, LegacyEntity::Subjects).await?,
        students: outcomes(&mut tx, LegacyEntity::Students).await?,
        teachers: outcomes(&mut tx, LegacyEntity::Teachers).await?,
        journal: outcomes(&mut tx, LegacyEntity::Journal).await?,
        exams: outcomes(&mut tx, LegacyEntity::Exams).await?,
        exam_results: outcomes(&mut tx, LegacyEntity::ExamResults).await?,
        grades: Links::new(
            sqlx::query_as(
                "SELECT legacy_id, id FROM grades \
                 WHERE legacy_id IS NOT NULL AND source_deleted_at IS NULL",
            )
            .fetch_all(&mut *tx)
            .await
            .lms()?,
        ),
        courses: courses(&mut tx).await?,
        provisioned: provisioned(&mut tx).await?,
        accounts: accounts(&mut tx).await?,
    };
    tx.commit().await.lms()?;
    Ok(map)
}

/// One table's live ledger rows that point at an LMS row.
async fn outcomes(conn: &mut PgConnection, entity: LegacyEntity) -> Result<Outcomes, DomainError> {
    let rows: Vec<(i64, i64, bool)> = sqlx::query_as(
        "SELECT legacy_id, target_id, outcome = 'merged' FROM migration.ledger \
         WHERE entity = $1 AND outcome IN ('migrated', 'merged') \
           AND source_deleted_at IS NULL AND target_id IS NOT NULL",
    )
    .bind(entity.as_str())
    .fetch_all(&mut *conn)
    .await
    .lms()?;
    let (merged, migrated): (Vec<_>, Vec<_>) = rows.into_iter().partition(|row| row.2);
    let pairs = |rows: Vec<(i64, i64, bool)>| {
        rows.into_iter()
            .map(|(legacy_id, target_id, _)| (legacy_id, target_id))
            .collect()
    };
    Ok(Outcomes {
        migrated: Links::new(pairs(migrated)),
        merged: Links::new(pairs(merged)),
    })
}

async fn courses(conn: &mut PgConnection) -> Result<Courses, DomainError> {
    let rows: Vec<(i64, i64, Option<i64>, String, i16, bool)> = sqlx::query_as(
        "SELECT id, subject_id, group_id, academic_year, semester, derived_from_legacy FROM courses",
    )
    .fetch_all(&mut *conn)
    .await
    .lms()?;
    Ok(Courses::new(
        rows.into_iter()
            .map(
                |(id, subject_id, group_id, academic_year, semester, derived_from_legacy)| {
                    CourseEntry {
                        id,
                        subject_id,
                        group_id,
                        academic_year,
                        semester,
                        derived_from_legacy,
                    }
                },
            )
            .collect(),
    ))
}

#[derive(sqlx::FromRow)]
struct ProvisionedRow {
    id: i64,
    provisioned_for: String,
    person_id: Option<i64>,
    login: String,
    email: Option<String>,
    role: String,
    is_active: bool,
    password_reset_required: bool,
    activation_required: bool,
    created_at: Option<UtcTime>,
    last_login_at: Option<UtcTime>,
}

/// Provisioned accounts, as the LMS repository would return them.
async fn provisioned(conn: &mut PgConnection) -> Result<Provisioned, DomainError> {
    let rows: Vec<ProvisionedRow> = sqlx::query_as(
        "SELECT id, provisioned_for, person_id, login, email, role, is_active, \
                password_reset_required, activation_required, created_at, last_login_at \
         FROM users WHERE provisioned_for IS NOT NULL AND legacy_id IS NULL ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await
    .lms()?;
    let mut users = Vec::with_capacity(rows.len());
    let mut for_students = Vec::new();
    for row in rows {
        if let Some(student) = row
            .provisioned_for
            .strip_prefix("students:")
            .and_then(|id| id.parse::<i64>().ok())
        {
            for_students.push((student, row.id));
        }
        let role = Role::parse(&row.role).ok_or_else(|| {
            DomainError::Internal(format!("unknown role {:?} in the database", row.role))
        })?;
        users.push(User {
            id: UserId(row.id),
            person_id: row.person_id.map(PersonId),
            login: row.login,
            email: row.email,
            role,
            is_active: row.is_active,
            password_reset_required: row.password_reset_required,
            activation_required: row.activation_required,
            created_at: row.created_at.and_then(UtcTime::instant),
            last_login_at: row.last_login_at.and_then(UtcTime::instant),
            legacy: None,
        });
    }
    Ok(Provisioned {
        users,
        for_students: Pairs::new(for_students),
    })
}

/// Every migrated user's login and email, as the run left them.
async fn accounts(conn: &mut PgConnection) -> Result<Accounts, DomainError> {
    let rows: Vec<(i64, String, Option<String>)> = sqlx::query_as(
        "SELECT legacy_id::bigint, login, email FROM users \
         WHERE legacy_id IS NOT NULL AND source_deleted_at IS NULL",
    )
    .fetch_all(&mut *conn)
    .await
    .lms()?;
    Ok(Accounts::new(rows.into_iter().map(
        |(legacy_id, login, email)| (legacy_id, Account { login, email }),
    )))
}
