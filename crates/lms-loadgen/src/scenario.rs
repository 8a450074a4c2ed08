//! The scenarios, the requests they send, and their measurements.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use lms_grpc::pb::lms::v1 as pb;
use lms_grpc::pb::lms::v1::enrollment_service_client::EnrollmentServiceClient;
use lms_grpc::pb::lms::v1::student_service_client::StudentServiceClient;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// What one scenario sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// The baseline: no database, same transport, same auth layer.
    HealthCheck,
    GetStudent,
    /// One page (50) of a student's enrollments.
    ListEnrollmentsByStudent,
}

impl Scenario {
    pub fn label(self) -> &'static str {
        match self {
            Scenario::HealthCheck => "Health/Check (baseline)",
            Scenario::GetStudent => "GetStudent",
            Scenario::ListEnrollmentsByStudent => "ListEnrollments (student = ...)",
        }
    }
}

type Authed = InterceptedService<Channel, Bearer>;

/// Adds the bearer token to every request.
#[derive(Clone)]
struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// The connections and the students the requests are spread over.
pub struct Workload {
    channels: Vec<Channel>,
    bearer: Bearer,
    students: Arc<Vec<String>>,
}

impl Workload {
    pub async fn prepare(
        endpoint: &str,
        token: Option<String>,
        connections: u32,
        students: u32,
    ) -> anyhow::Result<Workload> {
        let bearer = Bearer(
            token
                .map(|token| format!("Bearer {token}").parse())
                .transpose()
                .context("LOADGEN_TOKEN is not a valid header value")?,
        );
        let mut channels = Vec::new();
        for _ in 0..connections {
            channels.push(
                Endpoint::from_shared(endpoint.to_owned())
                    .with_context(|| format!("invalid endpoint {endpoint:?}"))?
                    .connect_timeout(Duration::from_secs(5))
                    .connect()
                    .await
                    .with_context(|| format!("connecting to {endpoint}"))?,
            );
        }
        let mut workload = Workload {
            channels,
            bearer,
            students: Arc::new(Vec::new()),
        };
        let names = workload.student_names(students as usize).await?;
        if names.is_empty() {
            bail!("the server has no students; migrate some data first");
        }
        workload.students = Arc::new(names);
        Ok(workload)
    }

    pub fn student_count(&self) -> usize {
        self.students.len()
    }

    fn channel(&self, worker: usize) -> Authed {
        let channel = self.channels[worker % self.channels.len()].clone();
        InterceptedService::new(channel, self.bearer.clone())
    }

    async fn student_names(&self, wanted: usize) -> anyhow::Result<Vec<String>> {
        let mut client = StudentServiceClient::new(self.channel(0));
        let mut names = Vec::new();
        let mut token = String::new();
        while names.len() < wanted {
            let page = client
                .list_students(pb::ListStudentsRequest {
                    page_size: 1_000,
                    page_token: token,
                    filter: String::new(),
                })
                .await
                .context("listing students")?
                .into_inner();
            names.extend(page.students.into_iter().map(|student| student.name));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        names.truncate(wanted);
        Ok(names)
    }
}

/// One scenario's measurement window.
#[derive(Debug)]
pub struct Measurement {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    latencies: Histogram<u64>,
}

impl Measurement {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    pub fn p50_ms(&self) -> f64 {
        self.latencies.value_at_quantile(0.50) as f64 / 1_000.0
    }

    pub fn p99_ms(&self) -> f64 {
        self.latencies.value_at_quantile(0.99) as f64 / 1_000.0
    }
}

/// Runs `concurrency` request loops for the warm-up and the measured
/// window; only requests that start inside the window are counted.
pub async fn run_scenario(
    workload: &Workload,
    scenario: Scenario,
    concurrency: u32,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Measurement> {
    let start = Instant::now();
    let measure_from = start + warmup;
    let stop_at = measure_from + duration;
    let mut tasks = Vec::new();
    for worker in 0..concurrency as usize {
        let channel = workload.channel(worker);
        let students = workload.students.clone();
        tasks.push(tokio::spawn(request_loop(
            scenario,
            channel,
            students,
            worker,
            concurrency as usize,
            measure_from,
            stop_at,
        )));
    }
    let mut total = Measurement {
        requests: 0,
        errors: 0,
        elapsed: duration,
        latencies: new_histogram()?,
    };
    for task in tasks {
        let part = task.await.context("a request loop panicked")??;
        total.requests += part.requests;
        total.errors += part.errors;
        total
            .latencies
            .add(&part.latencies)
            .context("merging latency histograms")?;
    }
    Ok(total)
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    // Microseconds, from 1 µs to 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).context("creating a latency histogram")
}

async fn request_loop(
    scenario: Scenario,
    channel: Authed,
    students: Arc<Vec<String>>,
    worker: usize,
    stride: usize,
    measure_from: Instant,
    stop_at: Instant,
) -> anyhow::Result<Measurement> {
    let mut health = HealthClient::new(channel.clone());
    let mut student_client = StudentServiceClient::new(channel.clone());
    let mut enrollments = EnrollmentServiceClient::new(channel);
    let mut measurement = Measurement {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: new_histogram()?,
    };
    let mut next = worker;
    loop {
        let started = Instant::now();
        if started >= stop_at {
            break;
        }
        let student = &students[next % students.len()];
        next += stride;
        let ok = match scenario {
            Scenario::HealthCheck => health
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .is_ok(),
            Scenario::GetStudent => student_client
                .get_student(pb::GetStudentRequest {
                    name: student.clone(),
                })
                .await
                .is_ok(),
            Scenario::ListEnrollmentsByStudent => enrollments
                .list_enrollments(pb::ListEnrollmentsRequest {
                    page_size: 50,
                    page_token: String::new(),
                    filter: format!("student = \"{student}\""),
                })
                .await
                .is_ok(),
        };
        if started >= measure_from {
            measurement.requests += 1;
            if !ok {
                measurement.errors += 1;
            }
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            measurement.latencies.saturating_record(micros.max(1));
        }
    }
    Ok(measurement)
}
