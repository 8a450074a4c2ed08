//! Persons, user accounts and teachers.

use super::super::CURRENT_YEAR;
use super::super::dice::Dice;
use super::super::names;
use super::super::rows::{PersonRow, TeacherRow, UserRow};
use super::super::volumes::share;
use super::{Builder, DANGLING_BASE, IdSequence, capitalise, timestamp};

impl Builder<'_> {
    pub(super) fn new_person(&mut self, dice: &mut Dice) -> i32 {
        let id = self.person_ids.take(dice);
        let female = dice.chance(0.52);
        let last = dice.pick(names::LAST_NAMES);
        let last_name = if female
            && (last.ends_with("ов") || last.ends_with("ев") || last.ends_with("ин"))
        {
            format!("{last}{}", names::FEMALE_LAST_SUFFIX)
        } else {
            (*last).to_owned()
        };
        let first = if female {
            dice.pick(names::FEMALE_FIRST_NAMES)
        } else {
            dice.pick(names::MALE_FIRST_NAMES)
        };
        let year = 1970 + i32::try_from(dice.index(40)).unwrap_or(0);
        let (month, day) = (1 + dice.index(12), 1 + dice.index(28));
        let birth_date = match dice.weighted(&[(70, 0), (19, 1), (4, 2), (3, 3), (4, 4)]) {
            0 => Some(format!("{year}-{month:02}-{day:02}")),
            1 => Some(format!("{day:02}.{month:02}.{year}")),
            2 => Some(["", "  "][dice.index(2)].to_owned()),
            3 => None,
            _ => Some(
                (*dice.pick(&[
                    "31.02.2005",
                    "2005-13-01",
                    "не указано",
                    "05/06/2004",
                    "0000-00-00",
                    "1999-02-30",
                    "12.2003",
                ]))
                .to_owned(),
            ),
        };
        let gender = match dice.weighted(&[(40, 0), (25, 1), (10, 2), (15, 3), (7, 4), (3, 5)]) {
            0 => Some(if female { "F" } else { "M" }),
            1 => Some(if female { "ж" } else { "м" }),
            2 => Some(if female { "f" } else { "m" }),
            3 => None,
            4 => Some(if female { "F" } else { "м" }),
            _ => Some(*dice.pick(&["?", "X", " "])),
        };
        let iin = (!dice.chance(0.08)).then(|| {
            format!(
                "{:02}{month:02}{day:02}{:06}",
                year % 100,
                dice.index(1_000_000)
            )
        });
        let phone = match dice.weighted(&[(70, 0), (20, 1), (8, 2), (2, 3)]) {
            0 => Some(format!(
                "+7 7{:02} {:03} {:02} {:02}",
                dice.index(100),
                dice.index(1000),
                dice.index(100),
                dice.index(100)
            )),
            1 => None,
            2 => Some(format!("87{:09}", dice.index(1_000_000_000))),
            _ => Some(format!("  +7{:010}\t", dice.index(1_000_000_000))),
        };
        self.out.persons.push(PersonRow {
            id,
            last_name: (!dice.chance(0.005)).then_some(last_name),
            first_name: Some(if dice.chance(0.01) {
                format!(" {first} ")
            } else {
                (*first).to_owned()
            }),
            middle_name: dice
                .chance(0.6)
                .then(|| (*dice.pick(names::MIDDLE_NAMES)).to_owned()),
            iin,
            birth_date,
            gender: gender.map(str::to_owned),
            phone,
            created_at: (!dice.chance(0.04)).then(|| {
                let year = 2012 + i32::try_from(dice.index(14)).unwrap_or(0);
                timestamp(dice, year)
            }),
        });
        id
    }

    pub(super) fn person_name(&self, person_id: i32) -> (String, String) {
        self.out
            .persons
            .iter()
            .rev()
            .find(|person| person.id == person_id)
            .map(|person| {
                (
                    person
                        .last_name
                        .clone()
                        .unwrap_or_else(|| "user".to_owned()),
                    person.first_name.clone().unwrap_or_default(),
                )
            })
            .unwrap_or_else(|| ("user".to_owned(), String::new()))
    }

    /// A fresh login, unique case-insensitively, in one of the legacy styles.
    pub(super) fn fresh_login(&mut self, dice: &mut Dice, last: &str, first: &str) -> String {
        let cyrillic = dice.chance(0.04);
        let base = if cyrillic {
            let initial: String = first.trim().chars().take(1).collect();
            format!("{}.{}", last.trim(), initial)
        } else {
            let initial: String = names::transliterate(first).chars().take(1).collect();
            format!("{}.{}", names::transliterate(last), initial)
        };
        let styled = match dice.weighted(&[(72, 0), (22, 1), (6, 2)]) {
            0 => base.to_lowercase(),
            1 => capitalise(&base),
            _ => base.to_uppercase(),
        };
        let mut login = styled.clone();
        let mut suffix = 2;
        while !self.login_keys.insert(login.trim().to_lowercase()) {
            login = format!("{styled}{suffix}");
            suffix += 1;
        }
        if dice.chance(0.01) {
            format!(" {login}\t")
        } else {
            login
        }
    }

    pub(super) fn email_for(dice: &mut Dice, login: &str) -> Option<String> {
        let local: String = names::transliterate(login.trim())
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        let local = if local.is_empty() {
            "user".to_owned()
        } else {
            local
        };
        let domain = dice.pick(names::EMAIL_DOMAINS);
        match dice.weighted(&[(72, 0), (5, 1), (2, 2), (16, 3), (3, 4)]) {
            0 => Some(format!("{local}@{domain}")),
            1 => Some(format!("{}@{}", capitalise(&local), domain.to_uppercase())),
            2 => Some(format!("  {local}@{domain} ")),
            3 => None,
            _ => Some(["", "   "][dice.index(2)].to_owned()),
        }
    }

    pub(super) fn password(dice: &mut Dice) -> Option<String> {
        const BCRYPT_ALPHABET: &[u8] =
            b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        match dice.weighted(&[(76, 0), (19, 1), (4, 2), (1, 3)]) {
            0 => {
                let prefix = if dice.chance(0.3) {
                    "$2y$10$"
                } else {
                    "$2a$10$"
                };
                let body: String = (0..53)
                    .map(|_| char::from(*dice.pick(BCRYPT_ALPHABET)))
                    .collect();
                Some(format!("{prefix}{body}"))
            }
            1 => Some(
                (0..32)
                    .map(|_| char::from(*dice.pick(b"0123456789abcdef")))
                    .collect(),
            ),
            2 => None,
            _ => Some((*dice.pick(&["*", "!locked", "changeme"])).to_owned()),
        }
    }

    pub(super) fn role_text(dice: &mut Dice, role: &str) -> String {
        match dice.weighted(&[(85, 0), (10, 1), (5, 2)]) {
            0 => role.to_owned(),
            1 => capitalise(role),
            _ => format!("{} ", role.to_uppercase()),
        }
    }

    /// Pushes a user row and returns its id.
    pub(super) fn push_user(
        &mut self,
        dice: &mut Dice,
        login: String,
        email: Option<String>,
        person_id: Option<i32>,
        role: String,
    ) -> i32 {
        let id = self.user_ids.take(dice);
        let created = 2014 + i32::try_from(dice.index(12)).unwrap_or(0);
        let last_login_at = dice.chance(0.8).then(|| timestamp(dice, created.max(2024)));
        let password_hash = Self::password(dice);
        self.out.users.push(UserRow {
            id,
            login,
            email,
            password_hash,
            person_id,
            role,
            is_active: !dice.chance(0.06),
            created_at: (!dice.chance(0.03)).then(|| timestamp(dice, created)),
            last_login_at,
        });
        id
    }

    /// A new account for a person, in the usual style.
    pub(super) fn account_for(
        &mut self,
        dice: &mut Dice,
        person_id: Option<i32>,
        role: &str,
    ) -> i32 {
        let (last, first) = match person_id {
            Some(id) => self.person_name(id),
            None => (
                (*dice.pick(names::LAST_NAMES)).to_owned(),
                (*dice.pick(names::MALE_FIRST_NAMES)).to_owned(),
            ),
        };
        let login = self.fresh_login(dice, &last, &first);
        let email = Self::email_for(dice, &login);
        let role = Self::role_text(dice, role);
        // Some accounts were never linked to their person on the user row.
        let linked = person_id.filter(|_| !dice.chance(0.05));
        self.push_user(dice, login, email, linked, role)
    }

    pub(super) fn teachers(&mut self) {
        let mut dice = self.dice("teachers");
        let plan = self.plan;
        let count = self.volumes.teachers;
        // 1: never had a login; 2: a login that points nowhere.
        let login_dirt = dice.assign(
            count,
            &[plan.teachers_without_user, plan.teachers_dangling_user],
        );
        let orphans = plan.orphan_teachers;
        let sharing = plan.teachers_sharing_person;
        let mut ids = IdSequence::new(0.02);
        for (index, login_dirt) in login_dirt.into_iter().enumerate() {
            let id = ids.take(&mut dice);
            // Teachers sharing a student's person get their person later,
            // once students exist; orphans point nowhere.
            let person_id = if index < orphans {
                (!dice.chance(0.3)).then(|| DANGLING_BASE + 500_000 + id)
            } else if index < orphans + sharing {
                None
            } else {
                Some(self.new_person(&mut dice))
            };
            let user_id = match login_dirt {
                1 => None,
                2 => Some(DANGLING_BASE + 700_000 + id),
                _ => Some(self.account_for(&mut dice, person_id, "teacher")),
            };
            let org = dice.index(self.curriculum_orgs());
            let organization_id = if index == count / 2 {
                Some(DANGLING_BASE + 1)
            } else {
                self.teaching_orgs.get(org).copied()
            };
            if let Some(list) = self.org_teachers.get_mut(org) {
                list.push(id);
            }
            let hired_year = 1995 + i32::try_from(dice.index(31)).unwrap_or(0);
            let hired_at = match index {
                1 => Some("1900-01-01".to_owned()),
                _ if dice.chance(0.04) => None,
                _ => Some(format!(
                    "{hired_year}-{:02}-{:02}",
                    1 + dice.index(12),
                    1 + dice.index(28)
                )),
            };
            let fired_at = match index {
                2 => Some("infinity".to_owned()),
                _ if dice.chance(0.1) => {
                    Some(format!("{}-06-30", (hired_year + 1).min(CURRENT_YEAR)))
                }
                _ => None,
            };
            self.out.teachers.push(TeacherRow {
                id,
                user_id,
                person_id,
                organization_id,
                position: (!dice.chance(0.06)).then(|| (*dice.pick(names::POSITIONS)).to_owned()),
                hired_at,
                fired_at,
            });
        }
    }

    pub(super) fn other_users(&mut self) {
        let mut dice = self.dice("users");
        let plan = self.plan;
        let count = plan.other_users;
        let persons_left = plan.other_user_persons;
        let dangling_person = share(self.volumes.users, 2.0);
        let invalid_email = share(self.volumes.users, 7.2);
        let family_email = share(self.volumes.users, 2.2);
        let case_collisions = share(self.volumes.users, 3.0);
        let renamed_form = share(self.volumes.users, 0.5);
        let mut persons_used = 0;
        let mut collision_losers: Vec<usize> = Vec::new();
        for index in 0..count {
            let role = match index % 25 {
                0 | 1 => "admin",
                2 => "methodist",
                3 => *dice.pick(&["director", "guest", "Завуч", "librarian"]),
                4 | 5 => "student",
                _ => "parent",
            };
            let wants_person = matches!(role, "admin" | "methodist") || dice.chance(0.5);
            let person_id = if index < dangling_person {
                Some(DANGLING_BASE + 900_000 + i32::try_from(index).unwrap_or(0))
            } else if wants_person && persons_used < persons_left {
                persons_used += 1;
                Some(self.new_person(&mut dice))
            } else {
                None
            };
            if index >= count - case_collisions - renamed_form - 2
                && index < count - renamed_form - 2
            {
                // A login that collides, after lower(trim), with an earlier one.
                let victim = dice.index(self.out.users.len());
                let login = flip_case(self.out.users[victim].login.trim());
                let email = Self::email_for(&mut dice, &login);
                let role = Self::role_text(&mut dice, role);
                self.push_user(&mut dice, login, email, person_id, role);
                collision_losers.push(self.out.users.len() - 1);
                continue;
            }
            if index == count - 2 {
                // Kazakh letters that only Unicode-aware lower() folds.
                self.push_user(
                    &mut dice,
                    "Әлия.Қасымова".to_owned(),
                    None,
                    person_id,
                    "parent".to_owned(),
                );
                continue;
            }
            if index == count - 1 {
                self.push_user(
                    &mut dice,
                    "әлия.қасымова".to_owned(),
                    None,
                    None,
                    "Parent".to_owned(),
                );
                continue;
            }
            if index >= count - renamed_form - 2 && index < count - 2 {
                // A login equal to another's renamed form, `<login>.<id>`.
                let loser = collision_losers
                    .get(dice.index(collision_losers.len()))
                    .map(|&position| &self.out.users[position])
                    .map(|user| format!("{}.{}", user.login.trim().to_lowercase(), user.id))
                    .unwrap_or_else(|| "ivanov.a.1".to_owned());
                self.push_user(&mut dice, loser, None, person_id, "parent".to_owned());
                continue;
            }
            self.account_for(&mut dice, person_id, role);
            let position = self.out.users.len() - 1;
            if index == 0 {
                // A timestamp at the edge of its type.
                self.out.users[position].last_login_at = Some("infinity".to_owned());
            }
            if index < invalid_email {
                let bad = *dice.pick(&[
                    "ivanov@",
                    "ivanov.mail.kz",
                    "iv anov@mail.kz",
                    "нет",
                    "a@b",
                    "@mail.kz",
                    "user@@mail.kz",
                    "test@mail .kz",
                ]);
                self.out.users[position].email = Some(bad.to_owned());
            } else if index >= invalid_email && index < invalid_email + family_email && position > 0
            {
                let other = dice.index(position);
                let shared = self.out.users[other]
                    .email
                    .clone()
                    .filter(|email| email.contains('@'))
                    .unwrap_or_else(|| "family@mail.kz".to_owned());
                self.out.users[position].email = Some(format!(" {}", shared.trim().to_uppercase()));
            }
        }
    }

    pub(super) fn unreferenced_persons(&mut self) {
        let mut dice = self.dice("persons");
        while self.out.persons.len() + 1 < self.volumes.persons {
            self.new_person(&mut dice);
        }
        if self.out.persons.len() < self.volumes.persons {
            // The last person sits at the top of the integer range.
            self.new_person(&mut dice);
            if let Some(last) = self.out.persons.last_mut() {
                last.id = i32::MAX;
            }
        }
    }
}

fn flip_case(text: &str) -> String {
    text.chars()
        .enumerate()
        .flat_map(|(index, c)| {
            let flipped: Vec<char> = if index % 2 == 0 {
                c.to_uppercase().collect()
            } else {
                c.to_lowercase().collect()
            };
            flipped
        })
        .collect()
}
