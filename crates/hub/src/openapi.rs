//! The OpenAPI 3.1 document, built from the endpoint table and the protocol
//! crate's JSON Schemas.
//!
//! A pure function of [`crate::api`]'s table: this module reads the table's
//! description types and nothing else of the hub, and `api` does not import
//! it (the crate root builds the document and `Hub` keeps it), so the two
//! depend one way.

use gantry_protocol::wire::ErrorBody;
use gantry_protocol::{JobSpec, TaskState, rules};
use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::api::{Access, BodyDoc, Endpoint};

/// The schema of a parameter of `kind` ([`crate::api::ParamDoc::kind`]): a
/// JSON type, or one of the names below for a rule the hub enforces, so the
/// document states every range and pattern of the query and the path.
pub fn param_schema(kind: &str) -> Value {
    match kind {
        "string" | "integer" | "boolean" => json!({"type": kind}),
        "sha256" => json!({"type": "string", "pattern": rules::SHA256}),
        "task_state" => {
            let names: Vec<&str> = TaskState::ALL.iter().map(|s| s.as_str()).collect();
            json!({"type": "string", "enum": names})
        }
        "limit" => json!({"type": "integer", "minimum": 1, "maximum": 1000}),
        "offset" | "seconds" => json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
        "label" => json!({"type": "string", "pattern": rules::LABEL}),
        "since" => json!({"type": "string", "pattern": gantry_protocol::usage::SINCE_PATTERN}),
        "cursor" => {
            json!({"type": "string", "pattern": gantry_protocol::console_wire::TASK_CURSOR})
        }
        other => {
            panic!("parameter kind {other:?} is not known to openapi::param_schema; add it there")
        }
    }
}

/// Adds to every schema with a Rust number format (`uint64`, `int32`,
/// `float`, ...) the range that type holds, so the document refuses what
/// the hub cannot read: a 2^64 where a `u64` goes, say.
fn bound_numbers(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let range: Option<(Value, Value)> = match map.get("format").and_then(Value::as_str) {
                Some("uint8") => Some((json!(0), json!(u8::MAX))),
                Some("uint16") => Some((json!(0), json!(u16::MAX))),
                Some("uint32") => Some((json!(0), json!(u32::MAX))),
                Some("uint64" | "uint") => Some((json!(0), json!(u64::MAX))),
                Some("int8") => Some((json!(i8::MIN), json!(i8::MAX))),
                Some("int16") => Some((json!(i16::MIN), json!(i16::MAX))),
                Some("int32") => Some((json!(i32::MIN), json!(i32::MAX))),
                Some("int64" | "int") => Some((json!(i64::MIN), json!(i64::MAX))),
                Some("float") => Some((json!(f32::MIN), json!(f32::MAX))),
                _ => None,
            };
            if let Some((min, max)) = range {
                map.entry("minimum").or_insert(min);
                map.entry("maximum").or_insert(max);
            }
            map.values_mut().for_each(bound_numbers);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_numbers),
        _ => {}
    }
}

/// The security requirement of a route callable with `access`.
fn security(access: Access) -> Value {
    match access {
        Access::Public => json!([]),
        Access::Admin => json!([{"adminToken": []}]),
        Access::Node => json!([{"nodeToken": []}]),
        Access::AdminOrNode => json!([{"adminToken": []}, {"nodeToken": []}]),
        Access::Session => json!([{"consoleSession": []}]),
        // The empty requirement: no token, unless the hub has a metrics token.
        Access::Metrics => json!([{}, {"metricsToken": []}]),
    }
}

/// The document for `endpoints`.
pub fn document(endpoints: &[Endpoint]) -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|settings| {
            settings.definitions_path = "/components/schemas".into();
            settings.meta_schema = None;
        })
        .into_generator();
    let error_schema = generator.subschema_for::<ErrorBody>().to_value();
    let job_schema = generator.subschema_for::<JobSpec>().to_value();

    let mut paths = Map::new();
    for endpoint in endpoints {
        let mut operation = Map::new();
        operation.insert("summary".into(), json!(endpoint.summary));
        operation.insert(
            "operationId".into(),
            json!(format!("{} {}", endpoint.method, endpoint.path)),
        );
        let params: Vec<Value> = endpoint
            .params
            .iter()
            .map(|p| {
                json!({
                    "name": p.name, "in": p.location, "required": p.required,
                    "description": p.description, "schema": param_schema(p.kind)
                })
            })
            .collect();
        if !params.is_empty() {
            operation.insert("parameters".into(), Value::Array(params));
        }
        if let Some(body) = request_body(endpoint.request, &mut generator, &job_schema) {
            operation.insert("requestBody".into(), body);
        }
        let (status, body) = endpoint.response;
        let success = success_body(body, &mut generator);
        let error = json!({"description": "An error with a stable code and a sentence",
            "content": {"application/json": {"schema": error_schema}}});
        let mut responses = Map::new();
        responses.insert(status.to_string(), success);
        if endpoint.path == "/v1/agent/next" {
            responses.insert(
                "204".into(),
                json!({"description": "No task was queued for this node during the wait"}),
            );
        }
        responses.insert("default".into(), error);
        operation.insert("responses".into(), Value::Object(responses));
        operation.insert("security".into(), security(endpoint.access));

        let item = paths
            .entry(endpoint.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        item.as_object_mut()
            .expect("path items are objects")
            .insert(
                endpoint.method.as_str().to_ascii_lowercase(),
                Value::Object(operation),
            );
    }

    let mut schemas = Value::Object(generator.take_definitions(true));
    bound_numbers(&mut schemas);
    let mut paths = Value::Object(paths);
    bound_numbers(&mut paths);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Gantry hub",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The control plane agents take tasks from and people submit tasks to. \
                Every call but health, this document, signing in, the web console's files and \
                /metrics (unless the hub has a metrics token) needs `Authorization: Bearer \
                <token>`; in a browser signed in to the console (POST /v1/session), the \
                `gantry_session` cookie stands for an admin token, and every call but GET and \
                HEAD made with it carries the session's `X-Gantry-Csrf` value."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer", "description": "An admin token (gantry hub token create --admin NAME)"},
                "nodeToken": {"type": "http", "scheme": "bearer", "description": "A node token (gantry hub node add NAME)"},
                "metricsToken": {"type": "http", "scheme": "bearer", "description": "The token the hub was started with (--metrics-token); GET /metrics needs it only then"},
                "consoleSession": {"type": "apiKey", "in": "cookie", "name": "gantry_session",
                    "description": "The web console's session (POST /v1/session); it also stands for an \
                        admin token on every adminToken operation, with the X-Gantry-Csrf header on \
                        calls that change something"}
            }
        }
    })
}

/// The `requestBody` of an operation taking `body`, if it takes one.
fn request_body(
    body: BodyDoc,
    generator: &mut SchemaGenerator,
    job_schema: &Value,
) -> Option<Value> {
    Some(match body {
        // No request sends a console file: `File` is for answers.
        BodyDoc::None | BodyDoc::File(_) => return None,
        BodyDoc::Json(schema) => {
            let schema = schema(generator).to_value();
            json!({"required": true, "content": {"application/json": {"schema": schema}}})
        }
        BodyDoc::Job => json!({"required": true, "content": {
            "application/json": {"schema": job_schema},
            "application/yaml": {"schema": job_schema}
        }}),
        // No body is an empty job file, whose problem is the answer.
        BodyDoc::AnyJob => json!({"required": false, "content": {
            "application/json": {"schema": {}},
            "application/yaml": {"schema": {}}
        }}),
        BodyDoc::Text(media) => {
            json!({"required": true, "content": {media: {"schema": {"type": "string"}}}})
        }
        // No body is zero bytes: an empty log append or an empty blob.
        BodyDoc::Bytes => json!({"required": false, "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}),
    })
}

/// The success response of an operation answering `body`.
fn success_body(body: BodyDoc, generator: &mut SchemaGenerator) -> Value {
    match body {
        BodyDoc::None | BodyDoc::Job | BodyDoc::AnyJob => json!({"description": "Success"}),
        BodyDoc::Json(schema) => {
            json!({"description": "Success", "content": {"application/json": {"schema": schema(generator).to_value()}}})
        }
        BodyDoc::Bytes => json!({"description": "Success", "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}),
        BodyDoc::Text(media) => json!({"description": "Success", "content": {
            media: {"schema": {"type": "string"}}}}),
        BodyDoc::File(media) => json!({"description": "Success: a file of the web console, \
            gzip-compressed when the request accepts it", "content": {
            media: {"schema": {"type": "string"}}}}),
    }
}
