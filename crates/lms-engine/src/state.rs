//! The states of runs, steps and chunks, as enums end to end. Each has one
//! spelling per variant, the text stored in `migration.*` and shown to
//! operators; `stored_text_enum!` derives from it the only conversions to
//! and from that text (parsing, display, serde and sqlx).

/// A stored name that is none of the enum's spellings: the database holds
/// a state this build does not know (a newer engine wrote it, say).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {text:?}")]
pub struct UnknownStoredText {
    pub kind: &'static str,
    pub text: String,
}

/// Declares a fieldless enum whose variants are stored as text: `ALL`,
/// `as_str`, `FromStr`, `Display`, serde as the text, and sqlx encode and
/// decode as PostgreSQL `text`.
macro_rules! stored_text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident as $what:literal {
            $( $(#[$variant_meta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            /// The stored (and shown) spelling.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::state::UnknownStoredText;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $( $text => Ok($name::$variant), )+
                    _ => Err($crate::state::UnknownStoredText {
                        kind: $what,
                        text: text.to_owned(),
                    }),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(::serde::de::Error::custom)
            }
        }

        impl ::sqlx::Type<::sqlx::Postgres> for $name {
            fn type_info() -> ::sqlx::postgres::PgTypeInfo {
                <String as ::sqlx::Type<::sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &::sqlx::postgres::PgTypeInfo) -> bool {
                <String as ::sqlx::Type<::sqlx::Postgres>>::compatible(ty)
            }
        }

        impl ::sqlx::Encode<'_, ::sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut ::sqlx::postgres::PgArgumentBuffer,
            ) -> Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <&str as ::sqlx::Encode<::sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> ::sqlx::Decode<'r, ::sqlx::Postgres> for $name {
            fn decode(
                value: ::sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, ::sqlx::error::BoxDynError> {
                let text = <&str as ::sqlx::Decode<::sqlx::Postgres>>::decode(value)?;
                Ok(text.parse()?)
            }
        }
    };
}

pub(crate) use stored_text_enum;

stored_text_enum! {
    /// Where a run is in its life (`migration.runs.status`).
    pub enum RunStatus as "run status" {
        /// Its chunks are being worked.
        Running => "running",
        /// Stopped by its hold gate before writing anything: its preview
        /// exceeds a table's threshold, and it waits to be approved or
        /// cancelled. Active: it blocks every other run.
        Held => "held",
        /// Cancelled by an operator; the chunks in progress are finishing.
        Cancelling => "cancelling",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
        /// Succeeded, then undone: the rows it changed are as before it.
        Undone => "undone",
    }
}

impl RunStatus {
    /// Whether the run has ended, whichever way: it no longer blocks
    /// another run.
    pub const fn is_finished(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled | RunStatus::Undone
        )
    }

    /// The names of the finished statuses, for `status = ANY($n)`.
    pub fn finished_names() -> Vec<&'static str> {
        RunStatus::ALL
            .into_iter()
            .filter(|status| status.is_finished())
            .map(RunStatus::as_str)
            .collect()
    }

    /// Whether the run still holds the LMS: no other run may start.
    pub const fn is_active(self) -> bool {
        !self.is_finished()
    }
}

stored_text_enum! {
    /// Where one phase of one table is (`migration.run_steps.state`).
    pub enum StepState as "step state" {
        /// An earlier step it needs has not finished.
        Waiting => "waiting",
        /// Its chunks are queued or running.
        Ready => "ready",
        Done => "done",
        Failed => "failed",
        Cancelled => "cancelled",
    }
}

stored_text_enum! {
    /// Where one chunk is (`migration.chunks.state`).
    pub enum ChunkState as "chunk state" {
        /// Its step is not ready yet.
        Waiting => "waiting",
        /// On the queue, or held by a worker.
        Queued => "queued",
        Done => "done",
        Failed => "failed",
        Cancelled => "cancelled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_parses_back_to_its_variant() {
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse::<RunStatus>(), Ok(status));
        }
        for state in StepState::ALL {
            assert_eq!(state.as_str().parse::<StepState>(), Ok(state));
        }
        for state in ChunkState::ALL {
            assert_eq!(state.as_str().parse::<ChunkState>(), Ok(state));
        }
    }

    #[test]
    fn an_unknown_spelling_is_an_error_naming_it() {
        let error = "paused".parse::<RunStatus>().unwrap_err();
        assert_eq!(error.to_string(), "unknown run status \"paused\"");
    }

    #[test]
    fn serde_writes_the_stored_spelling() {
        assert_eq!(
            serde_json::to_string(&RunStatus::Cancelling).unwrap(),
            "\"cancelling\""
        );
        assert_eq!(
            serde_json::from_str::<ChunkState>("\"queued\"").unwrap(),
            ChunkState::Queued
        );
    }

    #[test]
    fn only_ended_runs_are_finished() {
        let finished: Vec<RunStatus> = RunStatus::ALL
            .into_iter()
            .filter(|status| status.is_finished())
            .collect();
        assert_eq!(
            finished,
            [
                RunStatus::Succeeded,
                RunStatus::Failed,
                RunStatus::Cancelled,
                RunStatus::Undone
            ]
        );
    }
}
