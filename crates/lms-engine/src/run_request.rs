//! A run's idempotency key and the request it came with. Planning twice
//! with one key gives one run; the key given again with another request
//! (another kind of run, caller, tables, chunk size, policy or hold) is
//! refused ([`EngineError::RequestIdReused`]), as the domain API refuses a
//! create's key reused with another body. The request is kept beside the
//! run (`migration.runs.request`) as the client sent it: what it left to the
//! server's settings stays unset, so that a retry after the settings
//! changed (a restart, another replica) is still the same request; the
//! tables are in dependency order, all of them as none.

use lms_config::MigrationSettings;
use lms_domain::LegacyEntity;
use serde_json::{Value, json};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::conflict::ConflictPolicy;
use crate::error::{DatabaseContext, EngineError};
use crate::hold::{HoldThreshold, HoldThresholdError};
use crate::plan::{PlannedRun, RunKind, RunOptions};

/// A client's request id and what it asked for under it. Built only by
/// [`RunRequest::start`] and [`RunRequest::retry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    id: String,
    asked: Value,
}

/// A new run as the client asked for it (`StartRun`, `lmsctl migrate
/// run`), the server's defaults not filled in.
#[derive(Debug, Clone, Copy)]
pub struct AskedRun<'a> {
    /// The tables named; none: all.
    pub entities: &'a [LegacyEntity],
    /// None: the server's `migration.chunk_size`.
    pub chunk_size: Option<u32>,
    pub dry_run: bool,
    pub on_conflict: ConflictPolicy,
    /// None: the server's `migration.hold_percent`.
    pub hold_percent: Option<u32>,
    /// None: the server's `migration.hold_min_rows`.
    pub hold_min_rows: Option<u64>,
    pub no_hold: bool,
}

/// What the server fills in where a start leaves a field unset: its
/// `migration.*` settings.
#[derive(Debug, Clone, Copy)]
pub struct RunDefaults {
    /// `migration.chunk_size`.
    pub chunk_size: u32,
    /// `migration.max_chunks`.
    pub max_chunks: usize,
    /// `migration.hold`: whether a run that names no threshold is held.
    pub hold: bool,
    /// `migration.hold_percent` and `hold_min_rows`.
    pub hold_threshold: HoldThreshold,
}

/// The settings as loaded (`Settings::load` has checked them: a percent of
/// at most 100, a floor a row count holds).
impl From<&MigrationSettings> for RunDefaults {
    fn from(settings: &MigrationSettings) -> Self {
        RunDefaults {
            chunk_size: settings.chunk_size,
            max_chunks: settings.max_chunks,
            hold: settings.hold,
            hold_threshold: HoldThreshold {
                percent: settings.hold_percent,
                min_rows: settings.hold_min_rows,
            },
        }
    }
}

/// A start's field that cannot be what was asked, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AskedRunError {
    #[error("cannot be set together with hold_percent or hold_min_rows")]
    NoHoldWithThreshold,
    #[error(transparent)]
    Threshold(#[from] HoldThresholdError),
}

impl AskedRunError {
    /// The field at fault, as `StartRunRequest` names it (the command
    /// line's flag, with dashes).
    pub fn field(&self) -> &'static str {
        match self {
            AskedRunError::NoHoldWithThreshold => "no_hold",
            AskedRunError::Threshold(HoldThresholdError::PercentOver100(_)) => "hold_percent",
            AskedRunError::Threshold(HoldThresholdError::MinRowsOverRowCount(_)) => "hold_min_rows",
        }
    }
}

impl AskedRun<'_> {
    /// The run to plan: the fields as asked, the server's `defaults` where
    /// they were left unset, and, with a request id, the request as sent
    /// (`caller`: the API's token name; `lmsctl` for the command line).
    /// The one place a start's fields become a run's options.
    pub fn options(
        &self,
        request_id: Option<String>,
        caller: &str,
        defaults: &RunDefaults,
    ) -> Result<RunOptions, AskedRunError> {
        Ok(RunOptions {
            entities: self.entities.to_vec(),
            chunk_size: self.chunk_size.unwrap_or(defaults.chunk_size),
            max_chunks: defaults.max_chunks,
            request: request_id.map(|id| RunRequest::start(id, caller, self)),
            kind: self.kind(),
            on_conflict: self.on_conflict,
            hold: self.hold(defaults)?,
        })
    }

    fn kind(&self) -> RunKind {
        if self.dry_run {
            RunKind::DryRun
        } else {
            RunKind::Full
        }
    }

    /// None with `no_hold` (or `migration.hold = false` and no threshold
    /// asked for), else the asked threshold over the server's.
    fn hold(&self, defaults: &RunDefaults) -> Result<Option<HoldThreshold>, AskedRunError> {
        let asked = self.hold_percent.is_some() || self.hold_min_rows.is_some();
        if self.no_hold {
            return if asked {
                Err(AskedRunError::NoHoldWithThreshold)
            } else {
                Ok(None)
            };
        }
        if !asked && !defaults.hold {
            return Ok(None);
        }
        let threshold = HoldThreshold::new(
            self.hold_percent.unwrap_or(defaults.hold_threshold.percent),
            self.hold_min_rows
                .unwrap_or(defaults.hold_threshold.min_rows),
        )?;
        Ok(Some(threshold))
    }
}

impl RunRequest {
    /// A new run asked by `caller` (the API's token name; `lmsctl` for the
    /// command line).
    pub fn start(id: String, caller: &str, asked: &AskedRun<'_>) -> RunRequest {
        RunRequest {
            id,
            asked: json!({
                "kind": asked.kind().as_str(),
                "caller": caller,
                "entities": canonical_tables(asked.entities),
                "chunk_size": asked.chunk_size,
                "on_conflict": asked.on_conflict.as_str(),
                "hold_percent": asked.hold_percent,
                "hold_min_rows": asked.hold_min_rows,
                "no_hold": asked.no_hold,
            }),
        }
    }

    /// A retry of rejected rows (`RetryRejected`, `lmsctl migrate retry-rejected`)
    /// asked by `caller`, limited to `only` (none: every table with
    /// rejected rows, whichever they are when it is planned).
    pub fn retry(id: String, caller: &str, only: &[LegacyEntity]) -> RunRequest {
        RunRequest {
            id,
            asked: json!({
                "kind": RunKind::RetryRejected.as_str(),
                "caller": caller,
                "entities": canonical_tables(only),
            }),
        }
    }

    /// The client's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What was asked, as `migration.runs.request` keeps it.
    pub fn asked(&self) -> &Value {
        &self.asked
    }
}

/// The tables named, in dependency order, once each; every table as none
/// (which means all of them to both methods).
fn canonical_tables(named: &[LegacyEntity]) -> Vec<&'static str> {
    let tables: Vec<&'static str> = LegacyEntity::ALL
        .into_iter()
        .filter(|entity| named.contains(entity))
        .map(LegacyEntity::as_str)
        .collect();
    if tables.len() == LegacyEntity::ALL.len() {
        Vec::new()
    } else {
        tables
    }
}

/// The run an earlier request with the same id started, if any; the id
/// given with another request is [`EngineError::RequestIdReused`]. (A run
/// planned before requests were kept answers any request with its id.)
pub(crate) async fn run_of_request(
    lms: &PgPool,
    request: Option<&RunRequest>,
) -> Result<Option<PlannedRun>, EngineError> {
    let Some(request) = request else {
        return Ok(None);
    };
    let Some(existing) = sqlx::query(
        "SELECT id, request, request IS NULL OR request = $2 AS same \
         FROM migration.runs WHERE request_id = $1",
    )
    .bind(request.id())
    .bind(request.asked())
    .fetch_optional(lms)
    .await
    .lms()?
    else {
        return Ok(None);
    };
    let run_id: Uuid = existing.try_get("id").lms()?;
    if !existing.try_get::<bool, _>("same").lms()? {
        return Err(EngineError::RequestIdReused {
            request_id: request.id().to_owned(),
            run_id,
            asked: existing
                .try_get::<Option<Value>, _>("request")
                .lms()?
                .unwrap_or(Value::Null)
                .to_string(),
        });
    }
    Ok(Some(PlannedRun {
        run_id,
        created: false,
        queued_chunks: Vec::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASKED: AskedRun<'static> = AskedRun {
        entities: &[],
        chunk_size: None,
        dry_run: false,
        on_conflict: ConflictPolicy::KeepLms,
        hold_percent: None,
        hold_min_rows: None,
        no_hold: false,
    };

    fn start(asked: &AskedRun<'_>) -> RunRequest {
        RunRequest::start("r".into(), "admin", asked)
    }

    #[test]
    fn every_table_named_or_none_named_is_one_start() {
        let every: Vec<LegacyEntity> = LegacyEntity::ALL.into_iter().rev().collect();
        let all = AskedRun {
            entities: &every,
            ..ASKED
        };
        assert_eq!(start(&all), start(&ASKED));
    }

    #[test]
    fn every_table_named_or_none_named_is_one_retry() {
        assert_eq!(
            RunRequest::retry("r".into(), "admin", &LegacyEntity::ALL),
            RunRequest::retry("r".into(), "admin", &[])
        );
    }

    #[test]
    fn a_retry_names_its_tables_in_one_order() {
        assert_eq!(
            RunRequest::retry(
                "r".into(),
                "admin",
                &[LegacyEntity::Journal, LegacyEntity::Students]
            ),
            RunRequest::retry(
                "r".into(),
                "admin",
                &[LegacyEntity::Students, LegacyEntity::Journal]
            )
        );
    }

    #[test]
    fn a_chunk_size_left_to_the_server_is_not_the_servers_size() {
        let sized = AskedRun {
            chunk_size: Some(25_000),
            ..ASKED
        };
        assert_ne!(start(&sized), start(&ASKED));
    }

    #[test]
    fn each_field_of_a_start_makes_another_request() {
        let students = [LegacyEntity::Students];
        let changed = [
            (
                "tables",
                AskedRun {
                    entities: &students,
                    ..ASKED
                },
            ),
            (
                "chunk size",
                AskedRun {
                    chunk_size: Some(100),
                    ..ASKED
                },
            ),
            (
                "dry run",
                AskedRun {
                    dry_run: true,
                    ..ASKED
                },
            ),
            (
                "policy",
                AskedRun {
                    on_conflict: ConflictPolicy::TakeLegacy,
                    ..ASKED
                },
            ),
            (
                "hold percent",
                AskedRun {
                    hold_percent: Some(10),
                    ..ASKED
                },
            ),
            (
                "hold floor",
                AskedRun {
                    hold_min_rows: Some(50),
                    ..ASKED
                },
            ),
            (
                "no hold",
                AskedRun {
                    no_hold: true,
                    ..ASKED
                },
            ),
        ];
        for (field, asked) in changed {
            assert_ne!(start(&asked), start(&ASKED), "{field}");
        }
    }

    #[test]
    fn another_caller_makes_another_request() {
        assert_ne!(
            RunRequest::start("r".into(), "operator", &ASKED),
            start(&ASKED)
        );
    }

    #[test]
    fn a_start_and_a_retry_are_two_requests() {
        assert_ne!(RunRequest::retry("r".into(), "admin", &[]), start(&ASKED));
    }

    const DEFAULTS: RunDefaults = RunDefaults {
        chunk_size: 5_000,
        max_chunks: 100,
        hold: true,
        hold_threshold: HoldThreshold {
            percent: 10,
            min_rows: 50,
        },
    };

    fn options(asked: &AskedRun<'_>, defaults: &RunDefaults) -> Result<RunOptions, AskedRunError> {
        asked.options(None, "admin", defaults)
    }

    #[test]
    fn fields_left_unset_take_the_servers_settings() {
        let resolved = options(&ASKED, &DEFAULTS).expect("options");
        assert_eq!(resolved.chunk_size, 5_000);
        assert_eq!(resolved.max_chunks, 100);
        assert_eq!(resolved.hold, Some(DEFAULTS.hold_threshold));
    }

    #[test]
    fn fields_asked_win_over_the_servers_settings() {
        let asked = AskedRun {
            chunk_size: Some(7),
            hold_percent: Some(0),
            ..ASKED
        };
        let resolved = options(&asked, &DEFAULTS).expect("options");
        assert_eq!(resolved.chunk_size, 7);
        assert_eq!(
            resolved.hold,
            Some(HoldThreshold {
                percent: 0,
                min_rows: 50
            })
        );
    }

    #[test]
    fn no_threshold_asked_holds_nothing_when_the_server_does_not_hold() {
        let off = RunDefaults {
            hold: false,
            ..DEFAULTS
        };
        assert_eq!(options(&ASKED, &off).expect("options").hold, None);
    }

    #[test]
    fn a_threshold_asked_holds_when_the_server_does_not() {
        let off = RunDefaults {
            hold: false,
            ..DEFAULTS
        };
        let asked = AskedRun {
            hold_min_rows: Some(1),
            ..ASKED
        };
        assert_eq!(
            options(&asked, &off).expect("options").hold,
            Some(HoldThreshold {
                percent: 10,
                min_rows: 1
            })
        );
    }

    #[test]
    fn no_hold_holds_nothing() {
        let asked = AskedRun {
            no_hold: true,
            ..ASKED
        };
        assert_eq!(options(&asked, &DEFAULTS).expect("options").hold, None);
    }

    #[test]
    fn no_hold_with_a_threshold_is_refused_on_no_hold() {
        let asked = AskedRun {
            no_hold: true,
            hold_percent: Some(5),
            ..ASKED
        };
        let error = options(&asked, &DEFAULTS).expect_err("contradiction");
        assert_eq!(error, AskedRunError::NoHoldWithThreshold);
        assert_eq!(error.field(), "no_hold");
    }

    #[test]
    fn a_percent_over_a_hundred_is_refused_on_hold_percent() {
        let asked = AskedRun {
            hold_percent: Some(101),
            ..ASKED
        };
        let error = options(&asked, &DEFAULTS).expect_err("over 100");
        assert_eq!(error.field(), "hold_percent");
    }

    #[test]
    fn a_floor_past_a_row_count_is_refused_on_hold_min_rows() {
        let asked = AskedRun {
            hold_min_rows: Some(u64::MAX),
            ..ASKED
        };
        let error = options(&asked, &DEFAULTS).expect_err("past i64");
        assert_eq!(error.field(), "hold_min_rows");
    }

    #[test]
    fn the_options_keep_the_request_as_sent() {
        let resolved = ASKED
            .options(Some("r".into()), "admin", &DEFAULTS)
            .expect("options");
        assert_eq!(resolved.request, Some(start(&ASKED)));
    }
}
