//! Courses: offerings derived from journal keys have no legacy row of their
//! own, so they come from the id map, with their subject's name read from
//! the legacy subjects table.

use std::collections::HashMap;

use lms_domain::DomainError;
use lms_domain::model::*;

use super::LegacyReader;
use super::ids::{CourseEntry, IdMap};
use super::rows::{DatabaseResult, Scanned, name_or_placeholder};

const COURSE: &str = "course";

impl LegacyReader {
    pub async fn get_course(&self, id: CourseId) -> Result<Course, DomainError> {
        let ids = self.ids()?;
        let found = match ids.courses.get(id.0) {
            Some(entry) => self.courses(&ids, &[entry]).await?.pop(),
            None => None,
        };
        found.ok_or_else(|| DomainError::not_known_to_legacy(COURSE, id))
    }

    /// In LMS id order: a course has no legacy id. The cursor, in the legacy
    /// space like every degraded list's, is the LMS course id. At most
    /// `max_rows_per_list` of the id map's courses are examined per call.
    pub async fn list_courses(
        &self,
        filter: &CourseFilter,
        page: PageRequest,
    ) -> Result<Page<Course>, DomainError> {
        let ids = self.ids()?;
        // A subject or group the map does not know (migrated since it was
        // loaded) has courses legacy cannot serve: no empty page.
        if let Some(subject) = filter.subject_id
            && ids.subjects.migrated.legacy_id(subject.0).is_none()
        {
            return Err(DomainError::not_known_to_legacy("subject", subject.0));
        }
        if let Some(group) = filter.group_id
            && ids.groups.migrated.legacy_id(group.0).is_none()
        {
            return Err(DomainError::not_known_to_legacy("group", group.0));
        }
        let wanted = page.size() as usize + 1;
        let after = ids.courses.after(page.after());
        let examined = &after[..after.len().min(self.max_rows_per_list())];
        let mut candidates = examined.iter().filter(|entry| matches(filter, entry));
        let mut items = Vec::with_capacity(wanted);
        loop {
            // A course whose subject has left the legacy table is skipped,
            // so a batch can come back short.
            let batch: Vec<&CourseEntry> = candidates.by_ref().take(wanted - items.len()).collect();
            if batch.is_empty() {
                break;
            }
            items.extend(self.courses(&ids, &batch).await?);
            if items.len() >= wanted {
                break;
            }
        }
        let stopped_after = match examined.last() {
            Some(last) if items.len() < wanted && examined.len() < after.len() => Some(last.id),
            _ => None,
        };
        Ok(Scanned {
            items,
            stopped_after,
        }
        .into_page(page, |course| course.id.0))
    }

    /// The courses of `entries` whose subject is served, in `entries` order.
    async fn courses(
        &self,
        ids: &IdMap,
        entries: &[&CourseEntry],
    ) -> Result<Vec<Course>, DomainError> {
        let mut subjects: Vec<i64> = entries
            .iter()
            .filter_map(|entry| ids.subjects.migrated.legacy_id(entry.subject_id))
            .collect();
        subjects.sort_unstable();
        subjects.dedup();
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(i32, Option<String>)> =
            sqlx::query_as("SELECT id, name FROM subjects WHERE id = ANY ($1)")
                .bind(&subjects)
                .persistent(false)
                .fetch_all(self.pool())
                .await
                .legacy()?;
        let names: HashMap<i64, String> = rows
            .into_iter()
            .map(|(id, name)| {
                let id = i64::from(id);
                (id, name_or_placeholder(name.as_deref(), "Subject", id))
            })
            .collect();
        Ok(entries
            .iter()
            .filter_map(|entry| {
                let subject = ids.subjects.migrated.legacy_id(entry.subject_id)?;
                Some(Course {
                    id: CourseId(entry.id),
                    subject_id: SubjectId(entry.subject_id),
                    subject_name: names.get(&subject)?.clone(),
                    group_id: entry.group_id.map(GroupId),
                    academic_year: entry.academic_year.clone(),
                    semester: entry.semester,
                    derived_from_legacy: entry.derived_from_legacy,
                })
            })
            .collect())
    }
}

fn matches(filter: &CourseFilter, entry: &CourseEntry) -> bool {
    filter.subject_id.is_none_or(|id| entry.subject_id == id.0)
        && filter
            .group_id
            .is_none_or(|id| entry.group_id == Some(id.0))
        && filter
            .academic_year
            .as_ref()
            .is_none_or(|year| &entry.academic_year == year)
}
