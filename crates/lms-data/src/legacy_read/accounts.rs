//! The users table's whole-table rules, computed the way the engine's
//! resolve phase computes them (`lms-engine/src/resolve/users.rs`): unique
//! logins and unique emails.
//!
//! Which login a user ends with depends on every other user whose login
//! folds to the same key, and on renamed forms colliding with real logins
//! (`ivan.5`), so the rules need the whole table: one scan of `id, login,
//! email` per request (the legacy table has no index but its primary key,
//! and SQL's `lower` is not the contract's), then the rules in memory.

use std::collections::HashMap;

use lms_domain::DomainError;
use lms_domain::account::{Email, Login};

use super::LegacyReader;
use super::ids::Reserved;
use super::rows::DatabaseResult;

/// Rounds of renaming before the engine gives up; the same here, so that a
/// table the engine could not settle is served as far as it got.
const MAX_RENAME_ROUNDS: usize = 8;

/// A user's login and email once the uniqueness rules ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Account {
    pub login: String,
    pub email: Option<String>,
}

/// The settled logins and emails of every legacy user, by legacy id.
#[derive(Debug, Default)]
pub(super) struct Accounts(HashMap<i64, Account>);

impl Accounts {
    pub fn get(&self, legacy_id: i64) -> Option<&Account> {
        self.0.get(&legacy_id)
    }
}

impl LegacyReader {
    /// Reads the users table's logins and emails and settles them.
    pub(super) async fn accounts(&self, reserved: &Reserved) -> Result<Accounts, DomainError> {
        let rows: Vec<(i32, Option<String>, Option<String>)> =
            sqlx::query_as("SELECT id, login, email FROM users")
                .persistent(false)
                .fetch_all(self.pool())
                .await
                .legacy()?;
        Ok(settle(
            rows.into_iter()
                .map(|(id, login, email)| (i64::from(id), login, email)),
            reserved,
        ))
    }
}

/// One user while the rules run.
struct Candidate {
    id: i64,
    login: String,
    key: String,
    final_login: String,
    final_key: String,
    email: Option<String>,
}

impl Candidate {
    fn renamed(&self) -> bool {
        self.final_key != self.key
    }

    fn rename(&mut self) {
        self.final_login = format!("{}.{}", self.final_login, self.id);
        self.final_key = format!("{}.{}", self.final_key, self.id);
    }
}

/// The contract: among users whose `lower(trim(login))` collide the lowest
/// id keeps the login and each other gets `<login>.<id>`; a blank login is
/// `user.<id>`; a login reserved by an LMS-born account is renamed too; a
/// renamed login that collides again is renamed again. Among users sharing
/// a valid normalised email the lowest id keeps it, and a reserved one is
/// nobody's.
fn settle(
    rows: impl Iterator<Item = (i64, Option<String>, Option<String>)>,
    reserved: &Reserved,
) -> Accounts {
    let mut users: Vec<Candidate> = rows
        .map(|(id, login, email)| {
            let login = Login::from_legacy(login.as_deref().unwrap_or_default())
                .unwrap_or_else(|| Login::provisioned("user", id));
            let key = login.key();
            Candidate {
                id,
                final_login: login.as_str().to_owned(),
                final_key: key.clone(),
                login: login.as_str().to_owned(),
                key,
                email: Email::from_legacy(email.as_deref())
                    .value
                    .map(|email| email.as_str().to_owned()),
            }
        })
        .collect();

    let mut keepers: HashMap<&str, i64> = HashMap::new();
    for user in &users {
        keepers
            .entry(user.key.as_str())
            .and_modify(|keeper| *keeper = (*keeper).min(user.id))
            .or_insert(user.id);
    }
    let losers: Vec<usize> = users
        .iter()
        .enumerate()
        .filter(|(_, user)| {
            keepers.get(user.key.as_str()) != Some(&user.id) || reserved.logins.contains(&user.key)
        })
        .map(|(index, _)| index)
        .collect();
    for index in losers {
        let user = &mut users[index];
        user.final_login = format!("{}.{}", user.login, user.id);
        user.final_key = format!("{}.{}", user.key, user.id);
    }

    for _ in 0..MAX_RENAME_ROUNDS {
        // Each round sees the logins as the previous one left them, like
        // the engine's one UPDATE per round.
        let mut holders: HashMap<&str, Vec<(i64, bool)>> = HashMap::new();
        for user in &users {
            holders
                .entry(user.final_key.as_str())
                .or_default()
                .push((user.id, !user.renamed()));
        }
        let collide: Vec<usize> = users
            .iter()
            .enumerate()
            .filter(|(_, user)| {
                user.renamed()
                    && (reserved.logins.contains(&user.final_key)
                        || holders.get(user.final_key.as_str()).is_some_and(|others| {
                            others
                                .iter()
                                .any(|(id, kept)| *id != user.id && (*kept || *id < user.id))
                        }))
            })
            .map(|(index, _)| index)
            .collect();
        if collide.is_empty() {
            break;
        }
        for index in collide {
            users[index].rename();
        }
    }

    let mut email_keepers: HashMap<&str, i64> = HashMap::new();
    for user in &users {
        if let Some(email) = &user.email {
            email_keepers
                .entry(email.as_str())
                .and_modify(|keeper| *keeper = (*keeper).min(user.id))
                .or_insert(user.id);
        }
    }
    let duplicates: Vec<bool> = users
        .iter()
        .map(|user| {
            user.email.as_deref().is_some_and(|email| {
                email_keepers.get(email) != Some(&user.id) || reserved.emails.contains(email)
            })
        })
        .collect();
    Accounts(
        users
            .into_iter()
            .zip(duplicates)
            .map(|(user, duplicate)| {
                (
                    user.id,
                    Account {
                        login: user.final_login,
                        email: if duplicate { None } else { user.email },
                    },
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settled(rows: &[(i64, &str, Option<&str>)], reserved: &Reserved) -> Vec<(i64, Account)> {
        let accounts = settle(
            rows.iter().map(|(id, login, email)| {
                (*id, Some((*login).to_owned()), email.map(str::to_owned))
            }),
            reserved,
        );
        let mut all: Vec<(i64, Account)> = accounts.0.into_iter().collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }

    fn account(login: &str, email: Option<&str>) -> Account {
        Account {
            login: login.to_owned(),
            email: email.map(str::to_owned),
        }
    }

    #[test]
    fn the_lowest_id_keeps_a_login_and_renamed_forms_collide_again() {
        let rows = [
            (1, "Ivan", Some(" Ivan@Mail.kz ")),
            (2, "IVAN ", Some("ivan@mail.kz")),
            (5, "ivan", None),
            (3, "ivan.5", Some("not an email")),
            (4, "  ", None),
        ];
        assert_eq!(
            settled(&rows, &Reserved::default()),
            vec![
                (1, account("Ivan", Some("ivan@mail.kz"))),
                (2, account("IVAN.2", None)),
                (3, account("ivan.5", None)),
                (4, account("user.4", None)),
                (5, account("ivan.5.5", None)),
            ]
        );
    }

    #[test]
    fn reserved_logins_and_emails_belong_to_lms_accounts() {
        let reserved = Reserved {
            logins: ["student.7".to_owned()].into_iter().collect(),
            emails: ["a@b.kz".to_owned()].into_iter().collect(),
        };
        let rows = [(9, "Student.7", Some("A@B.kz"))];
        assert_eq!(
            settled(&rows, &reserved),
            vec![(9, account("Student.7.9", None))]
        );
    }

    #[test]
    fn unicode_logins_fold_like_the_contract() {
        let rows = [(1, "Әлия", None), (2, "әлия", None)];
        assert_eq!(
            settled(&rows, &Reserved::default()),
            vec![(1, account("Әлия", None)), (2, account("әлия.2", None))]
        );
    }
}
