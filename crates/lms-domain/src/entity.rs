//! The legacy tables, named as in the legacy schema.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One legacy EDU table: the unit the migration plans, reports and explains by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegacyEntity {
    Organizations,
    Persons,
    Users,
    Groups,
    Subjects,
    Students,
    Teachers,
    Journal,
    Exams,
    ExamResults,
}

impl LegacyEntity {
    /// Every legacy table, in an order where each comes after what it needs.
    pub const ALL: [LegacyEntity; 10] = [
        LegacyEntity::Organizations,
        LegacyEntity::Persons,
        LegacyEntity::Users,
        LegacyEntity::Teachers,
        LegacyEntity::Groups,
        LegacyEntity::Subjects,
        LegacyEntity::Students,
        LegacyEntity::Journal,
        LegacyEntity::Exams,
        LegacyEntity::ExamResults,
    ];

    /// The legacy table's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            LegacyEntity::Organizations => "organizations",
            LegacyEntity::Persons => "persons",
            LegacyEntity::Users => "users",
            LegacyEntity::Groups => "groups",
            LegacyEntity::Subjects => "subjects",
            LegacyEntity::Students => "students",
            LegacyEntity::Teachers => "teachers",
            LegacyEntity::Journal => "journal",
            LegacyEntity::Exams => "exams",
            LegacyEntity::ExamResults => "exam_results",
        }
    }

    /// The LMS table its rows become.
    pub const fn target_table(self) -> &'static str {
        match self {
            LegacyEntity::Organizations => "organizations",
            LegacyEntity::Persons => "persons",
            LegacyEntity::Users => "users",
            LegacyEntity::Groups => "student_groups",
            LegacyEntity::Subjects => "subjects",
            LegacyEntity::Students => "students",
            LegacyEntity::Teachers => "staff_members",
            LegacyEntity::Journal => "course_enrollments",
            LegacyEntity::Exams => "assessments",
            LegacyEntity::ExamResults => "assessment_submissions",
        }
    }

    /// The values its `id` column can hold: `integer`, or `bigint` for the
    /// journal and exam results. Every one of them is a legacy id, zero and
    /// negatives included.
    pub const fn legacy_id_range(self) -> std::ops::RangeInclusive<i64> {
        match self {
            LegacyEntity::Journal | LegacyEntity::ExamResults => i64::MIN..=i64::MAX,
            _ => (i32::MIN as i64)..=(i32::MAX as i64),
        }
    }

    /// The tables whose target rows must exist before this one's are written,
    /// because its target rows reference theirs.
    pub const fn depends_on(self) -> &'static [LegacyEntity] {
        use LegacyEntity::*;
        match self {
            Organizations | Persons => &[],
            Users => &[Persons],
            Teachers => &[Persons, Users, Organizations],
            // A group's curator is a teacher.
            Groups => &[Organizations, Teachers],
            Subjects => &[Organizations],
            Students => &[Persons, Users, Organizations, Groups],
            Journal => &[Students, Subjects, Groups, Teachers],
            Exams => &[Subjects, Groups, Teachers],
            ExamResults => &[Exams, Students],
        }
    }
}

impl fmt::Display for LegacyEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a legacy table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown legacy table {name:?}; expected one of: {}", LegacyEntity::ALL.map(LegacyEntity::as_str).join(", "))]
pub struct UnknownEntity {
    pub name: String,
}

impl FromStr for LegacyEntity {
    type Err = UnknownEntity;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        LegacyEntity::ALL
            .into_iter()
            .find(|entity| entity.as_str() == name.trim())
            .ok_or_else(|| UnknownEntity {
                name: name.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_entity_after_its_dependencies() {
        for (index, entity) in LegacyEntity::ALL.iter().enumerate() {
            for dependency in entity.depends_on() {
                let position = LegacyEntity::ALL.iter().position(|e| e == dependency);
                assert!(position < Some(index), "{entity} before {dependency}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for entity in LegacyEntity::ALL {
            assert_eq!(entity.as_str().parse(), Ok(entity));
        }
        let error = "journals".parse::<LegacyEntity>().unwrap_err();
        assert!(error.to_string().contains("exam_results"));
    }
}
