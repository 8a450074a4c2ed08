//! PostgreSQL settings: deploy/postgres/lms.conf, and its connection budget
//! against every pool the other flavours open.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail, ensure};

use crate::compose::{check_compose, compose_document, compose_variables};
use crate::dockerfile::load_image;
use crate::kubernetes::{check_manifests, load_manifests};
use crate::problems::Problems;
use crate::repo_files::read_deploy;
use crate::settings::PoolUse;
use crate::systemd::{check_units, load_units};
use crate::workspace::workspace;

/// postgresql.conf syntax: `name = value` (the `=` is optional), values
/// bare or single-quoted with `''` for a quote, `#` comments.
pub(crate) fn parse_pg_conf(text: &str) -> Result<BTreeMap<String, String>> {
    let mut settings = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_length = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(line.len());
        ensure!(
            name_length > 0,
            "line {}: no setting name: {line:?}",
            number + 1
        );
        let name = line[..name_length].to_ascii_lowercase();
        let rest = line[name_length..].trim_start();
        let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
        let (value, after) = if let Some(quoted) = rest.strip_prefix('\'') {
            let mut value = String::new();
            let mut chars = quoted.char_indices().peekable();
            let mut end = None;
            while let Some((index, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().is_some_and(|(_, next)| *next == '\'') {
                        value.push('\'');
                        chars.next();
                    } else {
                        end = Some(index + 1);
                        break;
                    }
                } else {
                    value.push(c);
                }
            }
            let end = end.ok_or_else(|| anyhow!("line {}: unterminated quote", number + 1))?;
            (value, &quoted[end..])
        } else {
            let value_length = rest
                .find(|c: char| c.is_whitespace() || c == '#')
                .unwrap_or(rest.len());
            (rest[..value_length].to_owned(), &rest[value_length..])
        };
        let after = after.trim_start();
        ensure!(
            after.is_empty() || after.starts_with('#'),
            "line {}: unexpected text after the value: {after:?}",
            number + 1
        );
        ensure!(
            !value.is_empty(),
            "line {}: {name} has no value",
            number + 1
        );
        ensure!(
            settings.insert(name.clone(), value).is_none(),
            "line {}: {name} is set twice",
            number + 1
        );
    }
    Ok(settings)
}

/// The connection budget in lms.conf's comments:
/// `# budget: NAME processes=N connections=M` and `# budget-total: T`.
#[derive(Debug)]
struct Budget {
    entries: BTreeMap<String, (u32, u32)>,
    stated_total: u32,
}

fn parse_budget(text: &str) -> Result<Budget> {
    let mut entries = BTreeMap::new();
    let mut stated_total = None;
    for line in text.lines() {
        let Some(comment) = line.trim().strip_prefix('#') else {
            continue;
        };
        let comment = comment.trim();
        if let Some(total) = comment.strip_prefix("budget-total:") {
            stated_total = Some(total.trim().parse()?);
        } else if let Some(entry) = comment.strip_prefix("budget:") {
            let mut words = entry.split_whitespace();
            let name = words
                .next()
                .ok_or_else(|| anyhow!("budget line without a name"))?
                .to_owned();
            let mut processes = None;
            let mut connections = None;
            for word in words {
                match word.split_once('=') {
                    Some(("processes", count)) => processes = Some(count.parse()?),
                    Some(("connections", count)) => connections = Some(count.parse()?),
                    _ => bail!("budget line for {name}: unexpected {word:?}"),
                }
            }
            let entry = (
                processes.ok_or_else(|| anyhow!("budget {name}: no processes="))?,
                connections.ok_or_else(|| anyhow!("budget {name}: no connections="))?,
            );
            ensure!(
                entries.insert(name.clone(), entry).is_none(),
                "budget {name} listed twice"
            );
        }
    }
    Ok(Budget {
        entries,
        stated_total: stated_total.ok_or_else(|| anyhow!("no `# budget-total:` line"))?,
    })
}

pub(crate) fn check_pg_conf(text: &str, pools: &[PoolUse], problems: &mut Problems) -> Result<()> {
    let origin = "deploy/postgres/lms.conf";
    let settings = parse_pg_conf(text).context(origin)?;
    let budget = parse_budget(text).context(origin)?;
    let number = |name: &str, default: u32| -> Result<u32> {
        settings
            .get(name)
            .map(|value| {
                value
                    .parse::<u32>()
                    .with_context(|| format!("{origin}: {name} = {value}"))
            })
            .transpose()
            .map(|value| value.unwrap_or(default))
    };
    let max_connections = number("max_connections", 100)?;
    let reserved =
        number("superuser_reserved_connections", 3)? + number("reserved_connections", 0)?;

    let sum: u32 = budget
        .entries
        .values()
        .map(|(processes, each)| processes * each)
        .sum();
    problems.require(sum == budget.stated_total, || {
        format!(
            "{origin}: the budget lines add up to {sum}, the comment says {}",
            budget.stated_total
        )
    });
    problems.require(max_connections >= sum + reserved, || {
        format!(
            "{origin}: max_connections {max_connections} is less \
             than the budget {sum} plus {reserved} reserved"
        )
    });
    for name in ["lms-server", "lms-worker", "lmsctl"] {
        problems.require(budget.entries.contains_key(name), || {
            format!("{origin}: the budget has no {name} line")
        });
    }
    for pool in pools {
        let Some((processes, each)) = budget.entries.get(&pool.binary) else {
            continue;
        };
        problems.require(pool.connections_each <= *each, || {
            format!(
                "{}: a {} process opens up to {} connections, the budget in {origin} allows {each}",
                pool.origin, pool.binary, pool.connections_each
            )
        });
        if let Some(count) = pool.processes {
            problems.require(count <= *processes, || {
                format!(
                    "{}: runs up to {count} {} processes, the \
                     budget in {origin} allows {processes}",
                    pool.origin, pool.binary
                )
            });
        }
    }
    // The settings this file exists for.
    for name in [
        "autovacuum_vacuum_scale_factor",
        "autovacuum_analyze_scale_factor",
        "autovacuum_vacuum_insert_scale_factor",
        "autovacuum_naptime",
        "autovacuum_vacuum_cost_limit",
        "work_mem",
        "maintenance_work_mem",
        "max_wal_size",
        "shared_buffers",
    ] {
        problems.require(settings.contains_key(name), || {
            format!("{origin}: {name} is not set")
        });
    }
    for name in [
        "autovacuum_vacuum_scale_factor",
        "autovacuum_analyze_scale_factor",
        "autovacuum_vacuum_insert_scale_factor",
    ] {
        let value = settings
            .get(name)
            .and_then(|value| value.parse::<f64>().ok());
        problems.require(
            value.is_some_and(|value| value > 0.0 && value < 0.2),
            || {
                format!(
                    "{origin}: {name} should be below the default 0.2 for large bulk-loaded tables"
                )
            },
        );
    }
    Ok(())
}

#[test]
fn postgres_settings_parse_and_cover_every_pool() -> Result<()> {
    let workspace = workspace()?;
    let mut problems = Problems::default();
    let image = load_image(&workspace, &mut problems)?;
    let mut pools = check_compose(
        &compose_document()?,
        &compose_variables()?,
        &image,
        &workspace,
        &mut problems,
    )?;
    pools.extend(check_manifests(&load_manifests()?, &image, &workspace, &mut problems)?.pools);
    pools.extend(check_units(&load_units()?, &workspace, &mut problems)?);
    let text = read_deploy("postgres/lms.conf")?;
    check_pg_conf(&text, &pools, &mut problems)?;
    problems.assert_none();
    let settings = parse_pg_conf(&text)?;
    assert_eq!(
        settings.get("max_connections").map(String::as_str),
        Some("180")
    );
    let container = parse_pg_conf(&read_deploy("postgres/container.conf")?)?;
    assert_eq!(
        container.get("include").map(String::as_str),
        Some("/etc/postgresql/lms.conf")
    );
    Ok(())
}

#[test]
fn broken_postgres_settings_are_caught() -> Result<()> {
    let text = read_deploy("postgres/lms.conf")?;
    let cases = [
        (
            text.replace("max_connections = 180", "max_connections = 100"),
            "is less than the budget",
        ),
        (
            text.replace("# budget-total: 168", "# budget-total: 120"),
            "add up to",
        ),
        (
            text.replace(
                "# budget: lms-worker processes=8 connections=6",
                "# budget: lms-worker processes=8 connections=4",
            ),
            "the budget in",
        ),
        (
            text.replace(
                "autovacuum_vacuum_scale_factor = 0.05",
                "autovacuum_vacuum_scale_factor = 0.2",
            ),
            "below the default",
        ),
    ];
    let pools = vec![PoolUse {
        origin: "a worker".to_owned(),
        binary: "lms-worker".to_owned(),
        processes: Some(1),
        connections_each: 6,
    }];
    for (changed, expected) in cases {
        assert_ne!(
            changed, text,
            "the mutation for {expected:?} changed nothing"
        );
        let mut problems = Problems::default();
        check_pg_conf(&changed, &pools, &mut problems)?;
        assert!(
            problems.mentions(expected),
            "expected {expected:?} in:\n{problems}"
        );
    }
    assert!(parse_pg_conf("work_mem = '32MB' trailing").is_err());
    assert!(parse_pg_conf("shared_buffers = '2GB\n").is_err());
    assert!(parse_pg_conf("jit = off\njit = on\n").is_err());
    assert_eq!(
        parse_pg_conf("include 'a''b.conf' # note\nwal_compression=lz4\n")?,
        BTreeMap::from([
            ("include".to_owned(), "a'b.conf".to_owned()),
            ("wal_compression".to_owned(), "lz4".to_owned())
        ])
    );
    Ok(())
}
