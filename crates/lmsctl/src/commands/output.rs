//! Where lmsctl's standard output goes: to a terminal (colour unless
//! `NO_COLOR` says otherwise, tables as wide as the terminal) or to a pipe
//! or file (plain text, no width limit, so a log reads as it was printed).

use std::io::IsTerminal;

/// How to lay out what goes to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Whether to write colour.
    pub colour: bool,
    /// The terminal's width in columns; `None` when there is no terminal
    /// (no limit: lines are never wrapped).
    pub width: Option<u16>,
}

impl Layout {
    /// Plain text without a width: a pipe or a file.
    pub const PIPE: Layout = Layout {
        colour: false,
        width: None,
    };

    /// The layout for stdout as it is now.
    pub fn stdout() -> Layout {
        let stdout = std::io::stdout();
        if !stdout.is_terminal() {
            return Layout::PIPE;
        }
        Layout {
            colour: lms_runtime::terminal::colour(&stdout),
            width: terminal_size::terminal_size_of(&stdout).map(|(width, _)| width.0),
        }
    }
}

/// Whether live progress can redraw bars: both stdout (where the report
/// follows) and stderr (where indicatif draws) must be terminals, or the
/// redraws would end up in a log.
pub fn live_bars() -> bool {
    std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}
