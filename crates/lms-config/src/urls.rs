use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

/// A `postgres://` (or `postgresql://`) connection URL that names a database.
///
/// Its `Display` hides the password so that URLs can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(Url);

/// A `redis://` (or `rediss://`) connection URL.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(Url);

impl PostgresUrl {
    /// Parses and checks the scheme and the database name.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw).map_err(unparseable)?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!(
                "expected a postgres:// URL, found scheme {:?}",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("the URL names no host".to_owned());
        }
        let parsed = PostgresUrl(url);
        if parsed.database_name().is_empty() {
            return Err("the URL names no database (add /NAME after the host)".to_owned());
        }
        Ok(parsed)
    }

    /// The full URL, password included: for connecting, never for logging.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    /// The database the URL names.
    pub fn database_name(&self) -> String {
        self.0.path().trim_start_matches('/').to_owned()
    }

    /// The same server and credentials with another database.
    pub fn with_database(&self, database: &str) -> PostgresUrl {
        let mut url = self.0.clone();
        url.set_path(&format!("/{database}"));
        PostgresUrl(url)
    }

    /// The same database and credentials on another server.
    pub fn with_server(&self, host: &str, port: u16) -> Result<PostgresUrl, String> {
        let mut url = self.0.clone();
        url.set_host(Some(host)).map_err(unparseable)?;
        url.set_port(Some(port))
            .map_err(|()| "the URL cannot take a port".to_owned())?;
        Ok(PostgresUrl(url))
    }

    /// `host:port`, for messages and metrics labels.
    pub fn host_port(&self) -> String {
        format!(
            "{}:{}",
            self.0.host_str().unwrap_or_default(),
            self.0.port().unwrap_or(5432)
        )
    }
}

impl RedisUrl {
    /// Parses and checks the scheme.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw).map_err(unparseable)?;
        if !matches!(url.scheme(), "redis" | "rediss") {
            return Err(format!(
                "expected a redis:// URL, found scheme {:?}",
                url.scheme()
            ));
        }
        Ok(RedisUrl(url))
    }

    /// The full URL, password included: for connecting, never for logging.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }
}

/// A URL that does not parse may still hold a password (one with an
/// unencoded `#`, `/` or `?` is the usual reason it fails), so the message
/// never repeats it.
fn unparseable(error: url::ParseError) -> String {
    format!(
        "not a URL ({error}); the value is not shown, since it may hold a password \
         (percent-encode '#', '/', '?' and '@' in passwords)"
    )
}

/// Query parameters that carry a secret (libpq and sqlx read `password`).
const SECRET_PARAMETERS: [&str; 2] = ["password", "sslpassword"];

fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        // Setting a password only fails for URLs that cannot have one, which
        // these (host-based) URLs always can.
        let _ = shown.set_password(Some("***"));
    }
    if url
        .query_pairs()
        .any(|(key, _)| SECRET_PARAMETERS.contains(&key.as_ref()))
    {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if SECRET_PARAMETERS.contains(&key.as_ref()) {
                    "***".to_owned()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

macro_rules! url_newtype_impls {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&redacted(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), redacted(&self.0))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.0.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                $name::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                $name::parse(raw)
            }
        }
    };
}

url_newtype_impls!(PostgresUrl);
url_newtype_impls!(RedisUrl);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_url_requires_scheme_host_and_database() {
        assert!(PostgresUrl::parse("postgres://u@localhost:5432/lms").is_ok());
        assert!(PostgresUrl::parse("mysql://u@localhost/lms").is_err());
        assert!(PostgresUrl::parse("postgres://u@localhost:5432/").is_err());
        assert!(PostgresUrl::parse("not a url").is_err());
    }

    #[test]
    fn display_hides_the_password() {
        let url = PostgresUrl::parse("postgres://app:s3cret@db:5432/lms").unwrap();
        assert!(!url.to_string().contains("s3cret"));
        assert!(url.expose().contains("s3cret"));
        assert_eq!(url.with_database("postgres").database_name(), "postgres");
        let in_query =
            PostgresUrl::parse("postgres://app@db/lms?sslmode=require&password=s3cret").unwrap();
        assert!(!in_query.to_string().contains("s3cret"), "{in_query}");
        assert!(
            in_query.to_string().contains("sslmode=require"),
            "{in_query}"
        );
        assert!(in_query.expose().contains("s3cret"));
    }

    #[test]
    fn a_url_that_does_not_parse_is_not_repeated() {
        let error = PostgresUrl::parse("postgres://app:pa#ss@db:5432/lms").unwrap_err();
        assert!(!error.contains("pa#ss"), "{error}");
        let error = RedisUrl::parse("redis://:se/cret@cache:6379").unwrap_err();
        assert!(!error.contains("se/cret"), "{error}");
    }
}
