//! `lmsctl migrate report --format html` as a person sees it: the page is
//! rendered by headless Chromium, and every number the browser shows is
//! compared with the JSON report and the run's state in PostgreSQL.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use scraper::{ElementRef, Html, Selector};
use serde_json::Value;
use sqlx::{PgPool, Row};
use support::{Cli, text};
use tokio::process::Command;

/// What a legacy row's detail may hold: markup, quotes, Kazakh letters.
const DIRTY: &str = r#"<script>alert("пайдаланушы")</script> & 'Әлия' "O'Brien" </td><b>"#;

/// Chromium from `$CHROMIUM`, else `chromium` or `chromium-browser` on PATH.
fn chromium() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    bail!(
        "headless Chromium is needed to render the report page and was not found \
         ($CHROMIUM is unset, and neither chromium nor chromium-browser is on PATH): \
         run scripts/install-tools.sh (it runs `apt-get install chromium`) or set $CHROMIUM"
    )
}

/// Runs headless Chromium with a profile and home of its own under `scratch`,
/// so it writes nothing outside the test's temporary directory.
async fn headless(browser: &Path, scratch: &Path, args: &[String]) -> anyhow::Result<Output> {
    let profile = tempfile::tempdir_in(scratch)?;
    let run = Command::new(browser)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .env("HOME", profile.path())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .context("Chromium did not finish within 120 s")??;
    ensure!(
        output.status.success(),
        "Chromium {args:?} failed: {}",
        text(&output.stderr)
    );
    Ok(output)
}

/// Checks the PNG signature and that the image has the window's size.
fn check_screenshot(path: &Path) -> anyhow::Result<()> {
    let png = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG: {}",
        path.display()
    );
    ensure!(
        png.len() > 10_000,
        "a suspiciously small screenshot: {} bytes",
        png.len()
    );
    ensure!(
        &png[12..16] == b"IHDR",
        "the PNG does not start with its header chunk"
    );
    let width = u32::from_be_bytes(png[16..20].try_into()?);
    let height = u32::from_be_bytes(png[20..24].try_into()?);
    ensure!(
        (width, height) == (1280, 2000),
        "screenshot is {width}x{height}"
    );
    Ok(())
}

/// One number on the page, with its hook.
#[derive(Debug)]
struct Shown {
    entity: Option<String>,
    scope: Option<String>,
    field: String,
    key: Option<String>,
    phase: Option<String>,
    value: String,
    text: String,
}

fn selector(css: &str) -> anyhow::Result<Selector> {
    Selector::parse(css).map_err(|error| anyhow::anyhow!("selector {css}: {error:?}"))
}

fn shown(element: ElementRef<'_>) -> Shown {
    let attr = |name: &str| element.attr(name).map(str::to_owned);
    Shown {
        entity: attr("data-entity"),
        scope: attr("data-scope"),
        field: attr("data-field").unwrap_or_default(),
        key: attr("data-key"),
        phase: attr("data-phase"),
        value: attr("data-value").unwrap_or_default(),
        text: element.text().collect::<String>().trim().to_owned(),
    }
}

/// The count a per-table hook names, from the JSON report.
fn expected_count(entity: &Value, field: &str, key: Option<&str>) -> Option<i64> {
    let sum = |map: &Value| {
        map.as_object()
            .map(|map| map.values().filter_map(Value::as_i64).sum::<i64>())
    };
    match (field, key) {
        ("rejected_total", None) => sum(&entity["rejected"]),
        ("rejected" | "warnings" | "derived", Some(key)) => entity[field][key].as_i64(),
        (field, None) => match field.strip_prefix("changes.") {
            Some(change) => entity["changes"][change].as_i64(),
            None => entity[field].as_i64(),
        },
        _ => None,
    }
}

fn expected_share(entity: &Value, field: &str) -> Option<String> {
    let part = match field {
        "share.rejected" => expected_count(entity, "rejected_total", None)?,
        other => entity[other.strip_prefix("share.")?].as_i64()?,
    };
    let whole = entity["legacy_rows"].as_i64()?;
    #[allow(clippy::cast_precision_loss)]
    let share = part as f64 * 100.0 / whole as f64;
    Some(if whole == 0 {
        "n/a".to_owned()
    } else {
        format!("{share:.1}%")
    })
}

/// What PostgreSQL says about the run, to check the page's examples and timings.
struct RunState {
    duration_seconds: f64,
    chunk_size: i64,
    /// (entity, phase) → (chunks, busy seconds).
    steps: BTreeMap<(String, String), (i64, f64)>,
    /// (entity, reason) → the five lowest rejected legacy ids.
    examples: BTreeMap<(String, String), Vec<i64>>,
}

async fn run_state(lms: &PgPool) -> anyhow::Result<RunState> {
    let run = sqlx::query(
        "SELECT extract(epoch FROM finished_at - created_at)::float8, chunk_size::bigint \
         FROM migration.runs ORDER BY created_at DESC LIMIT 1",
    )
    .fetch_one(lms)
    .await?;
    let mut steps = BTreeMap::new();
    for row in sqlx::query(
        "SELECT s.entity, s.phase, s.chunks_total::bigint, \
                coalesce(sum(extract(epoch FROM c.finished_at - c.started_at)) FILTER (WHERE c.state = 'done'), 0)::float8 \
         FROM migration.run_steps s LEFT JOIN migration.chunks c ON c.step_id = s.id GROUP BY s.id",
    )
    .fetch_all(lms)
    .await?
    {
        steps.insert((row.try_get(0)?, row.try_get(1)?), (row.try_get(2)?, row.try_get(3)?));
    }
    let mut examples: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for row in sqlx::query(
        "SELECT entity, reason, legacy_id FROM migration.ledger \
         WHERE outcome = 'rejected' AND source_deleted_at IS NULL ORDER BY entity, reason, legacy_id",
    )
    .fetch_all(lms)
    .await?
    {
        let ids = examples.entry((row.try_get(0)?, row.try_get(1)?)).or_default();
        if ids.len() < 5 {
            ids.push(row.try_get(2)?);
        }
    }
    Ok(RunState {
        duration_seconds: run.try_get(0)?,
        chunk_size: run.try_get(1)?,
        steps,
        examples,
    })
}

fn close_to(shown: &Shown, expected: f64) -> bool {
    shown
        .value
        .parse::<f64>()
        .is_ok_and(|value| (value - expected).abs() < 0.002)
}

/// Compares every hooked number in the browser's DOM with the JSON report
/// and the run's state; returns the (entity, field, key) triples seen.
fn check_numbers(
    dom: &Html,
    report: &Value,
    state: &RunState,
) -> anyhow::Result<BTreeSet<(String, String, String)>> {
    let entities: BTreeMap<&str, &Value> = report["entities"]
        .as_array()
        .context("entities is a list")?
        .iter()
        .filter_map(|entity| Some((entity["entity"].as_str()?, entity)))
        .collect();
    let mut seen = BTreeSet::new();
    let mut examples: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for element in dom.select(&selector("[data-field]")?) {
        let number = shown(element);
        let field = number.field.as_str();
        let key = number.key.as_deref();
        let count_text_matches = number.text.replace(',', "") == number.value;
        let ok = match (number.entity.as_deref(), number.scope.as_deref()) {
            (Some(name), None) => {
                let entity = entities
                    .get(name)
                    .with_context(|| format!("{name} is not in the JSON report"))?;
                seen.insert((
                    name.to_owned(),
                    field.to_owned(),
                    key.unwrap_or_default().to_owned(),
                ));
                if field.starts_with("share.") {
                    expected_share(entity, field).is_some_and(|share| {
                        share == number.text && share.trim_end_matches('%') == number.value
                    })
                } else if field == "example.legacy_id" {
                    let reason = key.context("an example names its reason")?.to_owned();
                    examples
                        .entry((name.to_owned(), reason))
                        .or_default()
                        .push(number.value.parse()?);
                    number.text == number.value
                } else if field == "conflict.legacy_id" {
                    let listed = entity["open_conflicts"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|conflict| {
                            conflict["legacy_id"].as_i64().map(|id| id.to_string())
                                == Some(number.value.clone())
                        });
                    listed && number.text == number.value
                } else if let Some(timing) = field.strip_prefix("timing.") {
                    let phase = number.phase.clone().context("a timing names its phase")?;
                    let (chunks, busy) = state
                        .steps
                        .get(&(name.to_owned(), phase))
                        .context("a timing of an unknown step")?;
                    match timing {
                        "chunks" => count_text_matches && number.value == chunks.to_string(),
                        "busy_seconds" => close_to(&number, *busy),
                        "waited_seconds" | "elapsed_seconds" | "slowest_chunk_seconds" => {
                            number.value.parse::<f64>().is_ok_and(|value| value >= 0.0)
                        }
                        other => bail!("unknown timing field {other}"),
                    }
                } else {
                    let expected = expected_count(entity, field, key)
                        .with_context(|| format!("no JSON number for {number:?}"))?;
                    count_text_matches && number.value == expected.to_string()
                }
            }
            (None, Some("run")) => {
                let total = |field: &str| {
                    entities
                        .values()
                        .filter_map(|entity| expected_count(entity, field, None))
                        .sum::<i64>()
                };
                match field {
                    "run.duration_seconds" => close_to(&number, state.duration_seconds),
                    "run.chunk_size" => {
                        count_text_matches && number.value == state.chunk_size.to_string()
                    }
                    "legacy_rows" | "migrated" | "merged" | "rejected_total" | "unexplained"
                    | "target_rows" => {
                        count_text_matches && number.value == total(field).to_string()
                    }
                    other => bail!("unknown run-wide field {other}"),
                }
            }
            _ => bail!("a number without an entity or run scope: {number:?}"),
        };
        ensure!(ok, "the page disagrees with the report: {number:?}");
    }
    ensure!(
        examples == state.examples,
        "examples {examples:?} are not the lowest rejected ids {:?}",
        state.examples
    );
    Ok(seen)
}

/// Every per-table number of the JSON report appears on the page.
fn check_complete(report: &Value, seen: &BTreeSet<(String, String, String)>) -> anyhow::Result<()> {
    for entity in report["entities"]
        .as_array()
        .context("entities is a list")?
    {
        let name = entity["entity"].as_str().context("entity name")?;
        let mut wanted: Vec<(String, String)> = [
            "legacy_rows",
            "migrated",
            "merged",
            "rejected_total",
            "unexplained",
            "target_rows",
            "changes.created",
            "changes.updated",
            "changes.unchanged",
            "changes.source_deleted",
        ]
        .iter()
        .map(|field| ((*field).to_owned(), String::new()))
        .collect();
        for map in ["rejected", "warnings", "derived"] {
            for key in entity[map].as_object().context("a map")?.keys() {
                wanted.push((map.to_owned(), key.clone()));
            }
        }
        for (field, key) in wanted {
            ensure!(
                seen.contains(&(name.to_owned(), field.clone(), key.clone())),
                "{name} {field} {key} is not on the page"
            );
        }
    }
    Ok(())
}

/// The dirty detail shows exactly as written, as text, not as markup.
fn check_escaping(dom: &Html, entity: &str, legacy_id: i64) -> anyhow::Result<()> {
    ensure!(
        dom.select(&selector("script, link, img, iframe, b")?)
            .next()
            .is_none(),
        "legacy text became markup"
    );
    let id_hook = selector(&format!(
        r#"[data-entity="{entity}"][data-field="example.legacy_id"][data-value="{legacy_id}"]"#
    ))?;
    for row in dom.select(&selector("table.examples tr")?) {
        if row.select(&id_hook).next().is_some() {
            let detail = row
                .select(&selector("td.detail")?)
                .next()
                .context("an example row has a detail cell")?;
            let shown = detail.text().collect::<String>();
            ensure!(shown == DIRTY, "the detail reads {shown:?}");
            return Ok(());
        }
    }
    bail!("{entity} {legacy_id} is not among the examples")
}

#[tokio::test]
async fn the_html_report_shows_what_the_json_report_says() -> anyhow::Result<()> {
    let browser = chromium()?;
    let cli = Cli::new("rephtml").await?;
    cli.run_ok(&["legacy", "seed", "--scale", "small", "--seed", "3"])
        .await?;
    cli.run_ok(&["db", "up"]).await?;
    cli.run_ok(&["migrate", "run", "--inline", "--chunk-size", "2000"])
        .await?;

    let lms = lms_pg::connect(
        cli.lms.url(),
        &lms_pg::PoolConfig::small("report-html-test"),
    )
    .await?;
    // The lowest rejected row of some table gets a detail full of markup,
    // quotes and Kazakh letters; it is one of the page's examples.
    let dirtied = sqlx::query(
        "UPDATE migration.ledger SET detail = $1 WHERE (entity, legacy_id) = ( \
             SELECT entity, legacy_id FROM migration.ledger WHERE outcome = 'rejected' \
             ORDER BY entity, legacy_id LIMIT 1) RETURNING entity, legacy_id",
    )
    .bind(DIRTY)
    .fetch_one(&lms)
    .await
    .context("the small legacy data has rejected rows")?;
    let dirty_entity: String = dirtied.try_get(0)?;
    let dirty_id: i64 = dirtied.try_get(1)?;
    let state = run_state(&lms).await?;
    lms.close().await;

    let json = cli
        .run_ok(&["migrate", "report", "--format", "json"])
        .await?;
    let report: Value = serde_json::from_slice(&json.stdout)?;
    let html = cli
        .run_ok(&["migrate", "report", "--format", "html"])
        .await?;
    let page = text(&html.stdout);
    for outside in ["<script", "<link", "src=", "@import", "url("] {
        ensure!(
            !page.contains(outside),
            "the page is not self-contained: {outside}"
        );
    }

    let scratch = tempfile::tempdir()?;
    let file = scratch.path().join("report.html");
    std::fs::write(&file, &page)?;
    let url = format!("file://{}", file.display());
    let screenshot = scratch.path().join("report.png");
    headless(
        &browser,
        scratch.path(),
        &[
            format!("--screenshot={}", screenshot.display()),
            "--window-size=1280,2000".to_owned(),
            url.clone(),
        ],
    )
    .await?;
    check_screenshot(&screenshot)?;
    let dumped = headless(&browser, scratch.path(), &["--dump-dom".to_owned(), url]).await?;
    let dom = Html::parse_document(&text(&dumped.stdout));

    let seen = check_numbers(&dom, &report, &state)?;
    check_complete(&report, &seen)?;
    check_escaping(&dom, &dirty_entity, dirty_id)?;
    let title: String = dom
        .select(&selector("title")?)
        .next()
        .context("the page has a title")?
        .text()
        .collect();
    ensure!(
        title.contains(report["run_id"].as_str().unwrap_or("?")),
        "{title}"
    );

    scratch.close()?;
    cli.close().await
}
