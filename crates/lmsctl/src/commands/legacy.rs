//! `lmsctl legacy ...`

use std::process::ExitCode;

use anyhow::Context;
use lms_config::Settings;
use lms_legacy::{SeedOptions, seed_legacy_database};

use crate::cli::LegacyCommand;

pub async fn run(command: LegacyCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    match command {
        LegacyCommand::Seed(args) => {
            let options = SeedOptions {
                scale: args.scale,
                seed: args.seed,
                force: args.force,
            };
            let url = &settings.legacy.url;
            tracing::info!(database = %url, scale = %args.scale, seed = args.seed, "seeding the legacy database");
            let report = seed_legacy_database(url, options)
                .await
                .with_context(|| format!("seeding the legacy database {url}"))?;
            println!(
                "Seeded {url} at scale {} (seed {}) in {:.1?}:",
                args.scale, args.seed, report.elapsed
            );
            for (table, count) in &report.counts {
                println!("  {table:<14} {count:>10}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
