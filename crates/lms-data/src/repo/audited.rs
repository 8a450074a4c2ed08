//! The API's writes: each in one transaction with its audit row, so that
//! the row exists if and only if the write committed; creates with a
//! request id claim it in that same transaction and store their response
//! there, so that a retry after a lost reply gets the first response and
//! writes nothing.

use std::future::Future;
use std::pin::Pin;

use lms_domain::DomainError;
use lms_domain::audit::{Call, CallCode, Created};
use lms_domain::model::*;
use sea_orm::{DatabaseTransaction, DbErr, RuntimeErr, TransactionTrait};

use super::errors::{Target, db_error};
use super::{LmsStore, Repository};
use crate::audit::request_keys::{Claim, claim, store_response};
use crate::audit::{insert_event, log};

/// What a create leaves for a retry: the created resource's name and the
/// response as the API encoded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub resource: String,
    pub response: Vec<u8>,
}

/// A write's work inside its transaction.
type InTx<'t, T> = Pin<Box<dyn Future<Output = Result<T, DomainError>> + Send + 't>>;

type TxStore = LmsStore<DatabaseTransaction>;

async fn begin(store: &LmsStore) -> Result<TxStore, DomainError> {
    let tx = store
        .db
        .begin()
        .await
        .map_err(|error| db_error(Target::any("transaction"), &error))?;
    Ok(LmsStore { db: tx })
}

async fn rollback(tx: TxStore) -> Result<(), DomainError> {
    tx.db
        .rollback()
        .await
        .map_err(|error| db_error(Target::any("transaction"), &error))
}

/// Why a COMMIT failed. An error the server answered with (a
/// serialization failure, a deferred check) means nothing was applied, as
/// for any statement; a connection lost before the answer leaves the write
/// perhaps applied, and says so rather than "retry shortly".
fn commit_error(error: &DbErr) -> DomainError {
    let answered = matches!(
        error,
        DbErr::Conn(RuntimeErr::SqlxError(inner))
            | DbErr::Exec(RuntimeErr::SqlxError(inner))
            | DbErr::Query(RuntimeErr::SqlxError(inner))
            if matches!(inner.as_ref(), sqlx::Error::Database(_))
    );
    match db_error(Target::any("transaction"), error) {
        DomainError::Unavailable(_) if !answered => crate::outage::write_outcome_unknown(
            "the LMS primary database",
            "as the write committed",
        ),
        other => other,
    }
}

/// Records `call` as done on `resource`, commits, and logs it.
async fn commit(tx: TxStore, call: &Call, resource: Option<String>) -> Result<(), DomainError> {
    let mut event = call.event(CallCode::OK);
    if resource.is_some() {
        event.resource = resource;
    }
    insert_event(&tx.db, &event).await?;
    tx.db.commit().await.map_err(|error| commit_error(&error))?;
    log(&event);
    Ok(())
}

/// An update or a delete of `call.resource`.
async fn change<T, W>(store: LmsStore, call: &Call, write: W) -> Result<T, DomainError>
where
    W: for<'t> FnOnce(&'t TxStore) -> InTx<'t, T>,
{
    let tx = begin(&store).await?;
    let value = write(&tx).await?;
    commit(tx, call, None).await?;
    Ok(value)
}

/// A create: claims the call's request id (if any) first, so that a twin
/// waits for this transaction and then finds its response.
async fn create<T, W, R>(
    store: LmsStore,
    call: &Call,
    write: W,
    record: R,
) -> Result<Created<T>, DomainError>
where
    W: for<'t> FnOnce(&'t TxStore) -> InTx<'t, T>,
    R: FnOnce(&T) -> Recorded,
{
    let tx = begin(&store).await?;
    if let Some(key) = &call.key {
        match claim(&tx.db, call, key).await? {
            Claim::Claimed => {}
            Claim::Replay(response) => {
                rollback(tx).await?;
                tracing::info!(target: "lms::audit", actor = %call.actor, method = %call.method,
                    request_id = %key.request_id, "replayed the response of an earlier call");
                return Ok(Created::Replayed(response));
            }
            Claim::BodyDiffers => {
                rollback(tx).await?;
                return Ok(Created::RequestIdReused);
            }
        }
    }
    let value = write(&tx).await?;
    let recorded = record(&value);
    if let Some(key) = &call.key {
        store_response(&tx.db, call, key, &recorded.resource, &recorded.response).await?;
    }
    commit(tx, call, Some(recorded.resource)).await?;
    Ok(Created::New(value))
}

/// The domain's writes as the API makes them: on the primary, each with
/// its audit row in its transaction. Tools and tests that write without a
/// caller use the repository's plain writes.
#[derive(Debug, Clone, Copy)]
pub struct AuditedWrites<'r> {
    repo: &'r Repository,
    call: &'r Call,
}

impl Repository {
    /// Writes made by `call`, each recorded in the audit trail.
    pub fn audited<'r>(&'r self, call: &'r Call) -> AuditedWrites<'r> {
        AuditedWrites { repo: self, call }
    }

    /// Records a write call that failed with `code` (its transaction, if it
    /// began one, rolled back and recorded nothing).
    pub async fn record_failed_call(&self, call: &Call, code: CallCode) -> Result<(), DomainError> {
        let event = call.event(code);
        let recorded = &event;
        self.write(|store| Box::pin(async move { insert_event(&store.db, recorded).await }))
            .await?;
        log(&event);
        Ok(())
    }
}

impl AuditedWrites<'_> {
    pub async fn create_student(
        &self,
        new: NewStudent,
        record: impl FnOnce(&Student) -> Recorded + Send,
    ) -> Result<Created<Student>, DomainError> {
        let call = self.call;
        self.repo
            .write(|store| {
                Box::pin(create(
                    store,
                    call,
                    |tx| Box::pin(tx.create_student(new)),
                    record,
                ))
            })
            .await
    }

    pub async fn update_student(
        &self,
        id: StudentId,
        patch: StudentPatch,
    ) -> Result<Student, DomainError> {
        let call = self.call;
        self.repo
            .write(|store| {
                Box::pin(change(store, call, move |tx| {
                    Box::pin(tx.update_student(id, patch))
                }))
            })
            .await
    }

    pub async fn delete_student(&self, id: StudentId) -> Result<(), DomainError> {
        let call = self.call;
        self.repo
            .write(|store| {
                Box::pin(change(store, call, move |tx| {
                    Box::pin(tx.delete_student(id))
                }))
            })
            .await
    }

    pub async fn create_enrollment(
        &self,
        new: NewEnrollment,
        record: impl FnOnce(&Enrollment) -> Recorded + Send,
    ) -> Result<Created<Enrollment>, DomainError> {
        let call = self.call;
        self.repo
            .write(|store| {
                Box::pin(create(
                    store,
                    call,
                    |tx| Box::pin(tx.create_enrollment(new)),
                    record,
                ))
            })
            .await
    }

    pub async fn update_enrollment(
        &self,
        id: EnrollmentId,
        patch: EnrollmentPatch,
    ) -> Result<Enrollment, DomainError> {
        let call = self.call;
        self.repo
            .write(|store| {
                Box::pin(change(store, call, move |tx| {
                    Box::pin(tx.update_enrollment(id, patch))
                }))
            })
            .await
    }

    pub async fn delete_enrollment(&self, id: EnrollmentId) -> Result<(), DomainError> {
        let call = self.call;
        self.repo
            .write(|store| {
                Box::pin(change(store, call, move |tx| {
                    Box::pin(tx.delete_enrollment(id))
                }))
            })
            .await
    }

    pub async fn create_grade(
        &self,
        new: NewGrade,
        record: impl FnOnce(&Grade) -> Recorded + Send,
    ) -> Result<Created<Grade>, DomainError> {
        let call = self.call;
        self.repo
            .write(|store| {
                Box::pin(create(
                    store,
                    call,
                    |tx| Box::pin(tx.create_grade(new)),
                    record,
                ))
            })
            .await
    }

    pub async fn update_grade(&self, id: GradeId, patch: GradePatch) -> Result<Grade, DomainError> {
        let call = self.call;
        self.repo
            .write(|store| {
                Box::pin(change(store, call, move |tx| {
                    Box::pin(tx.update_grade(id, patch))
                }))
            })
            .await
    }

    pub async fn delete_grade(&self, id: GradeId) -> Result<(), DomainError> {
        let call = self.call;
        self.repo
            .write(|store| Box::pin(change(store, call, move |tx| Box::pin(tx.delete_grade(id)))))
            .await
    }

    pub async fn create_material(
        &self,
        course: CourseId,
        new: NewMaterial,
        record: impl FnOnce(&CourseMaterial) -> Recorded + Send,
    ) -> Result<Created<CourseMaterial>, DomainError> {
        let call = self.call;
        self.repo
            .write(|store| {
                Box::pin(create(
                    store,
                    call,
                    move |tx| Box::pin(tx.create_material(course, new)),
                    record,
                ))
            })
            .await
    }

    pub async fn update_material(
        &self,
        course: CourseId,
        id: MaterialId,
        patch: MaterialPatch,
    ) -> Result<CourseMaterial, DomainError> {
        let call = self.call;
        self.repo
            .write(|store| {
                Box::pin(change(store, call, move |tx| {
                    Box::pin(tx.update_material(course, id, patch))
                }))
            })
            .await
    }

    pub async fn delete_material(
        &self,
        course: CourseId,
        id: MaterialId,
    ) -> Result<(), DomainError> {
        let call = self.call;
        self.repo
            .write(|store| {
                Box::pin(change(store, call, move |tx| {
                    Box::pin(tx.delete_material(course, id))
                }))
            })
            .await
    }
}
