//! Reading a binary's Prometheus endpoint the way Prometheus does: a plain
//! `GET /metrics`, parsed into samples a test can look up by name and labels.

use std::net::SocketAddr;

use anyhow::Context;

/// One scrape: every sample line of the text exposition format.
#[derive(Debug, Clone)]
pub struct Scrape {
    samples: Vec<Sample>,
}

/// `name{labels} value`.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    /// The value of one label, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl Scrape {
    /// `GET http://{address}/metrics`; fails unless it answers 200.
    pub async fn fetch(address: SocketAddr) -> anyhow::Result<Scrape> {
        let response = reqwest::get(format!("http://{address}/metrics"))
            .await
            .with_context(|| format!("scraping {address}"))?;
        anyhow::ensure!(
            response.status().is_success(),
            "{address}/metrics answered {}",
            response.status()
        );
        Scrape::parse(&response.text().await?)
    }

    /// Parses the text exposition format (comments and blank lines skipped).
    pub fn parse(text: &str) -> anyhow::Result<Scrape> {
        let samples = text
            .lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(parse_sample)
            .collect::<anyhow::Result<_>>()?;
        Ok(Scrape { samples })
    }

    /// Samples named `name` whose labels include every pair of `labels`.
    pub fn find<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |sample| {
            sample.name == name
                && labels
                    .iter()
                    .all(|(key, value)| sample.label(key) == Some(*value))
        })
    }

    /// The sum of the matching samples' values (0 when none match).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels).map(|sample| sample.value).sum()
    }

    /// Whether any sample is named `name`.
    pub fn has(&self, name: &str) -> bool {
        self.find(name, &[]).next().is_some()
    }
}

fn parse_sample(line: &str) -> anyhow::Result<Sample> {
    let (series, value) = line
        .rsplit_once(' ')
        .with_context(|| format!("no value in {line:?}"))?;
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other
            .parse()
            .with_context(|| format!("bad value in {line:?}"))?,
    };
    let (name, labels) = match series.split_once('{') {
        None => (series, Vec::new()),
        Some((name, rest)) => {
            let body = rest
                .strip_suffix('}')
                .with_context(|| format!("unclosed labels in {line:?}"))?;
            (
                name,
                parse_labels(body).with_context(|| format!("in {line:?}"))?,
            )
        }
    };
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// `a="x",b="y"`, with `\"`, `\\` and `\n` escapes inside values.
fn parse_labels(body: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut labels = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").context("a label without a value")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((index, '"')) => break index,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, escaped)) => value.push(escaped),
                    None => anyhow::bail!("a dangling escape"),
                },
                Some((_, other)) => value.push(other),
                None => anyhow::bail!("an unterminated label value"),
            }
        };
        labels.push((key.trim_start_matches(',').to_owned(), value));
        rest = &after[end + 1..];
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::Scrape;

    #[test]
    fn parses_names_labels_and_values() -> anyhow::Result<()> {
        let scrape = Scrape::parse(
            "# TYPE x counter\nx{method=\"/a.B/C\",code=\"OK\"} 3\nx{method=\"q\\\"t\",code=\"OK\"} 2\ny 1.5\nh_bucket{le=\"+Inf\"} 7\n",
        )?;
        assert_eq!(scrape.sum("x", &[("code", "OK")]), 5.0);
        assert_eq!(scrape.sum("x", &[("method", "q\"t")]), 2.0);
        assert_eq!(scrape.sum("y", &[]), 1.5);
        assert!(scrape.has("h_bucket"));
        assert!(Scrape::parse("broken{a=\"1\" 2").is_err());
        Ok(())
    }
}
