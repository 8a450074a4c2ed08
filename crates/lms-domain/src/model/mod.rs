//! The LMS resources as the domain sees them: what the data layer returns,
//! what the API converts from and to.

mod filters;
mod ids;
mod page;
mod resources;
mod writes;

pub use filters::*;
pub use ids::*;
pub use page::{Cursor, CursorSpace, Page, PageRequest};
pub use resources::*;
pub use writes::*;
