//! The `page`/`size` rule every list shares: pages from 1, at most [`Pagination::MAX_SIZE`] items.

/// A checked page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination {
    /// 1-based page number.
    pub page: i64,
    /// Items per page.
    pub size: i64,
}

/// One page of a list and the size of the whole list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// How many items the whole list has.
    pub total: i64,
    /// What was asked for.
    pub request: Pagination,
}

/// A `page` or `size` outside its bounds; the HTTP layer answers it with a 422 per entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfBounds {
    /// The parameter (`page` or `size`).
    pub parameter: &'static str,
    /// What was asked for.
    pub value: i64,
    /// The bound it broke.
    pub bound: Bound,
}

/// Which side of its range a value fell off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// Below this minimum.
    AtLeast(i64),
    /// Above this maximum.
    AtMost(i64),
}

impl Pagination {
    /// `size` when the query has none.
    pub const DEFAULT_SIZE: i64 = 20;
    /// Largest `size` accepted: bigger pages would let one request read a whole table.
    pub const MAX_SIZE: i64 = 100;
    /// The first page, as large as allowed (for lists that show one page only).
    pub const FIRST_FULL_PAGE: Self = Self { page: 1, size: Self::MAX_SIZE };

    /// Checks the optional `page` and `size` values; every problem is reported, not only the first.
    pub fn new(page: Option<i64>, size: Option<i64>) -> Result<Self, Vec<OutOfBounds>> {
        let page = page.unwrap_or(1);
        let size = size.unwrap_or(Self::DEFAULT_SIZE);
        let mut problems = Vec::new();
        if page < 1 {
            problems.push(OutOfBounds { parameter: "page", value: page, bound: Bound::AtLeast(1) });
        }
        if size < 1 {
            problems.push(OutOfBounds { parameter: "size", value: size, bound: Bound::AtLeast(1) });
        } else if size > Self::MAX_SIZE {
            problems.push(OutOfBounds { parameter: "size", value: size, bound: Bound::AtMost(Self::MAX_SIZE) });
        }
        if problems.is_empty() { Ok(Self { page, size }) } else { Err(problems) }
    }

    /// SQL `limit`.
    pub fn limit(&self) -> i64 {
        self.size
    }

    /// SQL `offset`; saturates, so an absurd page number reads an empty page instead of overflowing.
    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_bounds_and_offsets() {
        assert_eq!(Pagination::new(None, None), Ok(Pagination { page: 1, size: Pagination::DEFAULT_SIZE }));
        assert_eq!(Pagination::new(Some(3), Some(10)).map(|p| p.offset()), Ok(20));
        let problems = Pagination::new(Some(0), Some(101)).expect_err("both out of bounds");
        assert_eq!(
            problems,
            vec![
                OutOfBounds { parameter: "page", value: 0, bound: Bound::AtLeast(1) },
                OutOfBounds { parameter: "size", value: 101, bound: Bound::AtMost(100) },
            ]
        );
        assert_eq!(Pagination { page: i64::MAX, size: 100 }.offset(), i64::MAX);
    }
}
