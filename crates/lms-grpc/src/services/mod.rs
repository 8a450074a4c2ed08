//! The services. Each handler: validate, convert into domain values, call
//! the repository or the engine, convert back.

pub mod assessments;
pub mod courses;
pub mod directory;
pub mod enrollments;
pub mod migration;
pub mod parse;
pub mod students;

use lms_data::repo::Repository;

use crate::error::ApiError;

/// The domain API's shared state: the repository over the LMS database.
#[derive(Debug, Clone)]
pub struct DomainApi {
    pub repo: Repository,
}

/// `?` on domain results inside handlers.
pub trait OrStatus<T> {
    fn or_status(self) -> Result<T, tonic::Status>;
}

impl<T, E: Into<ApiError>> OrStatus<T> for Result<T, E> {
    fn or_status(self) -> Result<T, tonic::Status> {
        self.map_err(|error| tonic::Status::from(error.into()))
    }
}

/// Checks a legacy id given to a Lookup method.
pub fn legacy_id(value: i64) -> Result<i64, tonic::Status> {
    if value > 0 {
        Ok(value)
    } else {
        Err(ApiError::invalid("legacy_id", "must be a positive legacy id").into())
    }
}
