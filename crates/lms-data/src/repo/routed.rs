//! The repository's public methods: each read is routed to the endpoint
//! that answers (retrying once per endpoint when one goes away mid-request),
//! each write to the primary alone.

use std::future::Future;
use std::pin::Pin;

use lms_domain::DomainError;
use lms_domain::model::*;

use super::{LmsStore, Repository};
use crate::failover::{DataSource, PRIMARY, ReadRoute, Request, note_served_from};
use crate::legacy_read::LegacyReader;

/// Pages continue only in the id space they started in: a token from
/// before a failover (or a return) cannot be resumed on the other side.
fn check_cursor(page: PageRequest, space: CursorSpace) -> Result<(), DomainError> {
    match page.cursor() {
        Some(cursor) if cursor.space != space => Err(DomainError::FailedPrecondition(
            match space {
                CursorSpace::Legacy => "this page token was issued by the LMS database, which is down; reads now come from the legacy database: list again from the first page",
                CursorSpace::Lms => "this page token was issued in degraded mode (the legacy database); the LMS database is back: list again from the first page",
            }
            .to_owned(),
        )),
        _ => Ok(()),
    }
}

/// What a read does where the legacy database cannot answer it.
fn not_in_degraded_mode(what: &str) -> DomainError {
    DomainError::Unavailable(format!(
        "the LMS database is down and {what} are not served from the legacy database; retry when it is back"
    ))
}

/// A read's future. Boxed, with the lifetime of what it borrows, so that
/// handlers stay `Send` whatever the closures capture.
type Reading<'a, T> = Pin<Box<dyn Future<Output = Result<T, DomainError>> + Send + 'a>>;

/// A read the legacy database serves too. (The function gives the closure
/// the type its boxed future must coerce to.)
fn also_legacy<'a, T>(
    read: impl Fn(LegacyReader) -> Reading<'a, T>,
) -> Option<impl Fn(LegacyReader) -> Reading<'a, T>> {
    Some(read)
}

impl Repository {
    /// Runs a read on the first endpoint that answers. `legacy` is `None`
    /// for reads the legacy database cannot serve.
    async fn read<'a, T>(
        &self,
        lms: impl Fn(LmsStore) -> Reading<'a, T>,
        legacy: Option<impl Fn(LegacyReader) -> Reading<'a, T>>,
    ) -> Result<T, DomainError> {
        let mut attempts = 0;
        loop {
            let (endpoint, source, result) = match self.sources.read_route()? {
                ReadRoute::Lms {
                    endpoint,
                    source,
                    store,
                } => (
                    endpoint,
                    source,
                    self.sources
                        .watched(endpoint, Request::Read, lms(store))
                        .await,
                ),
                ReadRoute::Legacy { endpoint, reader } => {
                    let Some(legacy) = &legacy else {
                        note_served_from(DataSource::Legacy);
                        return Err(not_in_degraded_mode("these resources"));
                    };
                    let result = self
                        .sources
                        .watched(endpoint, Request::Read, legacy(reader))
                        .await;
                    (endpoint, DataSource::Legacy, result)
                }
            };
            attempts += 1;
            // Only a database that may be gone is probed: one that answered
            // `Busy` (contention, a statement timeout, a bulk load) is up.
            if matches!(result, Err(DomainError::Unavailable(_)))
                && attempts < self.sources.endpoint_count()
                && self.sources.report_failure(endpoint).await
            {
                continue;
            }
            note_served_from(source);
            return result;
        }
    }

    /// Runs a write on the primary; never anywhere else.
    pub(super) async fn write<'a, T>(
        &self,
        write: impl FnOnce(LmsStore) -> Reading<'a, T>,
    ) -> Result<T, DomainError> {
        let store = self.sources.write_store()?;
        let result = self
            .sources
            .watched(PRIMARY, Request::Write, write(store))
            .await;
        if matches!(result, Err(DomainError::Unavailable(_))) {
            self.sources.report_failure(PRIMARY).await;
        }
        note_served_from(DataSource::Primary);
        result
    }
}

/// Reads served from every source: `get`, `list` with a filter, `lookup`.
macro_rules! routed_reads {
    ($({
        resource: $resource:ty,
        get: $get:ident($id:ty),
        list: $list:ident($($filter:ty)?)
        $(, lookup: $lookup:ident)?
    })*) => {
        impl Repository {
            $(
                pub async fn $get(&self, id: $id) -> Result<$resource, DomainError> {
                    self.read(
                        move |store| Box::pin(async move { store.$get(id).await }),
                        also_legacy(move |reader: LegacyReader| Box::pin(async move { reader.$get(id).await })),
                    )
                    .await
                }

                routed_reads!(@list $list $resource $(, $filter)?);

                $(
                    pub async fn $lookup(&self, legacy_id: i64) -> Result<$resource, DomainError> {
                        self.read(
                            move |store| Box::pin(async move { store.$lookup(legacy_id).await }),
                            also_legacy(move |reader: LegacyReader| Box::pin(async move {
                                reader.$lookup(legacy_id).await
                            })),
                        )
                        .await
                    }
                )?
            )*
        }
    };
    (@list $list:ident $resource:ty, $filter:ty) => {
        pub async fn $list(&self, filter: &$filter, page: PageRequest) -> Result<Page<$resource>, DomainError> {
            self.read(
                |store| Box::pin(async move {
                    check_cursor(page, CursorSpace::Lms)?;
                    store.$list(filter, page).await
                }),
                also_legacy(|reader: LegacyReader| Box::pin(async move {
                    check_cursor(page, CursorSpace::Legacy)?;
                    reader.$list(filter, page).await
                })),
            )
            .await
        }
    };
    (@list $list:ident $resource:ty) => {
        pub async fn $list(&self, page: PageRequest) -> Result<Page<$resource>, DomainError> {
            self.read(
                |store| Box::pin(async move {
                    check_cursor(page, CursorSpace::Lms)?;
                    store.$list(page).await
                }),
                also_legacy(|reader: LegacyReader| Box::pin(async move {
                    check_cursor(page, CursorSpace::Legacy)?;
                    reader.$list(page).await
                })),
            )
            .await
        }
    };
}

routed_reads! {
    { resource: Organization, get: get_organization(OrganizationId), list: list_organizations(), lookup: lookup_organization }
    { resource: Person, get: get_person(PersonId), list: list_persons(), lookup: lookup_person }
    { resource: User, get: get_user(UserId), list: list_users(UserFilter), lookup: lookup_user }
    { resource: Student, get: get_student(StudentId), list: list_students(StudentFilter), lookup: lookup_student }
    { resource: Course, get: get_course(CourseId), list: list_courses(CourseFilter) }
    { resource: Enrollment, get: get_enrollment(EnrollmentId), list: list_enrollments(EnrollmentFilter), lookup: lookup_enrollment }
    { resource: Grade, get: get_grade(GradeId), list: list_grades(GradeFilter), lookup: lookup_grade }
    { resource: Submission, get: get_submission(SubmissionId), list: list_submissions(SubmissionFilter), lookup: lookup_submission }
}

/// The legacy database cannot answer these: staff, assessments and course
/// materials are not part of the degraded mode (materials are born in the
/// LMS and have no legacy source at all).
type NoLegacy<T> = fn(LegacyReader) -> Reading<'static, T>;

impl Repository {
    pub async fn get_staff_member(&self, id: StaffMemberId) -> Result<StaffMember, DomainError> {
        self.read(
            move |store| Box::pin(async move { store.get_staff_member(id).await }),
            None::<NoLegacy<StaffMember>>,
        )
        .await
    }

    pub async fn list_staff_members(
        &self,
        filter: &StaffFilter,
        page: PageRequest,
    ) -> Result<Page<StaffMember>, DomainError> {
        self.read(
            |store| {
                Box::pin(async move {
                    check_cursor(page, CursorSpace::Lms)?;
                    store.list_staff_members(filter, page).await
                })
            },
            None::<NoLegacy<Page<StaffMember>>>,
        )
        .await
    }

    pub async fn lookup_staff_member(&self, legacy_id: i64) -> Result<StaffMember, DomainError> {
        self.read(
            move |store| Box::pin(async move { store.lookup_staff_member(legacy_id).await }),
            None::<NoLegacy<StaffMember>>,
        )
        .await
    }

    pub async fn get_assessment(&self, id: AssessmentId) -> Result<Assessment, DomainError> {
        self.read(
            move |store| Box::pin(async move { store.get_assessment(id).await }),
            None::<NoLegacy<Assessment>>,
        )
        .await
    }

    pub async fn list_assessments(
        &self,
        filter: &AssessmentFilter,
        page: PageRequest,
    ) -> Result<Page<Assessment>, DomainError> {
        self.read(
            |store| {
                Box::pin(async move {
                    check_cursor(page, CursorSpace::Lms)?;
                    store.list_assessments(filter, page).await
                })
            },
            None::<NoLegacy<Page<Assessment>>>,
        )
        .await
    }

    pub async fn lookup_assessment(&self, legacy_id: i64) -> Result<Assessment, DomainError> {
        self.read(
            move |store| Box::pin(async move { store.lookup_assessment(legacy_id).await }),
            None::<NoLegacy<Assessment>>,
        )
        .await
    }

    pub async fn get_material(
        &self,
        course: CourseId,
        id: MaterialId,
    ) -> Result<CourseMaterial, DomainError> {
        self.read(
            move |store| Box::pin(async move { store.get_material(course, id).await }),
            None::<NoLegacy<CourseMaterial>>,
        )
        .await
    }

    pub async fn list_materials(
        &self,
        course: CourseId,
        page: PageRequest,
    ) -> Result<Page<CourseMaterial>, DomainError> {
        self.read(
            move |store| {
                Box::pin(async move {
                    check_cursor(page, CursorSpace::Lms)?;
                    store.list_materials(course, page).await
                })
            },
            None::<NoLegacy<Page<CourseMaterial>>>,
        )
        .await
    }
}

/// Writes: the primary or nothing.
impl Repository {
    pub async fn create_student(&self, new: NewStudent) -> Result<Student, DomainError> {
        self.write(|store| Box::pin(async move { store.create_student(new).await }))
            .await
    }

    pub async fn update_student(
        &self,
        id: StudentId,
        patch: StudentPatch,
    ) -> Result<Student, DomainError> {
        self.write(|store| Box::pin(async move { store.update_student(id, patch).await }))
            .await
    }

    pub async fn delete_student(&self, id: StudentId) -> Result<(), DomainError> {
        self.write(|store| Box::pin(async move { store.delete_student(id).await }))
            .await
    }

    pub async fn create_enrollment(&self, new: NewEnrollment) -> Result<Enrollment, DomainError> {
        self.write(|store| Box::pin(async move { store.create_enrollment(new).await }))
            .await
    }

    pub async fn update_enrollment(
        &self,
        id: EnrollmentId,
        patch: EnrollmentPatch,
    ) -> Result<Enrollment, DomainError> {
        self.write(|store| Box::pin(async move { store.update_enrollment(id, patch).await }))
            .await
    }

    pub async fn delete_enrollment(&self, id: EnrollmentId) -> Result<(), DomainError> {
        self.write(|store| Box::pin(async move { store.delete_enrollment(id).await }))
            .await
    }

    pub async fn create_grade(&self, new: NewGrade) -> Result<Grade, DomainError> {
        self.write(|store| Box::pin(async move { store.create_grade(new).await }))
            .await
    }

    pub async fn update_grade(&self, id: GradeId, patch: GradePatch) -> Result<Grade, DomainError> {
        self.write(|store| Box::pin(async move { store.update_grade(id, patch).await }))
            .await
    }

    pub async fn delete_grade(&self, id: GradeId) -> Result<(), DomainError> {
        self.write(|store| Box::pin(async move { store.delete_grade(id).await }))
            .await
    }

    pub async fn create_material(
        &self,
        course: CourseId,
        new: NewMaterial,
    ) -> Result<CourseMaterial, DomainError> {
        self.write(|store| Box::pin(async move { store.create_material(course, new).await }))
            .await
    }

    pub async fn update_material(
        &self,
        course: CourseId,
        id: MaterialId,
        patch: MaterialPatch,
    ) -> Result<CourseMaterial, DomainError> {
        self.write(|store| Box::pin(async move { store.update_material(course, id, patch).await }))
            .await
    }

    pub async fn delete_material(
        &self,
        course: CourseId,
        id: MaterialId,
    ) -> Result<(), DomainError> {
        self.write(|store| Box::pin(async move { store.delete_material(course, id).await }))
            .await
    }
}
