//! User account values: login, email, role and credentials.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::outcome::{Repaired, WarningCode};
use crate::text::{clean, clean_opt, lower, static_regex};

static EMAIL_SHAPE: LazyLock<Regex> = LazyLock::new(|| static_regex(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"));
/// A bcrypt hash: its version, a cost bcrypt accepts (4 to 31, two ASCII
/// digits) and 53 characters of salt and hash.
static BCRYPT: LazyLock<Regex> =
    LazyLock::new(|| static_regex(r"^\$2[abxy]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$"));
static MD5_HEX: LazyLock<Regex> = LazyLock::new(|| static_regex(r"^[0-9a-fA-F]{32}$"));

/// Longest login [`Login::parse`] accepts.
pub const LOGIN_MAX_CHARS: usize = 128;

/// Longest legacy login the migration keeps. At four bytes a character,
/// with a rename's suffix (`.<legacy id>`), it stays well within a B-tree
/// entry (about 2,700 bytes; `users_login_key`): a longer value could fail
/// the run.
pub const LEGACY_LOGIN_MAX_CHARS: usize = 256;

/// Longest email address the LMS keeps (RFC 5321's limit on a path, less
/// its brackets), well within what PostgreSQL can index
/// (`users_email_key`).
pub const EMAIL_MAX_CHARS: usize = 254;

/// Why a value given to the LMS API is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountValueError {
    #[error("login is empty")]
    EmptyLogin,
    #[error("login is longer than {LOGIN_MAX_CHARS} characters")]
    LoginTooLong,
    #[error("login may not contain white space or control characters")]
    LoginHasSpace,
    #[error("{0:?} is not an email address")]
    InvalidEmail(String),
}

/// A login: trimmed text, unique in the LMS regardless of case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Login(String);

impl Login {
    /// A legacy login, trimmed. Legacy logins are kept as they were, inner
    /// spaces included; `None` when blank, or longer than
    /// [`LEGACY_LOGIN_MAX_CHARS`] (docs/contract.md).
    pub fn from_legacy(raw: &str) -> Option<Login> {
        clean(raw)
            .filter(|login| login.chars().count() <= LEGACY_LOGIN_MAX_CHARS)
            .map(|login| Login(login.to_owned()))
    }

    /// A login given to the LMS API: trimmed, 1 to 128 characters, no inner
    /// white space or control characters.
    pub fn parse(raw: &str) -> Result<Login, AccountValueError> {
        let login = clean(raw).ok_or(AccountValueError::EmptyLogin)?;
        if login.chars().count() > LOGIN_MAX_CHARS {
            return Err(AccountValueError::LoginTooLong);
        }
        if login.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(AccountValueError::LoginHasSpace);
        }
        Ok(Login(login.to_owned()))
    }

    /// The case-insensitive identity: the contract's `lower(trim(login))`.
    pub fn key(&self) -> String {
        lower(&self.0)
    }

    /// The contract's rename for a login that lost a collision:
    /// `<login>.<legacy id>`.
    pub fn renamed(&self, legacy_id: i64) -> Login {
        Login(format!("{}.{legacy_id}", self.0))
    }

    /// The login of an account provisioned for a legacy row that had none,
    /// e.g. `student.42` or `staff.7`.
    pub fn provisioned(prefix: &str, legacy_id: i64) -> Login {
        Login(format!("{prefix}.{legacy_id}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A normalised email address: `lower(trim(email))` of the shape
/// `local@domain.tld`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    /// Normalises and checks an address: `local@domain.tld`, at most
    /// [`EMAIL_MAX_CHARS`] characters.
    pub fn parse(raw: &str) -> Result<Email, AccountValueError> {
        let normalised = lower(raw.trim());
        if normalised.chars().count() <= EMAIL_MAX_CHARS && EMAIL_SHAPE.is_match(&normalised) {
            Ok(Email(normalised))
        } else {
            Err(AccountValueError::InvalidEmail(raw.to_owned()))
        }
    }

    /// The contract's rule for a legacy email: blank or NULL is absent; a
    /// normalised value of the wrong shape is absent with `email_invalid`.
    /// (Duplicates need other rows and are resolved by the engine.)
    pub fn from_legacy(raw: Option<&str>) -> Repaired<Option<Email>> {
        match clean_opt(raw) {
            None => Repaired::clean(None),
            Some(text) => match Email::parse(text) {
                Ok(email) => Repaired::clean(Some(email)),
                Err(_) => Repaired::warned(None, WarningCode::EmailInvalid),
            },
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a user account is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Student,
    Teacher,
    Admin,
    Parent,
    Methodist,
    /// A legacy role outside the known set.
    Other,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Student,
        Role::Teacher,
        Role::Admin,
        Role::Parent,
        Role::Methodist,
        Role::Other,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Teacher => "teacher",
            Role::Admin => "admin",
            Role::Parent => "parent",
            Role::Methodist => "methodist",
            Role::Other => "other",
        }
    }

    /// Parses the LMS's own spelling.
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }

    /// `lower(trim(role))`; anything outside the known set is `other` with
    /// `unknown_role`.
    pub fn from_legacy(raw: &str) -> Repaired<Role> {
        let normalised = lower(raw.trim());
        match Role::parse(&normalised) {
            Some(Role::Other) | None => Repaired::warned(Role::Other, WarningCode::UnknownRole),
            Some(role) => Repaired::clean(role),
        }
    }
}

/// How a migrated account can sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A bcrypt hash carried over as it was.
    Bcrypt(String),
    /// No usable hash: the user must reset the password before signing in.
    ResetRequired,
}

impl Credential {
    /// The contract: bcrypt hashes are kept; unsalted md5 hashes are not
    /// accepted and the account needs a reset (`password_reset_required`).
    /// Any other non-blank hash is unverifiable and treated like md5. An
    /// absent hash also needs a reset, but the contract gives it no warning.
    pub fn from_legacy(raw: Option<&str>) -> Repaired<Credential> {
        match clean_opt(raw) {
            None => Repaired::clean(Credential::ResetRequired),
            Some(hash) if BCRYPT.is_match(hash) => {
                Repaired::clean(Credential::Bcrypt(hash.to_owned()))
            }
            Some(_) => Repaired::warned(
                Credential::ResetRequired,
                WarningCode::PasswordResetRequired,
            ),
        }
    }

    /// Whether the hash looks like the legacy unsalted md5.
    pub fn is_legacy_md5(raw: &str) -> bool {
        MD5_HEX.is_match(raw.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BCRYPT_HASH: &str = "$2y$10$abcdefghijklmnopqrstuv0123456789ABCDEFGHIJKLMNOPQRSTU";

    #[test]
    fn login_key_is_lower_trim_and_rename_keeps_case() {
        let login = Login::from_legacy("  Әлия.K \t").unwrap();
        assert_eq!(login.as_str(), "Әлия.K");
        assert_eq!(login.key(), "әлия.k");
        assert_eq!(login.renamed(42).as_str(), "Әлия.K.42");
        assert_eq!(Login::from_legacy(" \n"), None);
    }

    #[test]
    fn a_legacy_login_too_long_to_index_is_not_kept() {
        let longest = "ә".repeat(LEGACY_LOGIN_MAX_CHARS);
        assert_eq!(
            Login::from_legacy(&format!(" {longest} ")).map(|login| login.0),
            Some(longest.clone())
        );
        assert_eq!(Login::from_legacy(&format!("{longest}x")), None);
    }

    #[test]
    fn api_logins_are_strict() {
        assert_eq!(Login::parse(" "), Err(AccountValueError::EmptyLogin));
        assert_eq!(Login::parse("a b"), Err(AccountValueError::LoginHasSpace));
        assert!(Login::parse(&"x".repeat(129)).is_err());
        assert!(Login::parse("ivan.petrov").is_ok());
    }

    #[test]
    fn email_is_normalised_and_checked() {
        assert_eq!(
            Email::from_legacy(Some("  Ivan.Petrov@Mail.KZ "))
                .value
                .map(|e| e.0),
            Some("ivan.petrov@mail.kz".to_owned())
        );
        assert_eq!(Email::from_legacy(Some("   ")), Repaired::clean(None));
        assert_eq!(Email::from_legacy(None), Repaired::clean(None));
        for bad in ["ivan", "ivan@mail", "iv an@mail.kz", "a@@b.kz", "@mail.kz"] {
            assert_eq!(
                Email::from_legacy(Some(bad)),
                Repaired::warned(None, WarningCode::EmailInvalid),
                "{bad}"
            );
        }
        assert!(Email::parse("ӘЛИЯ@MAIL.KZ").is_ok_and(|e| e.as_str() == "әлия@mail.kz"));
    }

    #[test]
    fn an_email_longer_than_rfc_5321_allows_is_invalid() {
        let domain = "@mail.kz";
        let local = |chars: usize| "ә".repeat(chars - domain.chars().count());
        let longest = format!("{}{domain}", local(EMAIL_MAX_CHARS));
        assert!(Email::parse(&longest).is_ok());
        assert_eq!(
            Email::from_legacy(Some(&format!("x{longest}"))),
            Repaired::warned(None, WarningCode::EmailInvalid)
        );
    }

    #[test]
    fn roles_map_or_warn() {
        assert_eq!(
            Role::from_legacy(" Teacher "),
            Repaired::clean(Role::Teacher)
        );
        assert_eq!(
            Role::from_legacy("METHODIST"),
            Repaired::clean(Role::Methodist)
        );
        assert_eq!(
            Role::from_legacy("director"),
            Repaired::warned(Role::Other, WarningCode::UnknownRole)
        );
        assert_eq!(
            Role::from_legacy("other"),
            Repaired::warned(Role::Other, WarningCode::UnknownRole)
        );
        assert_eq!(
            Role::from_legacy(""),
            Repaired::warned(Role::Other, WarningCode::UnknownRole)
        );
    }

    #[test]
    fn credentials_keep_bcrypt_and_reset_md5() {
        assert_eq!(
            Credential::from_legacy(Some(BCRYPT_HASH)),
            Repaired::clean(Credential::Bcrypt(BCRYPT_HASH.to_owned()))
        );
        assert_eq!(
            Credential::from_legacy(Some("5f4dcc3b5aa765d61d8327deb882cf99")),
            Repaired::warned(
                Credential::ResetRequired,
                WarningCode::PasswordResetRequired
            )
        );
        assert_eq!(
            Credential::from_legacy(None),
            Repaired::clean(Credential::ResetRequired)
        );
        assert!(Credential::is_legacy_md5(
            "5F4DCC3B5AA765D61D8327DEB882CF99"
        ));
    }

    #[test]
    fn a_bcrypt_shape_with_a_cost_bcrypt_refuses_is_reset() {
        let salt_and_hash = &BCRYPT_HASH[7..];
        for cost in ["04", "31"] {
            let hash = format!("$2b${cost}${salt_and_hash}");
            assert_eq!(
                Credential::from_legacy(Some(&hash)),
                Repaired::clean(Credential::Bcrypt(hash.clone()))
            );
        }
        // Arabic-Indic digits are digits to `\d`, and to no bcrypt.
        for cost in ["03", "32", "99", "\u{661}\u{660}"] {
            let hash = format!("$2b${cost}${salt_and_hash}");
            assert_eq!(
                Credential::from_legacy(Some(&hash)),
                Repaired::warned(
                    Credential::ResetRequired,
                    WarningCode::PasswordResetRequired
                ),
                "{hash}"
            );
        }
    }
}
