//! The protobuf codec, with one change: a request that does not decode
//! (fields of the wrong wire type, truncated bytes) is INVALID_ARGUMENT, the
//! client's fault, where tonic's own codec says INTERNAL.

use std::collections::HashMap;
use std::marker::PhantomData;

use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::ProstCodec;

use crate::error::ERROR_DOMAIN;
use tonic_types::{ErrorDetails, StatusExt};

/// `ProstCodec` whose decode errors are the caller's.
#[derive(Debug)]
pub struct RequestCodec<T, U> {
    inner: ProstCodec<T, U>,
    _types: PhantomData<(T, U)>,
}

impl<T, U> Default for RequestCodec<T, U> {
    fn default() -> Self {
        RequestCodec {
            inner: ProstCodec::default(),
            _types: PhantomData,
        }
    }
}

impl<T, U> Codec for RequestCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = <ProstCodec<T, U> as Codec>::Encoder;
    type Decoder = RequestDecoder<<ProstCodec<T, U> as Codec>::Decoder>;

    fn encoder(&mut self) -> Self::Encoder {
        self.inner.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder(self.inner.decoder())
    }
}

/// See [`RequestCodec`].
#[derive(Debug)]
pub struct RequestDecoder<D>(D);

impl<D: Decoder<Error = Status>> Decoder for RequestDecoder<D> {
    type Item = D::Item;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        self.0.decode(buf).map_err(|status| {
            if status.code() == tonic::Code::Internal {
                not_a_valid_request(status.message())
            } else {
                status
            }
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}

/// INVALID_ARGUMENT for a request that does not decode, with a field
/// violation naming the field where prost says which (an invalid UTF-8
/// string, a wrong wire type).
fn not_a_valid_request(decode_error: &str) -> Status {
    let message = format!("the request is not a valid message of this method: {decode_error}");
    let mut details =
        ErrorDetails::with_error_info("MALFORMED_REQUEST", ERROR_DOMAIN, HashMap::new());
    if let Some((field, description)) = field_path(decode_error) {
        details.add_bad_request_violation(field, description);
    }
    Status::with_error_details(tonic::Code::InvalidArgument, message, details)
}

/// The field a prost decode error names, as a request field path
/// (`student.record_book_number`), and what was wrong with it. prost writes
/// the innermost field first:
/// `failed to decode Protobuf message: Inner.field: Outer.field: what`.
fn field_path(decode_error: &str) -> Option<(String, String)> {
    let rest = decode_error
        .split_once("failed to decode Protobuf message: ")
        .map_or(decode_error, |(_, rest)| rest);
    let mut fields = Vec::new();
    let mut parts = rest.split(": ").peekable();
    while let Some(part) = parts.next_if(|part| is_message_field(part)) {
        fields.extend(part.rsplit_once('.').map(|(_, field)| field));
    }
    fields.reverse();
    let description: Vec<&str> = parts.collect();
    (!fields.is_empty()).then(|| (fields.join("."), description.join(": ")))
}

/// `Message.field`: a type name, a dot and a field name, no spaces.
fn is_message_field(part: &str) -> bool {
    part.rsplit_once('.').is_some_and(|(message, field)| {
        !message.is_empty()
            && !field.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decode_error_names_the_nested_field() {
        let parsed = field_path(
            "failed to decode Protobuf message: Student.record_book_number: \
             CreateStudentRequest.student: invalid string value: data is not UTF-8 encoded",
        );
        assert_eq!(
            parsed,
            Some((
                "student.record_book_number".to_owned(),
                "invalid string value: data is not UTF-8 encoded".to_owned()
            ))
        );
    }

    #[test]
    fn a_decode_error_without_a_field_names_none() {
        assert_eq!(
            field_path("failed to decode Protobuf message: buffer underflow"),
            None
        );
    }
}
