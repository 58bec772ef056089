//! Cursor pagination, as the REST surface has it: `?pageSize=&after=&before=`, newest first.
//!
//! A cursor names a position in the list (a creation time and a tie-breaking id), so pages stay
//! stable while items are added; it is opaque to callers (URL-safe base64).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};

use crate::time::{from_micros, to_micros};

/// A position in a list ordered by creation time, newest first, then by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageKey {
    /// The item's creation time.
    pub created_at: DateTime<Utc>,
    /// The item's id, which breaks ties between items created in the same microsecond.
    pub id: String,
}

impl PageKey {
    /// The opaque cursor text for this position.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}", to_micros(self.created_at), self.id))
    }

    /// Reads a cursor made by [`PageKey::encode`].
    pub fn decode(cursor: &str) -> Result<Self, CursorError> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| CursorError::Malformed)?;
        let text = String::from_utf8(bytes).map_err(|_| CursorError::Malformed)?;
        let (micros, id) = text.split_once('|').ok_or(CursorError::Malformed)?;
        let created_at = micros
            .parse::<i64>()
            .ok()
            .and_then(from_micros)
            .ok_or(CursorError::Malformed)?;
        Ok(Self {
            created_at,
            id: id.to_owned(),
        })
    }
}

/// Which way from the cursor a page goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// Items older than the key (the next page).
    After(PageKey),
    /// Items newer than the key (the previous page).
    Before(PageKey),
}

/// A request for one page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// How many items at most.
    pub size: u32,
    /// Where the page starts; `None` for the newest items.
    pub cursor: Option<Cursor>,
}

/// Why pagination parameters are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// A cursor that Coupler did not make.
    #[error("the pagination cursor is not valid")]
    Malformed,
    /// Both `after` and `before` were given.
    #[error("'after' and 'before' cannot be used together")]
    BothDirections,
    /// `pageSize` out of range.
    #[error("pageSize must be between 1 and {max}")]
    SizeOutOfRange {
        /// The largest page size allowed.
        max: u32,
    },
}

impl PageRequest {
    /// Page size when the caller names none.
    pub const DEFAULT_SIZE: u32 = 50;
    /// The largest page size allowed.
    pub const MAX_SIZE: u32 = 200;

    /// Builds a request from the raw query parameters.
    pub fn parse(page_size: Option<u32>, after: Option<&str>, before: Option<&str>) -> Result<Self, CursorError> {
        let size = page_size.unwrap_or(Self::DEFAULT_SIZE);
        if !(1..=Self::MAX_SIZE).contains(&size) {
            return Err(CursorError::SizeOutOfRange { max: Self::MAX_SIZE });
        }
        let cursor = match (after, before) {
            (Some(_), Some(_)) => return Err(CursorError::BothDirections),
            (Some(a), None) => Some(Cursor::After(PageKey::decode(a)?)),
            (None, Some(b)) => Some(Cursor::Before(PageKey::decode(b)?)),
            (None, None) => None,
        };
        Ok(Self { size, cursor })
    }

    /// The first page of `size` items.
    pub fn first(size: u32) -> Self {
        Self { size, cursor: None }
    }
}

/// One page of items, newest first, with the cursors that lead on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Cursor for the next (older) page, if there is one.
    pub after: Option<PageKey>,
    /// Cursor for the previous (newer) page, if there is one.
    pub before: Option<PageKey>,
}

impl<T> Page<T> {
    /// Assembles a page from rows a store fetched.
    ///
    /// `rows` must be newest first and may hold one row more than `request.size`: that extra row only
    /// tells that more items lie in the direction of travel. `key` gives an item's position.
    pub fn from_rows(request: &PageRequest, mut rows: Vec<T>, key: impl Fn(&T) -> PageKey) -> Self {
        let size = request.size as usize;
        let more = rows.len() > size;
        let going_back = matches!(request.cursor, Some(Cursor::Before(_)));
        if more {
            // The surplus row sits at the far end of the direction of travel.
            if going_back {
                rows.remove(0);
            } else {
                rows.truncate(size);
            }
        }
        let (first, last) = (rows.first().map(&key), rows.last().map(&key));
        let (after, before) = match request.cursor {
            None => (if more { last } else { None }, None),
            Some(Cursor::After(_)) => (if more { last } else { None }, first),
            Some(Cursor::Before(_)) => (last, if more { first } else { None }),
        };
        Self {
            items: rows,
            after,
            before,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(micros: i64, id: &str) -> PageKey {
        PageKey {
            created_at: from_micros(micros).unwrap(),
            id: id.into(),
        }
    }

    #[test]
    fn a_cursor_reads_back_as_the_position_it_was_made_from() {
        let k = key(1_700_000_000_123_456, "user|with|bars");
        assert_eq!(PageKey::decode(&k.encode()).unwrap(), k);
    }

    #[test]
    fn cursors_coupler_did_not_make_are_refused() {
        for bad in ["", "!!!", "bm90LWEtY3Vyc29y", &URL_SAFE_NO_PAD.encode("abc|x")] {
            assert_eq!(PageKey::decode(bad), Err(CursorError::Malformed), "{bad}");
        }
    }

    #[test]
    fn page_parameters_are_checked() {
        assert_eq!(PageRequest::parse(None, None, None).unwrap(), PageRequest::first(50));
        assert!(matches!(
            PageRequest::parse(Some(0), None, None),
            Err(CursorError::SizeOutOfRange { .. })
        ));
        assert!(matches!(
            PageRequest::parse(Some(201), None, None),
            Err(CursorError::SizeOutOfRange { .. })
        ));
        let c = key(1, "a").encode();
        assert_eq!(
            PageRequest::parse(None, Some(&c), Some(&c)),
            Err(CursorError::BothDirections)
        );
    }

    #[test]
    fn the_surplus_row_becomes_a_cursor_and_is_not_returned() {
        let forward = PageRequest::first(2);
        let page = Page::from_rows(&forward, vec![3, 2, 1], |n| key(*n, "x"));
        assert_eq!(page.items, vec![3, 2]);
        assert_eq!(page.after, Some(key(2, "x")));
        assert_eq!(page.before, None);

        let back = PageRequest {
            size: 2,
            cursor: Some(Cursor::Before(key(1, "x"))),
        };
        let page = Page::from_rows(&back, vec![4, 3, 2], |n| key(*n, "x"));
        assert_eq!(page.items, vec![3, 2]);
        assert_eq!(page.before, Some(key(3, "x")));
        assert_eq!(page.after, Some(key(2, "x")));
    }
}
