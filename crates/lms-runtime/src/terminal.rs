//! Whether output goes to a person at a terminal: colour, bars and table
//! widths are for terminals only, so a log or a pipe gets plain text.

use std::ffi::OsStr;
use std::io::IsTerminal;

/// The environment variable that turns colour off when it has any
/// non-empty value (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";

/// Whether to write colour to `stream`: only to a terminal, and never when
/// `NO_COLOR` is set to a non-empty value.
pub fn colour(stream: &impl IsTerminal) -> bool {
    colour_for(stream.is_terminal(), std::env::var_os(NO_COLOR).as_deref())
}

/// [`colour`] given the facts: is the stream a terminal, and `NO_COLOR`'s
/// value if it is set.
pub fn colour_for(is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    is_terminal && no_color.is_none_or(OsStr::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal() {
        assert!(colour_for(true, None));
        assert!(!colour_for(false, None));
    }

    #[test]
    fn any_non_empty_no_color_turns_it_off() {
        assert!(!colour_for(true, Some(OsStr::new("1"))));
        assert!(!colour_for(true, Some(OsStr::new("0"))));
        assert!(!colour_for(true, Some(OsStr::new("false"))));
    }

    #[test]
    fn an_empty_no_color_is_as_if_unset() {
        assert!(colour_for(true, Some(OsStr::new(""))));
    }
}
