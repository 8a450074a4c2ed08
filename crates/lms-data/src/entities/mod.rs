//! SeaORM entities of the LMS domain tables, one module per table, column
//! for column as the SQL migrations define them. Only this crate sees them.
pub mod assessment_submissions;
pub mod assessments;
pub mod course_enrollments;
pub mod course_materials;
pub mod courses;
pub mod grades;
pub mod organizations;
pub mod persons;
pub mod staff_members;
pub mod student_groups;
pub mod students;
pub mod subjects;
pub mod users;
