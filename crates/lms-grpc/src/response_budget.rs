//! List responses within the server's message-size limit
//! (`grpc.max_message_bytes`): the one rule every List method follows.
//!
//! Items are added while the response stays within the limit; the first
//! one that would pass it starts the next page instead (AIP-158 allows a
//! page shorter than `page_size`). An item that alone is larger than a
//! response may be is an error naming both sizes, never an oversized
//! message (which tonic would refuse with a bare OUT_OF_RANGE after the
//! server had built it whole).

use crate::error::ApiError;

/// Bytes kept aside for what a List response carries besides its items:
/// `next_page_token` (at most 64 characters, `request::decode_token`) with
/// its key and length, rounded up.
pub const RESERVED_BYTES: usize = 128;

/// The key of a repeated message field, in bytes: one for field numbers up
/// to 15 (every List response's items are field 1), two up to 2047.
const FIELD_KEY_BYTES: usize = 2;

/// How many bytes of items one List response may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseBudget {
    max_message_bytes: usize,
}

impl ResponseBudget {
    /// The budget of a server whose largest message is `max_message_bytes`.
    pub fn new(max_message_bytes: usize) -> ResponseBudget {
        ResponseBudget { max_message_bytes }
    }

    /// The server's largest message: what a read may stop loading rows at
    /// (`PageRequest::with_max_bytes`).
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    /// How many of `items`, from the first, one response can carry: each
    /// item costs its encoded length (prost's `encoded_len`) plus its field
    /// key and length prefix. Fails when `items` is not empty and not even
    /// the first fits.
    pub fn fitting<P: prost::Message>(&self, items: &[P]) -> Result<usize, ApiError> {
        let mut room = self.max_message_bytes.saturating_sub(RESERVED_BYTES);
        for (index, item) in items.iter().enumerate() {
            let length = item.encoded_len();
            let cost = FIELD_KEY_BYTES + prost::length_delimiter_len(length) + length;
            if cost > room {
                if index == 0 {
                    return Err(ApiError::ResponseItemTooLarge {
                        item_bytes: cost,
                        max_message_bytes: self.max_message_bytes,
                    });
                }
                return Ok(index);
            }
            room -= cost;
        }
        Ok(items.len())
    }

    /// `message` itself, when it is a whole response (a Get) that fits in
    /// one message; else the same error as a list item too large.
    pub fn whole<P: prost::Message>(&self, message: P) -> Result<P, ApiError> {
        let length = message.encoded_len();
        if length > self.max_message_bytes {
            return Err(ApiError::ResponseItemTooLarge {
                item_bytes: length,
                max_message_bytes: self.max_message_bytes,
            });
        }
        Ok(message)
    }

    /// Keeps the `items` one response can carry ([`ResponseBudget::fitting`]);
    /// when some are cut, returns the cursor of the last one kept, where the
    /// next page starts (`cursors` holds each item's, in order). Lists of
    /// domain pages use `Page::cut` instead, which knows its own cursors.
    pub fn keep_fitting<P: prost::Message, C: Copy>(
        &self,
        items: &mut Vec<P>,
        cursors: &[C],
    ) -> Result<Option<C>, ApiError> {
        let keep = self.fitting(items)?;
        if keep >= items.len() {
            return Ok(None);
        }
        items.truncate(keep);
        Ok(keep
            .checked_sub(1)
            .and_then(|last| cursors.get(last).copied()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::lms::v1 as pb;

    fn material(body_bytes: usize) -> pb::CourseMaterial {
        pb::CourseMaterial {
            body: "x".repeat(body_bytes),
            ..Default::default()
        }
    }

    #[test]
    fn items_are_kept_while_they_fit() -> Result<(), ApiError> {
        let budget = ResponseBudget::new(RESERVED_BYTES + 3 * 1_000);
        let items: Vec<_> = (0..5).map(|_| material(900)).collect();
        assert_eq!(budget.fitting(&items)?, 3);
        assert_eq!(budget.fitting(&items[..2])?, 2);
        assert_eq!(budget.fitting::<pb::CourseMaterial>(&[])?, 0);
        Ok(())
    }

    #[test]
    fn a_cut_list_continues_after_its_last_kept_item() -> Result<(), ApiError> {
        let budget = ResponseBudget::new(RESERVED_BYTES + 2 * 1_000);
        let mut items: Vec<_> = (0..4).map(|_| material(900)).collect();
        assert_eq!(
            budget.keep_fitting(&mut items, &[10, 20, 30, 40])?,
            Some(20)
        );
        assert_eq!(items.len(), 2);
        assert_eq!(budget.keep_fitting(&mut items, &[10, 20])?, None);
        Ok(())
    }

    #[test]
    fn a_first_item_larger_than_a_response_is_an_error() {
        let budget = ResponseBudget::new(RESERVED_BYTES + 1_000);
        let refused = budget.fitting(&[material(2_000)]);
        assert!(matches!(
            refused,
            Err(ApiError::ResponseItemTooLarge { item_bytes, max_message_bytes: 1_128 })
                if item_bytes > 2_000
        ));
    }
}
