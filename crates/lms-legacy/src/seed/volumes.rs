//! How many rows each legacy table gets.

use std::fmt;
use std::str::FromStr;

/// The size of a generated legacy database.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// The production volumes of the analysis report, to the row.
    Seed,
    /// About 1% of production, with every kind of dirt.
    Small,
    /// A multiple of production (`10` is ten times the report).
    Times(f64),
}

impl Scale {
    pub fn factor(self) -> f64 {
        match self {
            Scale::Seed => 1.0,
            Scale::Small => 0.01,
            Scale::Times(factor) => factor,
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scale::Seed => f.write_str("seed"),
            Scale::Small => f.write_str("small"),
            Scale::Times(factor) => write!(f, "{factor}"),
        }
    }
}

/// A `--scale` value that is neither `seed`, `small` nor a positive number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "scale must be `seed`, `small` or a positive multiplier such as 10 (at most 100), not {0:?}"
)]
pub struct BadScale(pub String);

impl FromStr for Scale {
    type Err = BadScale;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "seed" => Ok(Scale::Seed),
            "small" => Ok(Scale::Small),
            other => match other.parse::<f64>() {
                Ok(1.0) => Ok(Scale::Seed),
                Ok(factor) if factor.is_finite() && factor > 0.0 && factor <= 100.0 => {
                    Ok(Scale::Times(factor))
                }
                _ => Err(BadScale(text.to_owned())),
            },
        }
    }
}

/// Row counts per legacy table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Volumes {
    pub organizations: usize,
    pub persons: usize,
    pub users: usize,
    pub groups: usize,
    pub subjects: usize,
    pub students: usize,
    pub teachers: usize,
    pub journal: usize,
    pub exams: usize,
    pub exam_results: usize,
}

/// The analysis report's production volumes; groups, subjects and exams are
/// not in the report, and DATA.md suggests about 300, 1,200 and 2,400.
pub const PRODUCTION: Volumes = Volumes {
    organizations: 56,
    persons: 6_469,
    users: 6_935,
    groups: 250,
    subjects: 1_200,
    students: 6_344,
    teachers: 424,
    journal: 510_269,
    exams: 2_400,
    exam_results: 66_337,
};

impl Volumes {
    /// The volumes at a scale. Small scales keep a floor under each table so
    /// that every kind of dirt still has rows to live in.
    pub fn at(scale: Scale) -> Volumes {
        let factor = scale.factor();
        let scaled = |count: usize, floor: usize| -> usize {
            // Counts stay far below 2^52, where f64 is exact.
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            let value = (count as f64 * factor).round() as usize;
            value.max(floor)
        };
        let p = PRODUCTION;
        let students = scaled(p.students, 80);
        let teachers = scaled(p.teachers, 14);
        // The floors under students and teachers need persons and users of
        // their own; at production proportions these never bind.
        let people = (students + teachers) * 19 / 20;
        Volumes {
            organizations: scaled(p.organizations, 12),
            persons: scaled(p.persons, 100).max(people + 10),
            users: scaled(p.users, 120).max(people + 24),
            groups: scaled(p.groups, 4),
            subjects: scaled(p.subjects, 80),
            students,
            teachers,
            journal: scaled(p.journal, 5_000),
            exams: scaled(p.exams, 30),
            exam_results: scaled(p.exam_results, 700),
        }
    }

    /// The counts in legacy table order, for reports and checks.
    pub fn by_table(&self) -> [(&'static str, usize); 10] {
        [
            ("organizations", self.organizations),
            ("persons", self.persons),
            ("users", self.users),
            ("groups", self.groups),
            ("subjects", self.subjects),
            ("students", self.students),
            ("teachers", self.teachers),
            ("journal", self.journal),
            ("exams", self.exams),
            ("exam_results", self.exam_results),
        ]
    }
}

/// A count of dirty rows: a share of a table, but at least one, so that small
/// databases have every kind of dirt.
pub fn share(total: usize, per_mille: f64) -> usize {
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let count = (total as f64 * per_mille / 1000.0).round() as usize;
    count.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_scale_is_the_report() {
        assert_eq!(Volumes::at(Scale::Seed), PRODUCTION);
        assert_eq!(Volumes::at(Scale::Times(10.0)).journal, 5_102_690);
        assert!(Volumes::at(Scale::Small).journal < 6_000);
    }

    #[test]
    fn scales_parse() {
        assert_eq!("seed".parse(), Ok(Scale::Seed));
        assert_eq!("small".parse(), Ok(Scale::Small));
        assert_eq!("10".parse(), Ok(Scale::Times(10.0)));
        assert_eq!("1".parse(), Ok(Scale::Seed));
        assert!("0".parse::<Scale>().is_err());
        assert!("-2".parse::<Scale>().is_err());
        assert!("huge".parse::<Scale>().is_err());
        assert!("NaN".parse::<Scale>().is_err());
    }
}
