//! The OpenAPI 3.1 document, built from the endpoint table and the protocol
//! crate's JSON Schemas.
//!
//! A pure function of [`crate::api`]'s table: this module reads the table's
//! description types and nothing else of the hub, and `api` does not import
//! it (the crate root builds the document and `Hub` keeps it), so the two
//! depend one way.

use gantry_protocol::JobSpec;
use gantry_protocol::wire::ErrorBody;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::api::{Access, BodyDoc, Endpoint};

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
                    "description": p.description, "schema": {"type": p.kind}
                })
            })
            .collect();
        if !params.is_empty() {
            operation.insert("parameters".into(), Value::Array(params));
        }
        match endpoint.request {
            BodyDoc::None => {}
            BodyDoc::Json(schema) => {
                let schema = schema(&mut generator).to_value();
                operation.insert(
                    "requestBody".into(),
                    json!({"required": true, "content": {"application/json": {"schema": schema}}}),
                );
            }
            BodyDoc::Job => {
                operation.insert(
                    "requestBody".into(),
                    json!({"required": true, "content": {
                        "application/json": {"schema": job_schema},
                        "application/yaml": {"schema": job_schema}
                    }}),
                );
            }
            BodyDoc::Bytes => {
                operation.insert(
                    "requestBody".into(),
                    json!({"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}),
                );
            }
        }
        let (status, body) = endpoint.response;
        let success = match body {
            BodyDoc::None | BodyDoc::Job => json!({"description": "Success"}),
            BodyDoc::Json(schema) => {
                json!({"description": "Success", "content": {"application/json": {"schema": schema(&mut generator).to_value()}}})
            }
            BodyDoc::Bytes => json!({"description": "Success", "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}),
        };
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
        let security = match endpoint.access {
            Access::Public => json!([]),
            Access::Admin => json!([{"adminToken": []}]),
            Access::Node => json!([{"nodeToken": []}]),
            Access::AdminOrNode => json!([{"adminToken": []}, {"nodeToken": []}]),
        };
        operation.insert("security".into(), security);

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

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Gantry hub",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The control plane agents take tasks from and people submit tasks to. \
                Every call but health and this document needs `Authorization: Bearer <token>`."
        },
        "paths": paths,
        "components": {
            "schemas": generator.take_definitions(true),
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer", "description": "An admin token (gantry hub token create --admin NAME)"},
                "nodeToken": {"type": "http", "scheme": "bearer", "description": "A node token (gantry hub node add NAME)"}
            }
        }
    })
}
