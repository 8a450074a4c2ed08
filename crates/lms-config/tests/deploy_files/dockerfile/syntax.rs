//! Dockerfile syntax: stages, their instructions, and the arguments of
//! `COPY` and of exec-form commands.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail, ensure};

#[derive(Debug, Clone)]
pub(super) struct Instruction {
    pub(super) keyword: String,
    pub(super) arguments: String,
}

#[derive(Debug, Clone)]
pub(super) struct Stage {
    pub(super) base: String,
    pub(super) name: Option<String>,
    pub(super) instructions: Vec<Instruction>,
}

#[derive(Debug, Clone)]
pub(super) struct Dockerfile {
    /// `ARG`s before the first `FROM`, with their defaults; only these can
    /// be used in `FROM` lines.
    global_args: BTreeMap<String, String>,
    pub(super) stages: Vec<Stage>,
}

pub(super) fn parse_dockerfile(text: &str) -> Result<Dockerfile> {
    let mut logical_lines = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        // Comment and blank lines are dropped even inside a continued
        // instruction, as Docker does.
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        if let Some(continued) = trimmed.strip_suffix('\\') {
            current.push_str(continued);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            logical_lines.push(std::mem::take(&mut current));
        }
    }
    ensure!(
        current.is_empty(),
        "the Dockerfile ends inside a continued line"
    );

    let mut dockerfile = Dockerfile {
        global_args: BTreeMap::new(),
        stages: Vec::new(),
    };
    for line in logical_lines {
        let (keyword, arguments) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let keyword = keyword.to_ascii_uppercase();
        let arguments = arguments.trim().to_owned();
        if keyword == "FROM" {
            let words: Vec<&str> = arguments
                .split_whitespace()
                .filter(|word| !word.starts_with("--"))
                .collect();
            let (base, name) = match words.as_slice() {
                [base] => (*base, None),
                [base, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
                    (*base, Some((*name).to_owned()))
                }
                _ => bail!("cannot read FROM {arguments}"),
            };
            dockerfile.stages.push(Stage {
                base: base.to_owned(),
                name,
                instructions: Vec::new(),
            });
        } else if let Some(stage) = dockerfile.stages.last_mut() {
            stage.instructions.push(Instruction { keyword, arguments });
        } else if keyword == "ARG" {
            let (name, default) = arguments.split_once('=').unwrap_or((&arguments, ""));
            dockerfile
                .global_args
                .insert(name.trim().to_owned(), default.trim().to_owned());
        } else {
            bail!("{keyword} before the first FROM");
        }
    }
    Ok(dockerfile)
}

impl Dockerfile {
    pub(super) fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages
            .iter()
            .find(|stage| stage.name.as_deref() == Some(name))
    }

    /// Replaces `${NAME}` and `$NAME` by the global ARG defaults.
    pub(super) fn expand(&self, text: &str) -> String {
        let mut expanded = text.to_owned();
        for (name, value) in &self.global_args {
            expanded = expanded
                .replace(&format!("${{{name}}}"), value)
                .replace(&format!("${name}"), value);
        }
        expanded
    }

    /// The instructions that build `stage`, its ancestor stages' first.
    pub(super) fn lineage(&self, stage: &Stage) -> Result<Vec<Instruction>> {
        let mut chain = vec![stage];
        let mut base = stage.base.as_str();
        while let Some(parent) = self.stage(base) {
            ensure!(chain.len() <= self.stages.len(), "FROM cycle at {base}");
            chain.push(parent);
            base = parent.base.as_str();
        }
        Ok(chain
            .iter()
            .rev()
            .flat_map(|stage| stage.instructions.iter().cloned())
            .collect())
    }
}

/// What a `COPY` instruction copies, from where to where.
#[derive(Debug)]
pub(super) struct CopyInstruction {
    pub(super) from_stage: Option<String>,
    pub(super) sources: Vec<String>,
    pub(super) destination: String,
}

pub(super) fn parse_copy(arguments: &str) -> Result<CopyInstruction> {
    let mut from_stage = None;
    let mut paths = Vec::new();
    for word in arguments.split_whitespace() {
        if let Some(flag) = word.strip_prefix("--") {
            if let Some(stage) = flag.strip_prefix("from=") {
                from_stage = Some(stage.to_owned());
            }
        } else {
            paths.push(word.to_owned());
        }
    }
    ensure!(
        paths.len() >= 2,
        "COPY {arguments} needs a source and a destination"
    );
    let destination = paths.pop().unwrap_or_default();
    Ok(CopyInstruction {
        from_stage,
        sources: paths,
        destination,
    })
}

/// A command's arguments in exec (JSON) form.
pub(super) fn parse_exec_form(arguments: &str) -> Result<Vec<String>> {
    serde_yaml_ng::from_str::<Vec<String>>(arguments)
        .with_context(|| format!("not a JSON array: {arguments}"))
}
