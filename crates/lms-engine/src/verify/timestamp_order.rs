//! Where a legacy `timestamp` falls in PostgreSQL's order, from the text
//! PostgreSQL prints for it in the ISO style: the oracle's reading of "the
//! latest `submitted_at`" over every value the type holds, the infinities
//! and the years the LMS cannot store included.

use std::cmp::Ordering;

/// A legacy timestamp's place in PostgreSQL's order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimestampOrder {
    MinusInfinity,
    /// The astronomical year (1 BC is 0, 2 BC is -1) and the rest of the
    /// text (`MM-DD HH:MM:SS[.ffffff]`), whose fixed-width fields and
    /// decimal fraction sort as text.
    At(i64, FractionalRest),
    Infinity,
}

/// `MM-DD HH:MM:SS[.ffffff]`: as text, a longer fraction after an equal
/// prefix is later (`10:00:00` < `10:00:00.5`), and fraction digits
/// compare as decimals (`.25` < `.5`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FractionalRest(String);

impl Ord for FractionalRest {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

impl PartialOrd for FractionalRest {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The order of `text` (`2024-01-10 10:00:00`, `0044-03-15 10:00:00 BC`,
/// `12345-01-01 00:00:00`, `infinity`), or `None` for text that is no
/// timestamp.
pub fn timestamp_order(text: &str) -> Option<TimestampOrder> {
    match text {
        "-infinity" => Some(TimestampOrder::MinusInfinity),
        "infinity" => Some(TimestampOrder::Infinity),
        _ => {
            let (body, before_christ) = match text.strip_suffix(" BC") {
                Some(body) => (body, true),
                None => (text, false),
            };
            let (year, rest) = body.split_once('-')?;
            let year: i64 = year.parse().ok()?;
            let astronomical = if before_christ { 1 - year } else { year };
            Some(TimestampOrder::At(
                astronomical,
                FractionalRest(rest.to_owned()),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgresqls_order_from_the_first_value_to_the_last() {
        let ascending = [
            "-infinity",
            "4713-01-01 00:00:00 BC",
            "0001-12-31 23:59:59.999999 BC",
            "0001-01-01 00:00:00",
            "2024-01-10 10:00:00",
            "2024-01-10 10:00:00.25",
            "2024-01-10 10:00:00.5",
            "2024-01-10 10:00:01",
            "9999-12-31 23:59:59.999999",
            "10000-01-01 00:00:00",
            "294276-12-31 23:59:59.999999",
            "infinity",
        ];
        let orders: Vec<TimestampOrder> = ascending
            .iter()
            .map(|text| timestamp_order(text).unwrap_or_else(|| panic!("{text}")))
            .collect();
        for pair in orders.windows(2) {
            assert!(pair[0] < pair[1], "{pair:?}");
        }
    }

    #[test]
    fn text_that_is_no_timestamp_has_no_place() {
        assert_eq!(timestamp_order("yesterday"), None);
        assert_eq!(timestamp_order(""), None);
    }
}
