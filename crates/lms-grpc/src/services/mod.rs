//! The services. Each handler: validate, convert into domain values, call
//! the repository or the engine, convert back.

pub mod assessments;
pub mod courses;
pub mod directory;
pub mod enrollments;
pub mod migration;
pub mod parse;
pub mod students;
pub mod verification;

use std::future::Future;

use lms_data::repo::Repository;
use lms_domain::model::{Page, PageRequest};

use crate::error::ApiError;
use crate::request::{next_token, page};
use crate::response_budget::ResponseBudget;

/// The domain API's shared state: the repository over the LMS database,
/// and how large a List response may be.
#[derive(Debug, Clone)]
pub struct DomainApi {
    pub repo: Repository,
    pub budget: ResponseBudget,
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

/// One page of a List method: the page the request asks for (its token
/// bound to `binding`, the method and its filter, so that a token cannot be
/// replayed under another filter), fetched by `fetch`, converted to proto
/// messages, cut to what one response can carry (`budget`), with the token
/// of the next page.
pub async fn list_page<T, P, E, Fut>(
    budget: ResponseBudget,
    binding: &str,
    page_size: i32,
    page_token: &str,
    fetch: impl FnOnce(PageRequest) -> Fut,
) -> Result<(Vec<P>, String), tonic::Status>
where
    Fut: Future<Output = Result<Page<T>, E>>,
    E: Into<ApiError>,
    P: From<T> + prost::Message,
{
    let request = page(page_size, page_token, binding)
        .or_status()?
        .with_max_bytes(budget.max_message_bytes());
    let found = fetch(request).await.or_status()?.map(P::from);
    let fitting = budget.fitting(&found.items).or_status()?;
    let sent = found.cut(fitting);
    Ok((sent.items, next_token(sent.next_after, binding)))
}

/// Checks a legacy id given to a Lookup method (or ExplainRow): any value
/// of the legacy table's id column, zero and negatives included.
pub fn legacy_id(entity: lms_domain::LegacyEntity, value: Option<i64>) -> Result<i64, ApiError> {
    let value = value.ok_or_else(|| ApiError::invalid("legacy_id", "is required"))?;
    let range = entity.legacy_id_range();
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::invalid(
            "legacy_id",
            format!(
                "legacy {entity} ids are from {} to {}",
                range.start(),
                range.end()
            ),
        ))
    }
}
