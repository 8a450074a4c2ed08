//! `lmsctl api ...`: the common reads, through the running server's gRPC
//! API, printed as proto3 JSON (the shape grpcurl prints).

use std::process::ExitCode;

use lms_config::Settings;
use lms_grpc::client::{ApiClient, COLLECTIONS, Collection};
use serde_json::{Value, json};

use super::usage::{client_usage, usage};
use crate::cli::{ApiCommand, ApiGetArgs, ApiListArgs, ApiLookupArgs, ApiTarget};

/// Where the bearer token comes from: never a flag, which shell history
/// and `ps` would show. (`LMS_*` variables are config keys; lmsctl's own
/// are `LMSCTL_*`.)
const TOKEN_VARIABLE: &str = "LMSCTL_API_TOKEN";

pub async fn run(command: ApiCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    match command {
        ApiCommand::Get(args) => get(args, settings).await,
        ApiCommand::List(args) => list(args, settings).await,
        ApiCommand::Lookup(args) => lookup(args, settings).await,
    }
}

async fn connect(target: &ApiTarget, settings: &Settings) -> anyhow::Result<ApiClient> {
    let endpoint = target
        .endpoint
        .clone()
        .unwrap_or_else(|| format!("http://{}", settings.grpc.listen));
    let token = std::env::var(TOKEN_VARIABLE)
        .ok()
        .filter(|token| !token.is_empty());
    ApiClient::connect(&endpoint, token)
        .await
        .map_err(client_usage)
}

fn collection(text: &str) -> anyhow::Result<Collection> {
    Collection::find(text).ok_or_else(|| {
        let names: Vec<&str> = COLLECTIONS
            .iter()
            .map(|collection| collection.name)
            .collect();
        usage(format!(
            "{text:?} is not a collection of the API; collections: {}",
            names.join(", ")
        ))
    })
}

fn print_pretty(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

async fn get(args: ApiGetArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let collection = collection(&args.name)?;
    let client = connect(&args.target, settings).await?;
    let resource = client
        .call(&collection.get_method(), &json!({ "name": args.name }))
        .await
        .map_err(client_usage)?;
    print_pretty(&resource)?;
    Ok(ExitCode::SUCCESS)
}

async fn lookup(args: ApiLookupArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let collection = collection(&args.collection)?;
    if !collection.lookup {
        return Err(usage(format!(
            "{} do not come from legacy rows one to one; they have no lookup",
            collection.name
        )));
    }
    let client = connect(&args.target, settings).await?;
    let resource = client
        .call(
            &collection.lookup_method(),
            &json!({ "legacy_id": args.legacy_id.to_string() }),
        )
        .await
        .map_err(client_usage)?;
    print_pretty(&resource)?;
    Ok(ExitCode::SUCCESS)
}

// The hint that more pages exist goes to stderr, so stdout stays one JSON
// object per line for jq and friends.
#[allow(clippy::print_stderr)]
async fn list(args: ApiListArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let collection = collection(&args.collection)?;
    let mut request = json!({ "page_size": args.page_size });
    match (&args.parent, collection.nested) {
        (Some(parent), true) => request["parent"] = json!(parent),
        (None, true) => {
            return Err(usage(format!(
                "{} are listed under a course: add --parent courses/<id>",
                collection.name
            )));
        }
        (Some(_), false) => {
            return Err(usage(format!(
                "{} have no parent; drop --parent",
                collection.name
            )));
        }
        (None, false) => {}
    }
    if let Some(filter) = &args.filter {
        if collection.nested {
            return Err(usage(format!("{} take no filter", collection.name)));
        }
        request["filter"] = json!(filter);
    }
    let client = connect(&args.target, settings).await?;
    let field = collection.list_field();
    let mut token = args.page_token.clone().unwrap_or_default();
    loop {
        request["page_token"] = json!(token);
        let page = client
            .call(&collection.list_method(), &request)
            .await
            .map_err(client_usage)?;
        let items = page
            .get(json_name(&field).as_str())
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for item in &items {
            println!("{}", serde_json::to_string(item)?);
        }
        token = page
            .get("nextPageToken")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if token.is_empty() {
            break;
        }
        if !args.all {
            eprintln!("more: --page-token {token}");
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// proto3 JSON spells fields in lowerCamelCase.
fn json_name(field: &str) -> String {
    let mut name = String::new();
    let mut upper = false;
    for character in field.chars() {
        if character == '_' {
            upper = true;
        } else if upper {
            name.extend(character.to_uppercase());
            upper = false;
        } else {
            name.push(character);
        }
    }
    name
}
