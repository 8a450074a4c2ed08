//! `lms-loadgen`: drives the gRPC API at a fixed concurrency and prints
//! throughput and latency per scenario, beside a baseline measured in the
//! same run (grpc.health.v1 Check: the transport and auth floor with no
//! database behind it).
//!
//! The bearer token is read from $LOADGEN_TOKEN (it needs lms.read).

mod scenario;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use scenario::{Scenario, Workload, run_scenario};

/// Load generator for the LMS gRPC API.
#[derive(Debug, Parser)]
#[command(name = "lms-loadgen", version, about)]
struct Cli {
    /// The server, e.g. http://127.0.0.1:50051.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    endpoint: String,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    concurrency: u32,
    /// HTTP/2 connections the requests share.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    connections: u32,
    /// How long each scenario is measured.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// How long each scenario runs before measuring starts.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Runtime threads of the load generator itself. On a small machine
    /// shared with the server, fewer threads leave the server more CPU.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    threads: u32,
    /// Students to spread the requests over.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    students: u32,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = if cli.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads as usize)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            lms_runtime::report_error(&anyhow::Error::new(error).context("starting the runtime"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            lms_runtime::report_error(&error);
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout)]
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let token = std::env::var("LOADGEN_TOKEN").ok();
    let workload = Workload::prepare(&cli.endpoint, token, cli.connections, cli.students).await?;
    println!(
        "{} students, concurrency {}, {} connection(s), {} client thread(s), {:?} per scenario after {:?} warm-up",
        workload.student_count(),
        cli.concurrency,
        cli.connections,
        cli.threads,
        cli.duration,
        cli.warmup
    );
    println!(
        "{:<40} {:>10} {:>10} {:>9} {:>9} {:>7}",
        "scenario", "requests", "rps", "p50 ms", "p99 ms", "errors"
    );
    let mut results = Vec::new();
    for scenario in [
        Scenario::HealthCheck,
        Scenario::GetStudent,
        Scenario::ListEnrollmentsByStudent,
    ] {
        let result = run_scenario(
            &workload,
            scenario,
            cli.concurrency,
            cli.warmup,
            cli.duration,
        )
        .await?;
        println!(
            "{:<40} {:>10} {:>10.0} {:>9.2} {:>9.2} {:>7}",
            scenario.label(),
            result.requests,
            result.rps(),
            result.p50_ms(),
            result.p99_ms(),
            result.errors
        );
        results.push((scenario, result));
    }
    let rps = |wanted: Scenario| {
        results
            .iter()
            .find(|(scenario, _)| *scenario == wanted)
            .map_or(0.0, |(_, result)| result.rps())
    };
    let baseline = rps(Scenario::HealthCheck);
    if baseline > 0.0 {
        println!(
            "GetStudent at {:.2}x and ListEnrollments at {:.2}x the baseline's rps",
            rps(Scenario::GetStudent) / baseline,
            rps(Scenario::ListEnrollmentsByStudent) / baseline
        );
    }
    let failed = results.iter().any(|(_, result)| result.errors > 0);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
