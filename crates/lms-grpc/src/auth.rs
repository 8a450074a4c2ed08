//! Bearer tokens and scopes, as a tower layer in front of every service.
//!
//! Tokens are configured as SHA-256 digests; a presented token is hashed and
//! compared with every configured digest in constant time, so neither the
//! config nor the timing gives a token away. Health and reflection are open;
//! every other method needs a token with its scope.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lms_config::AuthSettings;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::Status;

use crate::error::ApiError;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Reads of the LMS domain (Get, List, Lookup).
    LmsRead,
    /// Writes of the LMS domain (Create, Update, Delete).
    LmsWrite,
    /// The migration service.
    MigrationAdmin,
}

impl Scope {
    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "lms.read" => Some(Scope::LmsRead),
            "lms.write" => Some(Scope::LmsWrite),
            "migration.admin" => Some(Scope::MigrationAdmin),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::LmsRead => "lms.read",
            Scope::LmsWrite => "lms.write",
            Scope::MigrationAdmin => "migration.admin",
        }
    }
}

/// What a method needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Open,
    Needs(Scope),
    /// An unknown method: any valid token (tonic then answers UNIMPLEMENTED).
    AnyToken,
}

/// The access a gRPC path (`/package.Service/Method`) needs.
pub fn access(path: &str) -> Access {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (service, method) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if service.starts_with("grpc.health.v1.") || service.starts_with("grpc.reflection.") {
        return Access::Open;
    }
    if service.starts_with("lms.migration.v1.") {
        return Access::Needs(Scope::MigrationAdmin);
    }
    if service.starts_with("lms.v1.") {
        if ["Get", "List", "Lookup"]
            .iter()
            .any(|prefix| method.starts_with(prefix))
        {
            return Access::Needs(Scope::LmsRead);
        }
        if ["Create", "Update", "Delete"]
            .iter()
            .any(|prefix| method.starts_with(prefix))
        {
            return Access::Needs(Scope::LmsWrite);
        }
    }
    Access::AnyToken
}

#[derive(Debug)]
struct Token {
    name: String,
    digest: [u8; 32],
    scopes: Vec<Scope>,
}

/// The caller, for handlers and logs.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_name: String,
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

impl Authenticator {
    /// The configured tokens (the config's validation has checked them).
    pub fn from_settings(settings: &AuthSettings) -> Authenticator {
        let tokens = settings
            .tokens
            .iter()
            .filter_map(|token| {
                Some(Token {
                    name: token.name.clone(),
                    digest: decode_hex(&token.sha256.to_ascii_lowercase())?,
                    scopes: token
                        .scopes
                        .iter()
                        .filter_map(|scope| Scope::parse(scope))
                        .collect(),
                })
            })
            .collect();
        Authenticator {
            tokens: Arc::new(tokens),
        }
    }

    /// Decides whether a request to `path` with this `authorization` header
    /// may proceed.
    pub fn check(
        &self,
        path: &str,
        authorization: Option<&str>,
    ) -> Result<Option<Caller>, ApiError> {
        let needed = access(path);
        if needed == Access::Open {
            return Ok(None);
        }
        let presented = authorization
            .and_then(|value| value.strip_prefix("Bearer "))
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
        if let Access::Needs(scope) = needed
            && !token.scopes.contains(&scope)
        {
            return Err(ApiError::PermissionDenied(format!(
                "token {:?} lacks the {} scope this method needs",
                token.name,
                scope.as_str()
            )));
        }
        Ok(Some(Caller {
            token_name: token.name.clone(),
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
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
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

    fn auth() -> Authenticator {
        Authenticator::from_settings(&AuthSettings {
            tokens: vec![TokenSettings {
                name: "reader".into(),
                sha256: hash_token("s3cret"),
                scopes: vec!["lms.read".into()],
            }],
        })
    }

    #[test]
    fn scopes_follow_the_method() {
        assert_eq!(access("/grpc.health.v1.Health/Check"), Access::Open);
        assert_eq!(
            access("/lms.v1.StudentService/GetStudent"),
            Access::Needs(Scope::LmsRead)
        );
        assert_eq!(
            access("/lms.v1.StudentService/DeleteStudent"),
            Access::Needs(Scope::LmsWrite)
        );
        assert_eq!(
            access("/lms.migration.v1.MigrationService/GetRun"),
            Access::Needs(Scope::MigrationAdmin)
        );
        // Verification reads all of legacy and the LMS: an admin's method.
        assert_eq!(
            access("/lms.migration.v1.MigrationService/VerifyRun"),
            Access::Needs(Scope::MigrationAdmin)
        );
        assert_eq!(access("/other.Thing/Do"), Access::AnyToken);
    }

    #[test]
    fn tokens_are_checked() {
        let auth = auth();
        assert!(
            auth.check("/lms.v1.StudentService/GetStudent", Some("Bearer s3cret"))
                .is_ok()
        );
        assert!(matches!(
            auth.check("/lms.v1.StudentService/GetStudent", None),
            Err(ApiError::Unauthenticated(_))
        ));
        assert!(matches!(
            auth.check("/lms.v1.StudentService/GetStudent", Some("Bearer wrong")),
            Err(ApiError::Unauthenticated(_))
        ));
        assert!(matches!(
            auth.check(
                "/lms.v1.StudentService/CreateStudent",
                Some("Bearer s3cret")
            ),
            Err(ApiError::PermissionDenied(_))
        ));
        assert!(auth.check("/grpc.health.v1.Health/Check", None).is_ok());
    }
}
