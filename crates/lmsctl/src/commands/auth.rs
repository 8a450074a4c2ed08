//! `lmsctl auth ...`: tokens for the server's `auth.tokens`.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use lms_config::{KNOWN_SCOPES, token_name_problem};
use lms_grpc::auth::hash_token;

use super::usage::usage;
use crate::cli::{AuthCommand, HashTokenArgs};

pub fn run(command: AuthCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuthCommand::HashToken(args) => hash(&args),
    }
}

fn hash(args: &HashTokenArgs) -> anyhow::Result<ExitCode> {
    if let Some(problem) = token_name_problem(&args.name) {
        return Err(usage(format!(
            "--name {}: {problem}",
            toml_string(&args.name)
        )));
    }
    for scope in &args.scopes {
        if !KNOWN_SCOPES.contains(&scope.as_str()) {
            return Err(usage(format!(
                "--scopes: unknown scope {scope:?}; scopes are {}",
                KNOWN_SCOPES.join(", ")
            )));
        }
    }
    let (token, made) = if args.stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the token from stdin")?;
        let token = text.trim().to_owned();
        if token.len() < 16 {
            return Err(usage(
                "the token on stdin is shorter than 16 characters; use a random one",
            ));
        }
        // A client sends it in an HTTP header (`authorization: Bearer
        // <token>`), which carries visible ASCII only.
        if let Some(refused) = token.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(usage(format!(
                "the token on stdin holds {refused:?}: a bearer token is visible ASCII without \
                 spaces, since clients send it in an HTTP header; use a random one"
            )));
        }
        (token, false)
    } else {
        // Two v4 UUIDs: 244 bits from the operating system's generator.
        let token = format!(
            "lms_{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        (token, true)
    };
    if made {
        println!("# The token; give it to the client and keep it nowhere else:");
        println!("# {token}");
    }
    let scopes: Vec<String> = args.scopes.iter().map(|scope| toml_string(scope)).collect();
    println!("[[auth.tokens]]");
    println!("name = {}", toml_string(&args.name));
    println!("sha256 = {}", toml_string(&hash_token(&token)));
    println!("scopes = [{}]", scopes.join(", "));
    Ok(ExitCode::SUCCESS)
}

/// `text` as a TOML string, escaped as TOML escapes it (control characters
/// included), so that what is printed loads as it was given.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}
