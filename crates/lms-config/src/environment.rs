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
pub(crate) struct Environment {
    /// What every variable of this layer starts with (`LMS_`).
    pub(crate) prefix: &'static str,
    /// What separates a variable's nested keys (`__`).
    pub(crate) separator: &'static str,
    /// The variables of this layer not read as settings (`LMS_CONFIG`).
    pub(crate) ignored: &'static [&'static str],
}

impl Environment {
    fn env(&self) -> Env {
        Env::prefixed(self.prefix)
            .split(self.separator)
            .ignore(self.ignored)
    }

    /// The variables of this layer that figment would pass over in
    /// silence, each with why: a name with an empty key in it
    /// (`LMS_GRPC__LISTEN__`), or a name or a value that is not UTF-8
    /// (figment would read it lossily).
    fn unreadable(&self) -> Vec<String> {
        let mut unreadable = Vec::new();
        for (name, value) in std::env::vars_os() {
            let shown = name.to_string_lossy();
            let Some(rest) = shown
                .get(..self.prefix.len())
                .filter(|head| head.eq_ignore_ascii_case(self.prefix))
                .and_then(|_| shown.get(self.prefix.len()..))
            else {
                continue;
            };
            if self
                .ignored
                .iter()
                .any(|key| rest.eq_ignore_ascii_case(key))
            {
                continue;
            }
            if name.to_str().is_none() {
                unreadable.push(format!("{shown}: the variable's name is not UTF-8"));
            } else if rest
                .replace(self.separator, ".")
                .trim()
                .split('.')
                .any(|key| key.trim().is_empty())
            {
                unreadable.push(format!(
                    "{shown}: the name holds an empty key ({sep} at an end, or {sep}{sep} in a row)",
                    sep = self.separator,
                ));
            } else if value.to_str().is_none() {
                unreadable.push(format!("{shown}: the value is not UTF-8"));
            }
        }
        unreadable.sort();
        unreadable
    }
}

impl Provider for Environment {
    fn metadata(&self) -> Metadata {
        self.env().metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let unreadable = self.unreadable();
        if !unreadable.is_empty() {
            return Err(Error::from(format!(
                "environment variables that cannot be read as settings: {}",
                unreadable.join("; ")
            )));
        }
        let mut dict = Dict::new();
        for (key, text) in self.env().iter() {
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
