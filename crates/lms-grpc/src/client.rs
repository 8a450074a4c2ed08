//! A client for any unary method of the API, driven by the descriptors the
//! server is built from: requests and responses are proto3 JSON, as grpcurl
//! prints them. `lmsctl api` uses it, so the command line needs no tonic
//! types of its own and covers every resource without a match arm each.

use std::str::FromStr;
use std::time::Duration;

use bytes::{Buf, BufMut};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::pb::FILE_DESCRIPTOR_SET;

/// Why a call did not return a response.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    Endpoint { endpoint: String, reason: String },
    #[error("could not connect to {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error("the API has no method {0}")]
    UnknownMethod(String),
    #[error("{method} is a streaming method; this client calls unary methods only")]
    Streaming { method: String },
    #[error("the request does not fit {message}: {reason}")]
    Request { message: String, reason: String },
    #[error("the response did not decode: {0}")]
    Response(String),
    /// The server answered with an error status.
    #[error("{code:?}: {message}")]
    Status { code: tonic::Code, message: String },
}

impl ClientError {
    /// Whether the caller's input is at fault: the server refused an
    /// argument (INVALID_ARGUMENT), or the endpoint is no address.
    pub fn is_callers_input(&self) -> bool {
        matches!(
            self,
            ClientError::Status {
                code: tonic::Code::InvalidArgument,
                ..
            } | ClientError::Endpoint { .. }
        )
    }
}

/// A connection to the API with an optional bearer token.
#[derive(Debug, Clone)]
pub struct ApiClient {
    channel: Channel,
    /// `Bearer <token>`, marked sensitive: `Debug` shows `Sensitive`, and
    /// HTTP/2 never puts it in its header compression table.
    authorization: Option<AsciiMetadataValue>,
    pool: DescriptorPool,
}

/// The `authorization` value for a bearer token, marked sensitive.
fn bearer(token: &str) -> Result<AsciiMetadataValue, ClientError> {
    let mut value: AsciiMetadataValue =
        format!("Bearer {token}")
            .parse()
            .map_err(|_| ClientError::Request {
                message: "authorization".to_owned(),
                reason: "the token is not a valid header value".to_owned(),
            })?;
    value.set_sensitive(true);
    Ok(value)
}

impl ApiClient {
    /// Connects to `endpoint` (`http://host:port`, or `https://` for TLS
    /// verified against the system's roots).
    pub async fn connect(endpoint: &str, token: Option<String>) -> Result<ApiClient, ClientError> {
        let authorization = token.as_deref().map(bearer).transpose()?;
        let invalid = |reason: String| ClientError::Endpoint {
            endpoint: endpoint.to_owned(),
            reason,
        };
        let mut target = Endpoint::from_str(endpoint)
            .map_err(|error| invalid(error.to_string()))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60));
        if endpoint.starts_with("https://") {
            target = target
                .tls_config(ClientTlsConfig::new().with_enabled_roots())
                .map_err(|error| invalid(error.to_string()))?;
        }
        let channel = target
            .connect()
            .await
            .map_err(|error| ClientError::Connect {
                endpoint: endpoint.to_owned(),
                reason: source_chain(&error),
            })?;
        let pool = DescriptorPool::decode(FILE_DESCRIPTOR_SET)
            .map_err(|error| ClientError::Response(error.to_string()))?;
        Ok(ApiClient {
            channel,
            authorization,
            pool,
        })
    }

    /// The method `package.Service/Method`, if the API has it.
    pub fn method(&self, full_name: &str) -> Result<MethodDescriptor, ClientError> {
        let (service, method) = full_name
            .split_once('/')
            .ok_or_else(|| ClientError::UnknownMethod(full_name.to_owned()))?;
        self.pool
            .get_service_by_name(service)
            .and_then(|service| service.methods().find(|found| found.name() == method))
            .ok_or_else(|| ClientError::UnknownMethod(full_name.to_owned()))
    }

    /// Calls a unary method with a proto3 JSON request; the JSON response.
    pub async fn call(
        &self,
        full_name: &str,
        request: &serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        let method = self.method(full_name)?;
        if method.is_server_streaming() || method.is_client_streaming() {
            return Err(ClientError::Streaming {
                method: full_name.to_owned(),
            });
        }
        let input = DynamicMessage::deserialize(method.input(), request).map_err(|error| {
            ClientError::Request {
                message: method.input().full_name().to_owned(),
                reason: error.to_string(),
            }
        })?;
        let path = http::uri::PathAndQuery::from_str(&format!(
            "/{}/{}",
            method.parent_service().full_name(),
            method.name()
        ))
        .map_err(|error| ClientError::UnknownMethod(error.to_string()))?;
        let mut call = tonic::Request::new(input.encode_to_vec());
        if let Some(value) = &self.authorization {
            call.metadata_mut().insert("authorization", value.clone());
        }
        // The server bounds its responses (grpc.max_message_bytes, which an
        // operator may raise past tonic's 4 MiB default for large items);
        // the client reads whatever it was sent.
        let mut grpc =
            tonic::client::Grpc::new(self.channel.clone()).max_decoding_message_size(usize::MAX);
        grpc.ready().await.map_err(|error| ClientError::Connect {
            endpoint: String::new(),
            reason: error.to_string(),
        })?;
        let response = grpc
            .unary(call, path, RawCodec)
            .await
            .map_err(|status| ClientError::Status {
                code: status.code(),
                message: status.message().to_owned(),
            })?
            .into_inner();
        let output = DynamicMessage::decode(method.output(), response.as_slice())
            .map_err(|error| ClientError::Response(error.to_string()))?;
        serde_json::to_value(&output).map_err(|error| ClientError::Response(error.to_string()))
    }
}

fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Passes message bytes through untouched: the descriptors do the encoding.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Self::Error> {
        let mut bytes = vec![0; src.remaining()];
        src.copy_to_slice(&mut bytes);
        Ok(Some(bytes))
    }
}

/// A collection of the domain API, and the methods that read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collection {
    /// The first segment of its resource names, e.g. `students`.
    pub name: &'static str,
    pub service: &'static str,
    /// The resource's type name, e.g. `Student`.
    pub singular: &'static str,
    /// As it appears in `List<plural>`.
    pub plural: &'static str,
    /// Whether rows of it come from legacy and can be looked up by legacy id.
    pub lookup: bool,
    /// Whether it is listed under a parent resource (`courses/{id}`).
    pub nested: bool,
}

const fn collection(
    name: &'static str,
    service: &'static str,
    singular: &'static str,
    plural: &'static str,
    lookup: bool,
) -> Collection {
    Collection {
        name,
        service,
        singular,
        plural,
        lookup,
        nested: false,
    }
}

/// Every collection of `lms.v1`.
pub const COLLECTIONS: [Collection; 11] = [
    collection(
        "organizations",
        "lms.v1.OrganizationService",
        "Organization",
        "Organizations",
        true,
    ),
    collection("persons", "lms.v1.PersonService", "Person", "Persons", true),
    collection("users", "lms.v1.UserService", "User", "Users", true),
    collection(
        "students",
        "lms.v1.StudentService",
        "Student",
        "Students",
        true,
    ),
    collection(
        "staffMembers",
        "lms.v1.StaffService",
        "StaffMember",
        "StaffMembers",
        true,
    ),
    collection(
        "courses",
        "lms.v1.CourseService",
        "Course",
        "Courses",
        false,
    ),
    Collection {
        nested: true,
        ..collection(
            "materials",
            "lms.v1.CourseService",
            "CourseMaterial",
            "CourseMaterials",
            false,
        )
    },
    collection(
        "enrollments",
        "lms.v1.EnrollmentService",
        "Enrollment",
        "Enrollments",
        true,
    ),
    collection(
        "grades",
        "lms.v1.EnrollmentService",
        "Grade",
        "Grades",
        true,
    ),
    collection(
        "assessments",
        "lms.v1.AssessmentService",
        "Assessment",
        "Assessments",
        true,
    ),
    collection(
        "submissions",
        "lms.v1.AssessmentService",
        "Submission",
        "Submissions",
        true,
    ),
];

impl Collection {
    /// The collection by name (`students`) or by a resource name in it
    /// (`students/12`, `courses/3/materials/2`).
    pub fn find(text: &str) -> Option<Collection> {
        let segments: Vec<&str> = text.split('/').collect();
        let name = match segments.as_slice() {
            ["courses", _, "materials", ..] => "materials",
            [first, ..] => first,
            [] => return None,
        };
        COLLECTIONS
            .iter()
            .copied()
            .find(|collection| collection.name == name)
    }

    pub fn get_method(&self) -> String {
        format!("{}/Get{}", self.service, self.singular)
    }

    pub fn list_method(&self) -> String {
        format!("{}/List{}", self.service, self.plural)
    }

    pub fn lookup_method(&self) -> String {
        format!("{}/Lookup{}", self.service, self.singular)
    }

    /// The repeated field of its List response, e.g. `students`.
    pub fn list_field(&self) -> String {
        let mut field = String::new();
        for (index, character) in self.plural.chars().enumerate() {
            if character.is_uppercase() && index > 0 {
                field.push('_');
            }
            field.extend(character.to_lowercase());
        }
        field
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_value_never_shows_the_token() {
        let value = bearer("s3cret-token").unwrap();
        assert!(value.is_sensitive());
        assert!(!format!("{value:?}").contains("s3cret"));
    }

    #[test]
    fn every_collection_names_methods_the_api_has() {
        let pool = DescriptorPool::decode(FILE_DESCRIPTOR_SET).unwrap();
        let has = |full: &str| {
            let (service, method) = full.split_once('/').unwrap();
            pool.get_service_by_name(service)
                .is_some_and(|service| service.methods().any(|found| found.name() == method))
        };
        for collection in COLLECTIONS {
            assert!(has(&collection.get_method()), "{collection:?}");
            assert!(has(&collection.list_method()), "{collection:?}");
            assert_eq!(
                has(&collection.lookup_method()),
                collection.lookup,
                "{collection:?}"
            );
        }
        assert_eq!(
            Collection::find("courses/3/materials/2").map(|c| c.name),
            Some("materials")
        );
        assert_eq!(
            Collection::find("staffMembers/4").map(|c| c.list_field()),
            Some("staff_members".to_owned())
        );
        assert_eq!(Collection::find("nope/1"), None);
    }
}
