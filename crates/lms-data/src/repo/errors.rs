//! Turning database errors into domain errors, in one place.
//!
//! PostgreSQL names the violated constraint and the table it belongs to, so
//! the constraint (not the message text, which depends on the server's
//! locale) decides what the caller is told.

use lms_domain::DomainError;
use lms_pg::FailureClass;
use sea_orm::{DbErr, RuntimeErr};

use crate::outage::{self, Outage};
use sqlx::postgres::PgDatabaseError;

/// The row a failed statement was about: its resource name, and its id
/// when the statement targeted one row (updates and deletes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub resource: &'static str,
    pub id: Option<i64>,
}

impl Target {
    pub fn any(resource: &'static str) -> Target {
        Target { resource, id: None }
    }

    pub fn row(resource: &'static str, id: i64) -> Target {
        Target {
            resource,
            id: Some(id),
        }
    }
}

/// Maps a SeaORM error on `target` to the domain error a caller can act on.
pub(crate) fn db_error(target: Target, error: &DbErr) -> DomainError {
    let sqlx_error = match error {
        // No connection could be taken from the pool (timed out or closed).
        DbErr::ConnectionAcquire(_) => {
            return Outage::NoFreeConnection.error(outage::Database::Lms, error);
        }
        DbErr::RecordNotFound(_) | DbErr::RecordNotUpdated => {
            return match target.id {
                Some(id) => DomainError::not_found(target.resource, id),
                None => DomainError::Internal(error.to_string()),
            };
        }
        DbErr::Conn(RuntimeErr::SqlxError(inner))
        | DbErr::Exec(RuntimeErr::SqlxError(inner))
        | DbErr::Query(RuntimeErr::SqlxError(inner)) => inner.as_ref(),
        // A connection error without a driver error behind it still means
        // the database could not be reached.
        DbErr::Conn(_) => return Outage::NotAnswering.error(outage::Database::Lms, error),
        _ => return DomainError::Internal(error.to_string()),
    };
    match sqlx_error {
        sqlx::Error::Database(database) => match database.try_downcast_ref::<PgDatabaseError>() {
            Some(pg) => from_postgres(target, pg),
            None => DomainError::Internal(database.to_string()),
        },
        // The one classification the engine and the legacy reads use too.
        _ if lms_pg::classify(sqlx_error) == FailureClass::Transient => {
            outage::unavailable(outage::Database::Lms, sqlx_error)
        }
        _ => DomainError::Internal(sqlx_error.to_string()),
    }
}

fn from_postgres(target: Target, pg: &PgDatabaseError) -> DomainError {
    let code = pg.code();
    let constraint = pg.constraint().unwrap_or_default();
    let table = pg.table().unwrap_or_default();
    match code {
        "23505" => DomainError::AlreadyExists {
            resource: target.resource,
            detail: unique_detail(constraint),
        },
        "23503" => DomainError::FailedPrecondition(foreign_key_message(
            target,
            table,
            constraint,
            pg.detail().and_then(key_value),
        )),
        "23514" => check_violation(table, constraint),
        // The table is being loaded in bulk by a migration run (the trigger
        // migration.refuse_writes_during_bulk_load says which and since when):
        // the primary answered, so it is busy, not down.
        "LM001" => DomainError::Busy(pg.message().to_owned()),
        // Transient: among them 25006, the primary's address now leading to
        // a read-only server (Unavailable: the write router probes the
        // primary), and 57014, grpc.statement_timeout stopping the
        // statement (Busy, as contention is: the server answered).
        _ if lms_pg::classify_sqlstate(code) == FailureClass::Transient => {
            Outage::of_sqlstate(code).error(outage::Database::Lms, &pg.message())
        }
        _ => DomainError::Internal(format!("{code}: {}", pg.message())),
    }
}

/// What a unique constraint means, in words.
fn unique_detail(constraint: &str) -> String {
    match constraint {
        "course_enrollments_student_course_key" => {
            "this student is already enrolled in this course".to_owned()
        }
        "grades_one_final_per_enrollment" => "this enrollment already has a final grade".to_owned(),
        "assessment_submissions_assessment_student_key" => {
            "this student already has a submission for this assessment".to_owned()
        }
        "courses_offering_key" => {
            "this subject is already offered to this group in this semester".to_owned()
        }
        "users_login_key" => "this login is taken".to_owned(),
        "users_email_key" => "this email address belongs to another account".to_owned(),
        _ if constraint.ends_with("_legacy_id_key") => {
            "another row has the same legacy id".to_owned()
        }
        // Never the constraint's name: it is the schema's, not the API's.
        _ => {
            tracing::debug!(constraint, "unique violation on an unnamed key");
            "a value that must be unique is taken by another row".to_owned()
        }
    }
}

/// A foreign-key violation either means the row being written refers to a
/// row that does not exist (the constraint is on the target's own table) or
/// that the row being deleted is still referenced from another table.
/// PostgreSQL reports the referencing table in both cases.
fn foreign_key_message(
    target: Target,
    table: &str,
    constraint: &str,
    value: Option<&str>,
) -> String {
    if table == own_table(target.resource) {
        let noun = constraint
            .strip_prefix(table)
            .and_then(|rest| rest.strip_prefix('_'))
            .and_then(|rest| rest.strip_suffix("_fkey"))
            .map_or("row", referenced_noun);
        match value {
            Some(value) => format!("{noun} {value} does not exist"),
            None => format!("the referenced {noun} does not exist"),
        }
    } else {
        let subject = match target.id {
            Some(id) => format!("{} {id}", target.resource),
            None => format!("the {}", target.resource),
        };
        format!(
            "{subject} still has {}; delete them first",
            referencing_noun(table)
        )
    }
}

/// The key value in a detail like `Key (person_id)=(999) is not present in
/// table "persons".`; the `(column)=(value)` part is not translated.
fn key_value(detail: &str) -> Option<&str> {
    let start = detail.find(")=(")? + 3;
    let rest = &detail[start..];
    rest.find(')').map(|end| &rest[..end])
}

fn check_violation(table: &str, constraint: &str) -> DomainError {
    let resource = field_prefix(table);
    match constraint {
        "course_materials_check" => {
            DomainError::invalid(format!("{resource}.url"), "links and files need a url")
        }
        "grades_check" => DomainError::invalid(
            format!("{resource}.scale"),
            "scale and value are set together",
        ),
        "assessment_submissions_check" => DomainError::invalid(
            format!("{resource}.answers"),
            "answers are either JSON or raw, not both",
        ),
        _ => {
            // Column checks are named <table>_<column>_check by PostgreSQL;
            // the field is named, the constraint never is.
            tracing::debug!(constraint, "check violation");
            let field = constraint
                .strip_prefix(table)
                .and_then(|rest| rest.strip_prefix('_'))
                .and_then(|rest| rest.strip_suffix("_check"))
                .map_or_else(
                    || resource.to_owned(),
                    |column| format!("{resource}.{column}"),
                );
            DomainError::invalid(field, "the value is outside what this field accepts")
        }
    }
}

fn own_table(resource: &str) -> &'static str {
    match resource {
        "organization" => "organizations",
        "person" => "persons",
        "user" => "users",
        "staff member" => "staff_members",
        "student" => "students",
        "course" => "courses",
        "enrollment" => "course_enrollments",
        "grade" => "grades",
        "assessment" => "assessments",
        "submission" => "assessment_submissions",
        "course material" => "course_materials",
        _ => "",
    }
}

/// The request field prefix for a table's columns.
fn field_prefix(table: &str) -> &str {
    match table {
        "course_enrollments" => "enrollment",
        "course_materials" => "course_material",
        "assessment_submissions" => "submission",
        "staff_members" => "staff_member",
        "persons" => "person",
        other => other.strip_suffix('s').unwrap_or(other),
    }
}

fn referenced_noun(column: &str) -> &str {
    match column {
        "person_id" => "person",
        "user_id" => "user",
        "organization_id" | "parent_id" => "organization",
        "group_id" => "student group",
        "curator_id" | "teacher_id" => "staff member",
        "subject_id" => "subject",
        "student_id" => "student",
        "course_id" => "course",
        "enrollment_id" => "enrollment",
        "assessment_id" => "assessment",
        other => other,
    }
}

fn referencing_noun(table: &str) -> &str {
    match table {
        "course_enrollments" => "enrollments",
        "assessment_submissions" => "submissions",
        "course_materials" => "materials",
        "staff_members" => "staff records",
        "student_groups" => "student groups",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::ConnAcquireErr;

    #[test]
    fn key_values_come_from_the_detail() {
        let detail = r#"Key (person_id)=(999) is not present in table "persons"."#;
        assert_eq!(key_value(detail), Some("999"));
        assert_eq!(key_value("no key here"), None);
    }

    #[test]
    fn pool_and_missing_row_errors() {
        let timeout = DbErr::ConnectionAcquire(ConnAcquireErr::Timeout);
        assert!(matches!(
            db_error(Target::any("student"), &timeout),
            DomainError::Unavailable(_)
        ));
        let missing = db_error(Target::row("grade", 7), &DbErr::RecordNotUpdated);
        assert_eq!(missing, DomainError::not_found("grade", 7));
        let other = db_error(Target::any("grade"), &DbErr::Custom("x".into()));
        assert!(matches!(other, DomainError::Internal(_)));
    }

    #[test]
    fn messages_name_the_other_side() {
        let missing = foreign_key_message(
            Target::any("enrollment"),
            "course_enrollments",
            "course_enrollments_teacher_id_fkey",
            Some("12"),
        );
        assert_eq!(missing, "staff member 12 does not exist");
        let referenced = foreign_key_message(
            Target::row("student", 5),
            "assessment_submissions",
            "assessment_submissions_student_id_fkey",
            Some("5"),
        );
        assert_eq!(
            referenced,
            "student 5 still has submissions; delete them first"
        );
        assert_eq!(field_prefix("grades"), "grade");
        assert_eq!(field_prefix("course_materials"), "course_material");
    }
}
