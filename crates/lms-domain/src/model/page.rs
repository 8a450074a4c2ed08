//! Keyset pagination: pages follow the last id seen, so rows inserted while
//! a client pages through never shift or repeat what it sees.

/// The default page size.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The largest page size; larger requests are lowered to it.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// One page to read: up to `size` items with ids greater than `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    size: u32,
    after: Option<i64>,
}

impl PageRequest {
    /// `size` 0 means the default; sizes above the maximum are lowered.
    pub fn new(size: u32, after: Option<i64>) -> PageRequest {
        let size = match size {
            0 => DEFAULT_PAGE_SIZE,
            size => size.min(MAX_PAGE_SIZE),
        };
        PageRequest { size, after }
    }

    pub fn first(size: u32) -> PageRequest {
        PageRequest::new(size, None)
    }

    /// Items per page, 1 to 1000.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Only ids greater than this.
    pub fn after(&self) -> Option<i64> {
        self.after
    }
}

/// A page of items in id order.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The last id of this page when more items follow; `None` on the last page.
    pub next_after: Option<i64>,
}

impl<T> Page<T> {
    /// Builds a page from up to `size + 1` items read in id order: the extra
    /// item only tells that another page follows.
    pub fn from_overfetch(
        mut items: Vec<T>,
        request: PageRequest,
        id_of: impl Fn(&T) -> i64,
    ) -> Page<T> {
        let size = request.size() as usize;
        let more = items.len() > size;
        items.truncate(size);
        let next_after = if more { items.last().map(&id_of) } else { None };
        Page { items, next_after }
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
        assert_eq!((page.items, page.next_after), (vec![1, 2], Some(2)));
        let page = Page::from_overfetch(vec![1, 2], request, |id| *id);
        assert_eq!(page.next_after, None);
    }
}
