//! The hold preview's section of the page: per legacy table, what the run
//! would create, update and mark deleted against its threshold, the tables
//! that hold the run marked.

use maud::{Markup, html};

use super::{Hook, count};
use crate::hold::HoldPreview;
use crate::state::RunStatus;

pub(super) fn section(preview: &HoldPreview, status: RunStatus) -> Markup {
    html! {
        section #hold {
            h2 { "Hold preview" }
            p.note {
                "Counted before anything was written, from the staged snapshot of legacy against the ledger. "
                "A table holds the run when its changes exceed max(" (preview.threshold.percent) "% of its legacy rows, "
                (preview.threshold.min_rows) " rows); a bulk load never does."
            }
            @if status == RunStatus::Held {
                p.verdict.bad {
                    "Held: nothing is written until the run is approved (lmsctl migrate approve), "
                    "which applies exactly these changes; cancelling it leaves the LMS untouched."
                }
            }
            table {
                thead { tr {
                    th { "legacy table" } th { "path" } th.n { "legacy rows" } th.n { "creates" }
                    th.n { "updates" } th.n { "deletes" } th.n { "threshold" } th { "holds" }
                } }
                tbody {
                    @for table in &preview.tables {
                        @let name = table.entity.as_str();
                        tr {
                            th { (name) } td { (table.load_path) }
                            td.n { (count(Hook::entity(name, "hold.legacy_rows"), table.legacy_rows)) }
                            td.n { (count(Hook::entity(name, "hold.creates"), table.creates)) }
                            td.n { (count(Hook::entity(name, "hold.updates"), table.updates)) }
                            td.n { (count(Hook::entity(name, "hold.deletes"), table.deletes)) }
                            td.n { (count(Hook::entity(name, "hold.threshold"), table.threshold)) }
                            td { @if table.exceeds() { strong { "yes" } } @else { "no" } }
                        }
                    }
                }
            }
        }
    }
}
