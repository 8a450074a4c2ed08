//! `lmsctl db ...`: the LMS database and its schema.

use std::process::ExitCode;

use anyhow::Context;
use lms_config::Settings;
use lms_data::{Database, schema};
use lms_pg::{PoolConfig, admin};

use crate::cli::DbCommand;

pub async fn run(command: DbCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    let url = &settings.database.url;
    match command {
        DbCommand::Up => {
            if admin::ensure_database(url).await? {
                println!("Created database {}.", url.database_name());
            }
            let db = connect(settings).await?;
            let applied = schema::upgrade(&db)
                .await
                .context("applying the LMS schema")?;
            if applied.is_empty() {
                println!("The LMS schema at {url} is up to date.");
            } else {
                println!("Applied {} migration(s) to {url}:", applied.len());
                for name in applied {
                    println!("  {name}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Status => {
            let db = connect(settings).await?;
            let states = schema::status(&db)
                .await
                .context("reading the migration state")?;
            for state in &states {
                let mark = if state.applied { "applied" } else { "pending" };
                println!("{mark:<8} {}", state.name);
            }
            if states.iter().all(|state| state.applied) {
                Ok(ExitCode::SUCCESS)
            } else {
                println!("Run `lmsctl db up` to apply the pending migrations.");
                Ok(ExitCode::FAILURE)
            }
        }
        DbCommand::Down(args) => {
            let db = connect(settings).await?;
            let rolled_back = schema::downgrade(&db, args.steps)
                .await
                .context("rolling back")?;
            for name in rolled_back {
                println!("rolled back {name}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn connect(settings: &Settings) -> anyhow::Result<Database> {
    let url = &settings.database.url;
    Database::connect(url, &PoolConfig::small("lmsctl"))
        .await
        .with_context(|| format!("connecting to the LMS database {url} (is PostgreSQL running? does `lmsctl db up` create it?)"))
}
