//! What each gRPC method needs, as one explicit table. A method that is not
//! in the table is refused to every caller: adding an RPC without deciding
//! its scope fails closed (and `every_served_method_is_in_the_table` fails).

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Reads of the LMS domain.
    LmsRead,
    /// Writes of the LMS domain.
    LmsWrite,
    /// The migration service.
    MigrationAdmin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::LmsRead, Scope::LmsWrite, Scope::MigrationAdmin];

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == text)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::LmsRead => "lms.read",
            Scope::LmsWrite => "lms.write",
            Scope::MigrationAdmin => "migration.admin",
        }
    }
}

/// What a method needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health checks and reflection.
    Open,
    /// A valid token carrying this scope.
    Needs(Scope),
    /// Not in the table: refused to everyone.
    Unlisted,
}

/// Every method the server serves, by its gRPC path, and what it needs.
pub const METHODS: &[(&str, Access)] = {
    use Access::{Needs, Open};
    use Scope::{LmsRead, LmsWrite, MigrationAdmin};
    &[
        ("/grpc.health.v1.Health/Check", Open),
        ("/grpc.health.v1.Health/Watch", Open),
        (
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            Open,
        ),
        (
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            Open,
        ),
        (
            "/lms.v1.OrganizationService/GetOrganization",
            Needs(LmsRead),
        ),
        (
            "/lms.v1.OrganizationService/ListOrganizations",
            Needs(LmsRead),
        ),
        (
            "/lms.v1.OrganizationService/LookupOrganization",
            Needs(LmsRead),
        ),
        ("/lms.v1.PersonService/GetPerson", Needs(LmsRead)),
        ("/lms.v1.PersonService/ListPersons", Needs(LmsRead)),
        ("/lms.v1.PersonService/LookupPerson", Needs(LmsRead)),
        ("/lms.v1.UserService/GetUser", Needs(LmsRead)),
        ("/lms.v1.UserService/ListUsers", Needs(LmsRead)),
        ("/lms.v1.UserService/LookupUser", Needs(LmsRead)),
        ("/lms.v1.StudentService/GetStudent", Needs(LmsRead)),
        ("/lms.v1.StudentService/ListStudents", Needs(LmsRead)),
        ("/lms.v1.StudentService/LookupStudent", Needs(LmsRead)),
        ("/lms.v1.StudentService/CreateStudent", Needs(LmsWrite)),
        ("/lms.v1.StudentService/UpdateStudent", Needs(LmsWrite)),
        ("/lms.v1.StudentService/DeleteStudent", Needs(LmsWrite)),
        ("/lms.v1.StaffService/GetStaffMember", Needs(LmsRead)),
        ("/lms.v1.StaffService/ListStaffMembers", Needs(LmsRead)),
        ("/lms.v1.StaffService/LookupStaffMember", Needs(LmsRead)),
        ("/lms.v1.CourseService/GetCourse", Needs(LmsRead)),
        ("/lms.v1.CourseService/ListCourses", Needs(LmsRead)),
        ("/lms.v1.CourseService/GetCourseMaterial", Needs(LmsRead)),
        ("/lms.v1.CourseService/ListCourseMaterials", Needs(LmsRead)),
        (
            "/lms.v1.CourseService/CreateCourseMaterial",
            Needs(LmsWrite),
        ),
        (
            "/lms.v1.CourseService/UpdateCourseMaterial",
            Needs(LmsWrite),
        ),
        (
            "/lms.v1.CourseService/DeleteCourseMaterial",
            Needs(LmsWrite),
        ),
        ("/lms.v1.EnrollmentService/GetEnrollment", Needs(LmsRead)),
        ("/lms.v1.EnrollmentService/ListEnrollments", Needs(LmsRead)),
        ("/lms.v1.EnrollmentService/LookupEnrollment", Needs(LmsRead)),
        (
            "/lms.v1.EnrollmentService/CreateEnrollment",
            Needs(LmsWrite),
        ),
        (
            "/lms.v1.EnrollmentService/UpdateEnrollment",
            Needs(LmsWrite),
        ),
        (
            "/lms.v1.EnrollmentService/DeleteEnrollment",
            Needs(LmsWrite),
        ),
        ("/lms.v1.EnrollmentService/GetGrade", Needs(LmsRead)),
        ("/lms.v1.EnrollmentService/ListGrades", Needs(LmsRead)),
        ("/lms.v1.EnrollmentService/LookupGrade", Needs(LmsRead)),
        ("/lms.v1.EnrollmentService/CreateGrade", Needs(LmsWrite)),
        ("/lms.v1.EnrollmentService/UpdateGrade", Needs(LmsWrite)),
        ("/lms.v1.EnrollmentService/DeleteGrade", Needs(LmsWrite)),
        ("/lms.v1.AssessmentService/GetAssessment", Needs(LmsRead)),
        ("/lms.v1.AssessmentService/ListAssessments", Needs(LmsRead)),
        ("/lms.v1.AssessmentService/LookupAssessment", Needs(LmsRead)),
        ("/lms.v1.AssessmentService/GetSubmission", Needs(LmsRead)),
        ("/lms.v1.AssessmentService/ListSubmissions", Needs(LmsRead)),
        ("/lms.v1.AssessmentService/LookupSubmission", Needs(LmsRead)),
        (
            "/lms.migration.v1.MigrationService/StartRun",
            Needs(MigrationAdmin),
        ),
        (
            "/lms.migration.v1.MigrationService/GetRun",
            Needs(MigrationAdmin),
        ),
        (
            "/lms.migration.v1.MigrationService/ListRuns",
            Needs(MigrationAdmin),
        ),
        (
            "/lms.migration.v1.MigrationService/WatchRun",
            Needs(MigrationAdmin),
        ),
        (
            "/lms.migration.v1.MigrationService/CancelRun",
            Needs(MigrationAdmin),
        ),
        (
            "/lms.migration.v1.MigrationService/UndoRun",
            Needs(MigrationAdmin),
        ),
        (
            "/lms.migration.v1.MigrationService/ApproveRun",
            Needs(MigrationAdmin),
        ),
        (
            "/lms.migration.v1.MigrationService/GetCoverageReport",
            Needs(MigrationAdmin),
        ),
        (
            "/lms.migration.v1.MigrationService/ListRowOutcomes",
            Needs(MigrationAdmin),
        ),
        (
            "/lms.migration.v1.MigrationService/ExplainRow",
            Needs(MigrationAdmin),
        ),
        (
            "/lms.migration.v1.MigrationService/RetryRejected",
            Needs(MigrationAdmin),
        ),
        // Verification reads all of legacy and the LMS: an admin's method.
        (
            "/lms.migration.v1.MigrationService/VerifyRun",
            Needs(MigrationAdmin),
        ),
        // The audit trail names every writer: an admin's method.
        (
            "/lms.migration.v1.MigrationService/ListAuditEvents",
            Needs(MigrationAdmin),
        ),
    ]
};

/// The access a gRPC path (`/package.Service/Method`) needs.
pub fn access(path: &str) -> Access {
    listed(path).map_or(Access::Unlisted, |(_, access)| access)
}

/// The table's entry for a gRPC path: the path as the table spells it
/// (static, for callers to keep) and its access.
pub fn listed(path: &str) -> Option<(&'static str, Access)> {
    METHODS
        .iter()
        .find(|(method, _)| *method == path)
        .map(|(method, access)| (*method, *access))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use prost_reflect::DescriptorPool;

    use super::*;
    use crate::pb::FILE_DESCRIPTOR_SET;

    /// Every method of every service in our descriptor set, plus health
    /// and both reflection versions, by gRPC path.
    fn served_methods() -> BTreeSet<String> {
        let mut pool = DescriptorPool::decode(FILE_DESCRIPTOR_SET).unwrap();
        pool.decode_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .unwrap();
        let mut paths = BTreeSet::new();
        for service in pool.services() {
            for method in service.methods() {
                paths.insert(format!("/{}/{}", service.full_name(), method.name()));
            }
        }
        for version in ["v1", "v1alpha"] {
            paths.insert(format!(
                "/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo"
            ));
        }
        paths
    }

    #[test]
    fn only_health_and_reflection_are_open() {
        for (path, access) in METHODS {
            if *access == Access::Open {
                assert!(
                    path.starts_with("/grpc.health.v1.Health/")
                        || path.starts_with("/grpc.reflection."),
                    "{path} is open to callers without a token"
                );
            }
        }
    }

    #[test]
    fn every_served_method_is_in_the_table() {
        let listed: BTreeSet<String> = METHODS.iter().map(|(path, _)| (*path).to_owned()).collect();
        let served = served_methods();
        let missing: Vec<&String> = served.difference(&listed).collect();
        let stale: Vec<&String> = listed.difference(&served).collect();
        assert!(
            missing.is_empty(),
            "methods with no access decided: {missing:?}"
        );
        assert!(
            stale.is_empty(),
            "table entries no service serves: {stale:?}"
        );
    }

    #[test]
    fn the_table_names_each_method_once() {
        let listed: BTreeSet<&str> = METHODS.iter().map(|(path, _)| *path).collect();
        assert_eq!(listed.len(), METHODS.len());
    }

    #[test]
    fn a_method_not_in_the_table_is_refused() {
        assert_eq!(
            access("/lms.v1.StudentService/PromoteStudent"),
            Access::Unlisted
        );
        assert_eq!(access("/other.Thing/Do"), Access::Unlisted);
        assert_eq!(access("lms.v1.StudentService/GetStudent"), Access::Unlisted);
    }

    #[test]
    fn domain_writes_need_the_write_scope() {
        assert_eq!(
            access("/lms.v1.StudentService/DeleteStudent"),
            Access::Needs(Scope::LmsWrite)
        );
    }
}
