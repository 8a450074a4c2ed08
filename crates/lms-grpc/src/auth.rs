//! Bearer tokens and scopes, as a tower layer in front of every service.
//!
//! Tokens are configured as SHA-256 digests; a presented token is hashed and
//! compared with every configured digest in constant time, so neither the
//! config nor the timing gives a token away. What each method needs comes
//! from the table in [`crate::access`]: health and reflection are open,
//! every other listed method needs a token with its scope, and a method not
//! in the table is refused to everyone.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lms_config::AuthSettings;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::Status;

use crate::access::{Access, Scope, listed};
use crate::error::ApiError;

#[derive(Debug)]
struct Token {
    name: String,
    digest: [u8; 32],
    scopes: Vec<Scope>,
}

/// The caller, for handlers, logs and the audit trail.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_name: String,
    /// The gRPC path called, as the access table spells it.
    pub method: &'static str,
}

/// Checks tokens against the configured digests.
#[derive(Debug, Clone)]
pub struct Authenticator {
    tokens: Arc<Vec<Token>>,
}

/// The hex SHA-256 of a token, as the config stores it.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn decode_hex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (index, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A token entry the server cannot use (the config's validation refuses
/// these first; this guards a `Settings` built in code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("auth.tokens[{index}] ({name:?}): {problem}")]
pub struct BadToken {
    pub index: usize,
    pub name: String,
    pub problem: String,
}

impl Authenticator {
    /// The configured tokens; an entry with a malformed digest or an
    /// unknown scope is an error naming it, never silently dropped.
    pub fn from_settings(settings: &AuthSettings) -> Result<Authenticator, BadToken> {
        let mut tokens = Vec::with_capacity(settings.tokens.len());
        for (index, token) in settings.tokens.iter().enumerate() {
            let bad = |problem: String| BadToken {
                index,
                name: token.name.clone(),
                problem,
            };
            let digest = decode_hex(&token.sha256.to_ascii_lowercase())
                .ok_or_else(|| bad("sha256 is not 64 hex digits".to_owned()))?;
            let scopes = token
                .scopes
                .iter()
                .map(|scope| {
                    Scope::parse(scope).ok_or_else(|| bad(format!("unknown scope {scope:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            tokens.push(Token {
                name: token.name.clone(),
                digest,
                scopes,
            });
        }
        Ok(Authenticator {
            tokens: Arc::new(tokens),
        })
    }

    /// Whether any token is configured (without one, every method but
    /// health and reflection is refused).
    pub fn has_tokens(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Decides whether a request to `path` with this `authorization` header
    /// may proceed.
    pub fn check(
        &self,
        path: &str,
        authorization: Option<&http::HeaderValue>,
    ) -> Result<Option<Caller>, ApiError> {
        let (method, scope) = match listed(path) {
            Some((_, Access::Open)) => return Ok(None),
            Some((method, Access::Needs(scope))) => (method, scope),
            Some((_, Access::Unlisted)) | None => {
                return Err(ApiError::Unimplemented(format!(
                    "the server has no method {path}"
                )));
            }
        };
        let authorization = authorization
            .map(|header| {
                header.to_str().map_err(|_| {
                    ApiError::Unauthenticated(
                        "the authorization header holds bytes other than visible ASCII; a \
                         bearer token is visible ASCII (RFC 6750)"
                            .to_owned(),
                    )
                })
            })
            .transpose()?;
        let presented = authorization
            // The scheme's name is case-insensitive (RFC 9110, 11.1).
            .and_then(|value| {
                value
                    .split_once(' ')
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    .map(|(_, token)| token)
            })
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                ApiError::Unauthenticated(
                    "this method needs a bearer token (authorization: Bearer <token>)".to_owned(),
                )
            })?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        // Compare against every token, whatever matches, so the time taken
        // says nothing about which (if any) token matched.
        let mut found: Option<&Token> = None;
        for token in self.tokens.iter() {
            if bool::from(token.digest[..].ct_eq(&digest[..])) && found.is_none() {
                found = Some(token);
            }
        }
        let token = found
            .ok_or_else(|| ApiError::Unauthenticated("the bearer token is not valid".to_owned()))?;
        if !token.scopes.contains(&scope) {
            return Err(ApiError::PermissionDenied(format!(
                "token {:?} lacks the {} scope this method needs",
                token.name,
                scope.as_str()
            )));
        }
        Ok(Some(Caller {
            token_name: token.name.clone(),
            method,
        }))
    }
}

/// The tower layer that runs [`Authenticator::check`] before every call.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    auth: Authenticator,
}

impl AuthLayer {
    pub fn new(auth: Authenticator) -> Self {
        AuthLayer { auth }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// See [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Authenticator,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let authorization = request.headers().get(http::header::AUTHORIZATION);
        match self.auth.check(request.uri().path(), authorization) {
            Ok(caller) => {
                if let Some(caller) = caller {
                    request.extensions_mut().insert(caller);
                }
                // The clone serves this call; the ready original stays for the next.
                let clone = self.inner.clone();
                let mut ready = std::mem::replace(&mut self.inner, clone);
                Box::pin(ready.call(request))
            }
            Err(error) => {
                let status = Status::from(error);
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lms_config::TokenSettings;

    fn reader(sha256: String, scope: &str) -> AuthSettings {
        AuthSettings {
            tokens: vec![TokenSettings {
                name: "reader".into(),
                sha256,
                scopes: vec![scope.into()],
            }],
        }
    }

    fn auth() -> Authenticator {
        Authenticator::from_settings(&reader(hash_token("s3cret"), "lms.read")).unwrap()
    }

    #[test]
    fn a_malformed_digest_is_an_error_naming_the_token() {
        let error = Authenticator::from_settings(&reader("abc".into(), "lms.read")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "auth.tokens[0] (\"reader\"): sha256 is not 64 hex digits"
        );
    }

    #[test]
    fn an_unknown_scope_is_an_error_naming_the_token() {
        let error =
            Authenticator::from_settings(&reader(hash_token("s3cret"), "lms.admin")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "auth.tokens[0] (\"reader\"): unknown scope \"lms.admin\""
        );
    }

    #[test]
    fn the_config_knows_every_scope_the_table_uses() {
        let names: Vec<&str> = Scope::ALL.iter().map(|scope| scope.as_str()).collect();
        assert_eq!(names, lms_config::KNOWN_SCOPES);
    }

    fn header(value: &'static str) -> http::HeaderValue {
        http::HeaderValue::from_static(value)
    }

    #[test]
    fn a_header_that_is_not_visible_ascii_is_named_as_the_reason() {
        let Ok(utf8) = http::HeaderValue::from_bytes("Bearer pässwörd-0123456789".as_bytes())
        else {
            panic!("HeaderValue refused UTF-8 bytes");
        };
        let Err(ApiError::Unauthenticated(message)) =
            auth().check("/lms.v1.StudentService/GetStudent", Some(&utf8))
        else {
            panic!("a UTF-8 authorization header was not refused as unauthenticated");
        };
        assert!(message.contains("visible ASCII"), "{message}");
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert!(
            auth()
                .check(
                    "/lms.v1.StudentService/GetStudent",
                    Some(&header("bearer s3cret"))
                )
                .is_ok()
        );
    }

    #[test]
    fn an_unlisted_method_is_refused_even_with_a_valid_token() {
        assert!(matches!(
            auth().check(
                "/lms.v1.StudentService/PromoteStudent",
                Some(&header("Bearer s3cret"))
            ),
            Err(ApiError::Unimplemented(_))
        ));
    }

    #[test]
    fn tokens_are_checked() {
        let auth = auth();
        assert!(
            auth.check(
                "/lms.v1.StudentService/GetStudent",
                Some(&header("Bearer s3cret"))
            )
            .is_ok()
        );
        assert!(matches!(
            auth.check("/lms.v1.StudentService/GetStudent", None),
            Err(ApiError::Unauthenticated(_))
        ));
        assert!(matches!(
            auth.check(
                "/lms.v1.StudentService/GetStudent",
                Some(&header("Bearer wrong"))
            ),
            Err(ApiError::Unauthenticated(_))
        ));
        assert!(matches!(
            auth.check(
                "/lms.v1.StudentService/CreateStudent",
                Some(&header("Bearer s3cret"))
            ),
            Err(ApiError::PermissionDenied(_))
        ));
        assert!(auth.check("/grpc.health.v1.Health/Check", None).is_ok());
    }
}
