//! The `LMS_*` layer: figment's [`Env`], except that a bare value keeps its
//! text.
//!
//! figment reads every environment value as TOML-ish syntax, so
//! `LMS_REDIS__NAMESPACE=2024` would be the number 2024, which a text key
//! refuses, and `007` would lose its zeros. Here a bare value that reads
//! as a number or a boolean stays the text it was (trimmed, as figment
//! trims what it parses); settings are then extracted lossily
//! ([`Settings::from_figment`](crate::Settings)), which reads such text as
//! the number or boolean a numeric or boolean key asks for. A value
//! written as an array or a table (`[...]`, `{...}`) keeps its structure,
//! and a quoted string inside it is text.

use figment::providers::Env;
use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

/// See the module.
pub(crate) struct Environment(pub(crate) Env);

impl Provider for Environment {
    fn metadata(&self) -> Metadata {
        self.0.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let mut dict = Dict::new();
        for (key, text) in self.0.iter() {
            let value = match text.parse::<Value>() {
                Ok(Value::Num(..) | Value::Bool(..)) => Value::from(text.trim()),
                Ok(parsed) => parsed,
                // Infallible: anything unreadable parses as text.
                Err(never) => match never {},
            };
            if let Value::Dict(_, nested) = figment::util::nest(key.as_str(), value) {
                merge(&mut dict, nested);
            }
        }
        Ok(Map::from([(Profile::Default, dict)]))
    }
}

/// `incoming` laid over `into`, table by table.
fn merge(into: &mut Dict, incoming: Dict) {
    for (key, value) in incoming {
        match (into.get_mut(&key), value) {
            (Some(Value::Dict(_, existing)), Value::Dict(_, nested)) => merge(existing, nested),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}
