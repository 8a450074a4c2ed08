//! Codes the ledger keeps as text (outcomes, reasons, warnings), read back
//! into the domain's enums once, where a row is read.

use std::str::FromStr;

use lms_domain::outcome::UnknownCode;

use crate::error::EngineError;

/// Parses each stored code; one this build does not know is an invariant
/// broken (written by another version, or by hand), named in the error.
pub(crate) fn parse_codes<Code>(stored: &[String]) -> Result<Vec<Code>, EngineError>
where
    Code: FromStr<Err = UnknownCode>,
{
    stored
        .iter()
        .map(|code| code.parse().map_err(EngineError::from))
        .collect()
}

/// Parses a stored code that may be absent.
pub(crate) fn parse_optional<Code>(stored: Option<String>) -> Result<Option<Code>, EngineError>
where
    Code: FromStr<Err = UnknownCode>,
{
    stored
        .map(|code| code.parse().map_err(EngineError::from))
        .transpose()
}
