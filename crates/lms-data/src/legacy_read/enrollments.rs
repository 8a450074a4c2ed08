//! The journal: enrollments and the grades of their final marks.

use lms_domain::DomainError;
use lms_domain::course::CourseTerm;
use lms_domain::mark::parse_mark;
use lms_domain::model::*;
use lms_domain::status::EnrollmentStatus;

use super::LegacyReader;
use super::ids::IdMap;
use super::rows::{
    DatabaseResult, UtcTime, VocabularyFilter, collect, legacy_filter, served, trimmed,
    vocabulary_sql,
};
use super::rows::{legacy_instant, looked_up};

const ENROLLMENT: &str = "enrollment";
const GRADE: &str = "grade";
const COURSE: &str = "course";

macro_rules! select_journal {
    ($($condition:expr),+) => {
        concat!(
            "SELECT id, student_id, subject_id, group_id, teacher_id, academic_year, semester, \
                    status, mark_current, mark_final, ", legacy_instant!("updated_at"), " AS updated_at \
             FROM journal WHERE ",
            $($condition),+
        )
    };
}

#[derive(sqlx::FromRow)]
struct JournalRow {
    id: i64,
    student_id: Option<i32>,
    subject_id: Option<i32>,
    group_id: Option<i32>,
    teacher_id: Option<i32>,
    academic_year: Option<String>,
    semester: Option<i16>,
    status: Option<String>,
    mark_current: Option<String>,
    mark_final: Option<String>,
    updated_at: Option<UtcTime>,
}

/// What SQL can narrow a journal scan to; the exact filter runs on the
/// converted items.
#[derive(Debug, Default)]
struct JournalScan {
    /// The legacy students whose rows attach to the wanted student.
    students: Option<Vec<i64>>,
    subject: Option<i64>,
    group: Option<i64>,
    /// Contained in the untrimmed academic year.
    academic_year: Option<String>,
    semester: Option<i16>,
    status: VocabularyFilter,
    /// Only rows with a final mark (grades).
    marked: bool,
    /// Only this row.
    only: Option<i64>,
}

impl LegacyReader {
    pub async fn get_enrollment(&self, id: EnrollmentId) -> Result<Enrollment, DomainError> {
        let ids = self.ids()?;
        let found = match ids.journal.migrated.legacy_id(id.0) {
            Some(legacy_id) => self.journal_row(&ids, legacy_id).await?,
            None => None,
        };
        found
            .and_then(|row| enrollment(&ids, &row))
            .ok_or_else(|| DomainError::not_known_to_legacy(ENROLLMENT, id))
    }

    pub async fn list_enrollments(
        &self,
        filter: &EnrollmentFilter,
        page: PageRequest,
    ) -> Result<Page<Enrollment>, DomainError> {
        let ids = self.ids()?;
        let mut scan = JournalScan {
            status: VocabularyFilter::new(
                filter.status,
                EnrollmentStatus::Active,
                EnrollmentStatus::ALL,
                EnrollmentStatus::as_str,
            ),
            ..JournalScan::default()
        };
        if let Some(student) = filter.student_id {
            let referring = ids.students.referring(student.0);
            if referring.is_empty() {
                return Err(DomainError::not_known_to_legacy("student", student.0));
            }
            scan.students = Some(referring);
        }
        if let Some(course) = filter.course_id {
            // The journal rows of a course are those whose offering key is
            // the course's; a NULL group also takes rows whose group points
            // nowhere, which only the exact filter can tell.
            // A course, or its subject or group, that the map does not know
            // was created in the LMS (or since the map was loaded).
            let unknown = || DomainError::not_known_to_legacy(COURSE, course.0);
            let entry = ids.courses.get(course.0).ok_or_else(unknown)?;
            let subject = ids
                .subjects
                .migrated
                .legacy_id(entry.subject_id)
                .ok_or_else(unknown)?;
            let group = legacy_filter(COURSE, entry.group_id, |id| {
                ids.groups.migrated.legacy_id(id)
            })
            .map_err(|_| unknown())?;
            scan.subject = Some(subject);
            scan.group = group;
            scan.academic_year = Some(entry.academic_year.clone());
            scan.semester = Some(entry.semester);
        }
        let scanned = collect(
            page,
            self.max_rows_per_list(),
            |from, limit| self.scan_journal(&scan, from, limit),
            |row: &JournalRow| row.id,
            |row| enrollment(&ids, &row).filter(|enrollment| matches(filter, enrollment)),
        )
        .await?;
        Ok(scanned.into_page(page, |e| e.legacy.map_or(0, |l| l.legacy_id)))
    }

    pub async fn lookup_enrollment(&self, legacy_id: i64) -> Result<Enrollment, DomainError> {
        let ids = self.ids()?;
        let mapped = ids.journal.migrated.lms_id(legacy_id).is_some();
        let found = if mapped {
            self.journal_row(&ids, legacy_id).await?
        } else {
            None
        };
        let found = found.and_then(|row| enrollment(&ids, &row));
        looked_up(found, mapped, ENROLLMENT, legacy_id)
    }

    pub async fn get_grade(&self, id: GradeId) -> Result<Grade, DomainError> {
        let ids = self.ids()?;
        let found = match ids.grades.legacy_id(id.0) {
            Some(legacy_id) => self.journal_row(&ids, legacy_id).await?,
            None => None,
        };
        found
            .and_then(|row| grade(&ids, &row))
            .ok_or_else(|| DomainError::not_known_to_legacy(GRADE, id))
    }

    pub async fn list_grades(
        &self,
        filter: &GradeFilter,
        page: PageRequest,
    ) -> Result<Page<Grade>, DomainError> {
        let ids = self.ids()?;
        let only = legacy_filter(ENROLLMENT, filter.enrollment_id.map(|id| id.0), |id| {
            ids.journal.migrated.legacy_id(id)
        })?;
        let scan = JournalScan {
            marked: true,
            only,
            ..JournalScan::default()
        };
        let scanned = collect(
            page,
            self.max_rows_per_list(),
            |from, limit| self.scan_journal(&scan, from, limit),
            |row: &JournalRow| row.id,
            |row| {
                grade(&ids, &row).filter(|grade| {
                    filter
                        .enrollment_id
                        .is_none_or(|id| grade.enrollment_id == id)
                })
            },
        )
        .await?;
        Ok(scanned.into_page(page, |g| g.legacy.map_or(0, |l| l.legacy_id)))
    }

    pub async fn lookup_grade(&self, legacy_id: i64) -> Result<Grade, DomainError> {
        let ids = self.ids()?;
        let mapped = ids.grades.lms_id(legacy_id).is_some();
        let found = if mapped {
            self.journal_row(&ids, legacy_id).await?
        } else {
            None
        };
        let found = found.and_then(|row| grade(&ids, &row));
        looked_up(found, mapped, GRADE, legacy_id)
    }

    async fn journal_row(
        &self,
        ids: &IdMap,
        legacy_id: i64,
    ) -> Result<Option<JournalRow>, DomainError> {
        if ids.journal.migrated.lms_id(legacy_id).is_none() {
            return Ok(None);
        }
        sqlx::query_as(select_journal!("id = $2"))
            .bind(self.timezone())
            .bind(legacy_id)
            .fetch_optional(self.pool())
            .await
            .legacy()
    }

    async fn scan_journal(
        &self,
        scan: &JournalScan,
        from: i64,
        limit: i64,
    ) -> Result<Vec<JournalRow>, DomainError> {
        sqlx::query_as(select_journal!(
            "id >= $2 AND ($4::bigint[] IS NULL OR student_id = ANY ($4)) \
             AND ($5::bigint IS NULL OR subject_id = $5) AND ($6::bigint IS NULL OR group_id = $6) \
             AND ($7::text IS NULL OR strpos(academic_year, $7) > 0) \
             AND ($8::smallint IS NULL OR semester = $8) \
             AND ($11::boolean IS NOT TRUE OR mark_final IS NOT NULL) \
             AND ($12::bigint IS NULL OR id = $12) AND ",
            vocabulary_sql!("status", "$9", "$10"),
            " ORDER BY id LIMIT $3"
        ))
        .bind(self.timezone())
        .bind(from)
        .bind(limit)
        .bind(scan.students.as_deref())
        .bind(scan.subject)
        .bind(scan.group)
        .bind(scan.academic_year.as_deref())
        .bind(scan.semester)
        .bind(scan.status.contains)
        .bind(scan.status.excluded.as_deref())
        .bind(scan.marked)
        .bind(scan.only)
        .persistent(false)
        .fetch_all(self.pool())
        .await
        .legacy()
    }
}

fn matches(filter: &EnrollmentFilter, enrollment: &Enrollment) -> bool {
    filter
        .student_id
        .is_none_or(|id| enrollment.student_id == id)
        && filter.course_id.is_none_or(|id| enrollment.course_id == id)
        && filter
            .status
            .is_none_or(|status| enrollment.status == status)
}

/// The contract: the student resolves (a merged one to its survivor), the
/// subject too, the academic year is not blank and the semester 1 or 2
/// (else the row would now be rejected); the course is the one of its
/// offering key, a group pointing nowhere counting as NULL; a teacher
/// pointing nowhere is NULL; the status is read from its list.
fn enrollment(ids: &IdMap, row: &JournalRow) -> Option<Enrollment> {
    let id = ids.journal.migrated.lms_id(row.id)?;
    let student = ids.students.reference(i64::from(row.student_id?))?;
    let subject = ids.subjects.migrated.lms_id(i64::from(row.subject_id?))?;
    let group = row
        .group_id
        .and_then(|group| ids.groups.migrated.lms_id(i64::from(group)));
    let term =
        CourseTerm::from_legacy(row.academic_year.as_deref(), row.semester.map(i64::from)).ok()?;
    let course = ids
        .courses
        .find(subject, group, &term.academic_year, term.semester)?;
    Some(Enrollment {
        id: EnrollmentId(id),
        student_id: StudentId(student),
        course_id: CourseId(course),
        teacher_id: row
            .teacher_id
            .and_then(|teacher| ids.teachers.migrated.lms_id(i64::from(teacher)))
            .map(StaffMemberId),
        status: EnrollmentStatus::from_legacy(row.status.as_deref()).value,
        current_mark: trimmed(row.mark_current.as_deref()),
        updated_at: row.updated_at.and_then(UtcTime::instant),
        legacy: served(row.id),
    })
}

/// The contract: a non-blank final mark of a served enrollment is its
/// final grade, the raw text kept and read on the known scales; it was
/// graded when the journal row was last updated.
fn grade(ids: &IdMap, row: &JournalRow) -> Option<Grade> {
    let id = ids.grades.lms_id(row.id)?;
    let enrollment = enrollment(ids, row)?;
    let mark = parse_mark(row.mark_final.as_deref())?.value;
    let (scale, value, points) = match mark.normalized {
        Some(normalized) => (
            Some(normalized.scale),
            Some(normalized.value),
            normalized.points,
        ),
        None => (None, None, None),
    };
    Some(Grade {
        id: GradeId(id),
        enrollment_id: enrollment.id,
        kind: GradeKind::Final,
        raw_mark: mark.raw,
        scale,
        value,
        points,
        graded_at: enrollment.updated_at,
        legacy: served(row.id),
    })
}
