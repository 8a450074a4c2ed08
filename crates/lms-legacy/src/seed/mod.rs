//! `lmsctl legacy seed`: a deterministic legacy EDU database at production
//! scale, with every kind of dirt DATA.md lists.
//!
//! The generator runs on a blocking thread and hands encoded COPY buffers
//! to the database writer through a bounded channel, so memory stays flat at
//! any scale and generation overlaps with loading. Everything is written in
//! one transaction: a failed seed leaves nothing behind.

mod composition;
mod dice;
mod journal;
mod names;
mod population;
mod results;
mod rows;
pub mod volumes;

use std::time::{Duration, Instant};

use lms_config::PostgresUrl;
use lms_pg::admin::{self, AdminError};
use lms_pg::copy_text::RowWriter;
use lms_pg::{PoolConfig, connect_one};
use sqlx::{Connection, PgConnection};
use tokio::sync::mpsc;

use crate::schema;
use rows::LegacyRow;
use volumes::{Scale, Volumes};

/// The academic year the generated data is "now" in (2026-2027, first
/// semester in progress). Fixed rather than read from the clock so that the
/// same seed always gives the same database.
pub const CURRENT_YEAR: i32 = 2026;

/// Encoded COPY data is handed over in buffers of about this size.
const BUFFER_BYTES: usize = 1 << 20;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct SeedOptions {
    pub scale: Scale,
    /// The random seed: the same seed gives the same database, row for row.
    pub seed: u64,
    /// Replace the legacy tables even when the database already holds tables.
    pub force: bool,
}

/// What was generated.
#[derive(Debug, Clone)]
pub struct SeedReport {
    pub volumes: Volumes,
    /// Row counts read back from the database after the commit.
    pub counts: Vec<(&'static str, i64)>,
    pub elapsed: Duration,
}

/// A failure inside the generator (never a user error).
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("the generator's plan does not fit: {0}")]
    Plan(String),
    #[error("generated {built} {table} rows, wanted {wanted}")]
    Count {
        table: &'static str,
        built: usize,
        wanted: usize,
    },
    #[error("the database writer stopped before the generator finished")]
    WriterGone,
}

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(
        "the legacy database {database} is not empty (it has {tables}); \
         pass --force to replace the legacy tables"
    )]
    NotEmpty { database: String, tables: String },
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error("cannot connect to the legacy database {database}: {source}")]
    Connect {
        database: String,
        source: sqlx::Error,
    },
    #[error("writing the legacy database failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Generate(#[from] GenerateError),
    #[error("the generator thread failed: {0}")]
    Thread(String),
}

/// Creates (if needed) and fills the legacy database at `url`.
pub async fn seed_legacy_database(
    url: &PostgresUrl,
    options: SeedOptions,
) -> Result<SeedReport, SeedError> {
    let started = Instant::now();
    admin::ensure_database(url).await?;
    let mut conn = connect_one(url, &PoolConfig::small("lms-legacy-seed"))
        .await
        .map_err(|source| SeedError::Connect {
            database: url.to_string(),
            source,
        })?;
    let existing = schema::user_tables(&mut conn).await?;
    if !existing.is_empty() && !options.force {
        return Err(SeedError::NotEmpty {
            database: url.to_string(),
            tables: summarize(&existing),
        });
    }

    let volumes = Volumes::at(options.scale);
    let seed = options.seed;
    let population =
        tokio::task::spawn_blocking(move || -> Result<population::Population, GenerateError> {
            let mut population = population::build(&volumes, seed)?;
            let target = journal::JournalBudget::natural_target(volumes.journal)?;
            journal::fit_curricula(&mut population, target, seed);
            Ok(population)
        })
        .await
        .map_err(|error| SeedError::Thread(error.to_string()))??;
    let population = std::sync::Arc::new(population);

    let mut tx = conn.begin().await?;
    schema::drop_legacy_tables(&mut tx).await?;
    schema::create(&mut tx).await?;
    copy_rows(&mut tx, &population.organizations).await?;
    copy_rows(&mut tx, &population.persons).await?;
    copy_rows(&mut tx, &population.users).await?;
    copy_rows(&mut tx, &population.groups).await?;
    copy_rows(&mut tx, &population.students).await?;
    copy_rows(&mut tx, &population.teachers).await?;
    copy_rows(&mut tx, &population.subjects).await?;
    copy_rows(&mut tx, &population.exams).await?;

    let journal_population = population.clone();
    copy_streamed::<rows::JournalRow>(&mut tx, move |sink| {
        let budget =
            journal::JournalBudget::new(volumes.journal, journal::capacity(&journal_population))?;
        journal::generate(&journal_population, &budget, seed, sink)
    })
    .await?;
    let results_population = population.clone();
    copy_streamed::<rows::ExamResultRow>(&mut tx, move |sink| {
        let budget = results::ResultsBudget::new(volumes.exam_results, &results_population)?;
        results::generate(&results_population, &budget, seed, sink)
    })
    .await?;
    tx.commit().await?;
    sqlx::raw_sql("ANALYZE").execute(&mut conn).await?;
    let counts = schema::row_counts(&mut conn).await?;
    Ok(SeedReport {
        volumes,
        counts,
        elapsed: started.elapsed(),
    })
}

fn summarize(tables: &[String]) -> String {
    let shown: Vec<&str> = tables.iter().take(5).map(String::as_str).collect();
    let more = tables.len().saturating_sub(shown.len());
    if more == 0 {
        shown.join(", ")
    } else {
        format!("{} and {more} more", shown.join(", "))
    }
}

async fn copy_rows<R: LegacyRow>(conn: &mut PgConnection, rows: &[R]) -> Result<(), SeedError> {
    let statement = format!("COPY {} ({}) FROM STDIN", R::TABLE, R::COLUMNS);
    let mut copy = conn.copy_in_raw(&statement).await?;
    let mut buffer = Vec::with_capacity(BUFFER_BYTES);
    for row in rows {
        row.write(&mut RowWriter::new(&mut buffer));
        if buffer.len() >= BUFFER_BYTES {
            copy.send(std::mem::take(&mut buffer)).await?;
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer).await?;
    }
    copy.finish().await?;
    Ok(())
}

/// Runs a row generator on a blocking thread and COPYs what it yields.
async fn copy_streamed<R>(
    conn: &mut PgConnection,
    generate: impl FnOnce(
        &mut dyn FnMut(&R) -> Result<(), GenerateError>,
    ) -> Result<usize, GenerateError>
    + Send
    + 'static,
) -> Result<usize, SeedError>
where
    R: LegacyRow + 'static,
{
    let (sender, mut receiver) = mpsc::channel::<Vec<u8>>(4);
    let producer = tokio::task::spawn_blocking(move || {
        let mut buffer = Vec::with_capacity(BUFFER_BYTES);
        let mut sink = |row: &R| -> Result<(), GenerateError> {
            row.write(&mut RowWriter::new(&mut buffer));
            if buffer.len() >= BUFFER_BYTES {
                let full = std::mem::replace(&mut buffer, Vec::with_capacity(BUFFER_BYTES));
                sender
                    .blocking_send(full)
                    .map_err(|_| GenerateError::WriterGone)?;
            }
            Ok(())
        };
        let written = generate(&mut sink)?;
        if !buffer.is_empty() {
            sender
                .blocking_send(buffer)
                .map_err(|_| GenerateError::WriterGone)?;
        }
        Ok::<usize, GenerateError>(written)
    });
    let statement = format!("COPY {} ({}) FROM STDIN", R::TABLE, R::COLUMNS);
    let mut copy = conn.copy_in_raw(&statement).await?;
    let mut copy_error = None;
    while let Some(chunk) = receiver.recv().await {
        if let Err(error) = copy.send(chunk).await {
            copy_error = Some(error);
            break;
        }
    }
    // Dropping the receiver stops a producer still waiting to send.
    drop(receiver);
    let produced = producer
        .await
        .map_err(|error| SeedError::Thread(error.to_string()))?;
    if let Some(error) = copy_error {
        let _ = copy.abort("the copy failed").await;
        return Err(error.into());
    }
    match produced {
        Ok(written) => {
            copy.finish().await?;
            Ok(written)
        }
        Err(error) => {
            let _ = copy.abort("the generator failed").await;
            Err(error.into())
        }
    }
}
