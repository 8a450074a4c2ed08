//! Keyset pagination: pages follow the last id seen, so rows inserted while
//! a client pages through never shift or repeat what it sees.

/// The default page size.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The largest page size; larger requests are lowered to it.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Which ids a cursor counts. The LMS primary and its standbys share LMS
/// ids; in degraded mode pages come from the legacy database in legacy id
/// order, and a cursor of one space means nothing in the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CursorSpace {
    #[default]
    Lms,
    Legacy,
}

/// Where a page ends: the last id it showed, and which ids those are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub space: CursorSpace,
    pub after: i64,
}

impl Cursor {
    pub fn lms(after: i64) -> Cursor {
        Cursor {
            space: CursorSpace::Lms,
            after,
        }
    }
}

/// One page to read: up to `size` items with ids greater than the cursor's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    size: u32,
    cursor: Option<Cursor>,
    max_bytes: Option<usize>,
}

impl PageRequest {
    /// `size` 0 means the default; sizes above the maximum are lowered.
    /// `after` is an LMS id.
    pub fn new(size: u32, after: Option<i64>) -> PageRequest {
        PageRequest::resume(size, after.map(Cursor::lms))
    }

    /// Continues after `cursor`, in whichever id space it was issued.
    pub fn resume(size: u32, cursor: Option<Cursor>) -> PageRequest {
        let size = match size {
            0 => DEFAULT_PAGE_SIZE,
            size => size.min(MAX_PAGE_SIZE),
        };
        PageRequest {
            size,
            cursor,
            max_bytes: None,
        }
    }

    /// Lets a read whose rows carry large texts (course materials) stop
    /// loading rows once their text passes `max_bytes`, keeping at least
    /// one: the page then comes back shorter, with a cursor. The server
    /// sets it to its message limit, since a response cannot carry more.
    pub fn with_max_bytes(mut self, max_bytes: usize) -> PageRequest {
        self.max_bytes = Some(max_bytes);
        self
    }

    /// See [`PageRequest::with_max_bytes`].
    pub fn max_bytes(&self) -> Option<usize> {
        self.max_bytes
    }

    pub fn first(size: u32) -> PageRequest {
        PageRequest::new(size, None)
    }

    /// Items per page, 1 to 1000.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Only ids greater than this (in the cursor's space).
    pub fn after(&self) -> Option<i64> {
        self.cursor.map(|cursor| cursor.after)
    }

    pub fn cursor(&self) -> Option<Cursor> {
        self.cursor
    }
}

/// A page of items in id order.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next_after: Option<Cursor>,
    /// Each item's own cursor (where a page ending with it continues), so
    /// that a page can be cut short after any item ([`Page::cut`]).
    cursors: Vec<Cursor>,
}

impl<T> Page<T> {
    /// The last page, with nothing on it.
    pub fn empty() -> Page<T> {
        Page {
            items: Vec::new(),
            next_after: None,
            cursors: Vec::new(),
        }
    }

    /// Builds a page from up to `size + 1` items read in LMS id order: the
    /// extra item only tells that another page follows.
    pub fn from_overfetch(
        items: Vec<T>,
        request: PageRequest,
        id_of: impl Fn(&T) -> i64,
    ) -> Page<T> {
        Page::from_overfetch_in(CursorSpace::Lms, items, request, id_of)
    }

    /// Like [`Page::from_overfetch`], for items read in the order of
    /// another id space.
    pub fn from_overfetch_in(
        space: CursorSpace,
        mut items: Vec<T>,
        request: PageRequest,
        id_of: impl Fn(&T) -> i64,
    ) -> Page<T> {
        let size = request.size() as usize;
        let more = items.len() > size;
        items.truncate(size);
        let cursors: Vec<Cursor> = items
            .iter()
            .map(|item| Cursor {
                space,
                after: id_of(item),
            })
            .collect();
        let next_after = if more { cursors.last().copied() } else { None };
        Page {
            items,
            next_after,
            cursors,
        }
    }

    /// A page whose read stopped before it was full and before the rows
    /// ran out (AIP-158 allows a short page, even an empty one): when no
    /// item already says where the next page starts, it starts after
    /// `stopped`, the last row the read examined.
    pub fn resuming_after(mut self, stopped: Option<Cursor>) -> Page<T> {
        if self.next_after.is_none() {
            self.next_after = stopped;
        }
        self
    }

    /// The same page with each item converted.
    pub fn map<U>(self, convert: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(convert).collect(),
            next_after: self.next_after,
            cursors: self.cursors,
        }
    }

    /// Keeps the first `keep` items; the next page then starts after the
    /// last one kept. Keeping all of them (or more) changes nothing. At
    /// least one item is kept: a page cut to nothing would have no cursor
    /// to continue from.
    pub fn cut(mut self, keep: usize) -> Page<T> {
        let keep = keep.max(1);
        if keep < self.items.len() {
            self.items.truncate(keep);
            self.cursors.truncate(keep);
            // A cut page always has a next page: the items cut off.
            self.next_after = self.cursors.last().copied().or(self.next_after);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_default_and_cap() {
        assert_eq!(PageRequest::new(0, None).size(), 50);
        assert_eq!(PageRequest::new(5000, None).size(), 1000);
        assert_eq!(PageRequest::new(7, Some(3)).after(), Some(3));
    }

    #[test]
    fn overfetch_tells_whether_more_follow() {
        let request = PageRequest::new(2, None);
        let page = Page::from_overfetch(vec![1, 2, 3], request, |id| *id);
        assert_eq!(
            (page.items, page.next_after),
            (vec![1, 2], Some(Cursor::lms(2)))
        );
        let page = Page::from_overfetch(vec![1, 2], request, |id| *id);
        assert_eq!(page.next_after, None);
    }

    #[test]
    fn a_cut_page_continues_after_its_last_item() {
        let request = PageRequest::new(5, None);
        let page = Page::from_overfetch(vec![10, 20, 30], request, |id| *id).cut(2);
        assert_eq!(
            (page.items, page.next_after),
            (vec![10, 20], Some(Cursor::lms(20)))
        );
        let whole = Page::from_overfetch(vec![10, 20], request, |id| *id).cut(2);
        assert_eq!(whole.next_after, None);
    }

    #[test]
    fn a_stopped_read_continues_after_the_last_row_it_examined() {
        let request = PageRequest::new(5, None);
        let stopped = Some(Cursor::lms(99));
        let short = Page::from_overfetch(vec![10], request, |id| *id).resuming_after(stopped);
        assert_eq!((short.items, short.next_after), (vec![10], stopped));
        let full =
            Page::from_overfetch(vec![1, 2, 3, 4, 5, 6], request, |id| *id).resuming_after(stopped);
        assert_eq!(full.next_after, Some(Cursor::lms(5)));
    }
}
