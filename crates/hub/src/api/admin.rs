//! An admin's calls on nodes and tokens: enroll a node, show, rename,
//! relabel and remove one, rotate its token; list and revoke admin tokens.
//!
//! A node is named in the path by its name or its id. A node's new name and
//! labels reach its agent with the next heartbeat answer, and a removed
//! node's or a rotated token is refused at the agent's next call with a code
//! of its own (see `auth.rs`), so these handlers only record the change and
//! wake whoever waits on it.

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use gantry_protocol::admin::{
    NewNode, NodeChange, NodeRemoved, NodeToken, TokenList, TokensRevoked, node_name_problem,
};
use gantry_protocol::job::label_problem;
use gantry_protocol::wire::{Node, codes};

use super::auth::Admin;
use super::extract::{JsonBody, PathArg};
use super::{Access, BodyDoc, Endpoint, ParamDoc, ep, method, schema};
use crate::{ApiError, Hub};

/// The node a path names, by id or name; a 404 that says how to list them.
pub(super) async fn node_id(hub: &Hub, key: &str) -> Result<String, ApiError> {
    if key.is_empty() || key.len() > 200 || key.chars().any(char::is_control) {
        return Err(no_such_node(key));
    }
    hub.db()
        .find_node(key)
        .await?
        .ok_or_else(|| no_such_node(key))
}

fn no_such_node(key: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::NOT_FOUND,
        format!("no node is named or has the id \"{key}\"; gantry node list shows them"),
    )
}

/// The node with this id as listed, or a 404 (it went meanwhile).
async fn node_view(hub: &Hub, id: &str) -> Result<Node, ApiError> {
    let offline_after = hub.config().offline_after.as_millis() as i64;
    hub.db()
        .node(id, hub.now(), offline_after)
        .await?
        .ok_or_else(|| ApiError::not_found("node"))
}

/// Checks labels as `hub node add --label` does; `key` names the field.
fn check_labels(key: &str, labels: &[String]) -> Result<(), ApiError> {
    for (i, label) in labels.iter().enumerate() {
        if let Some(problem) = label_problem(label) {
            return Err(ApiError::bad_request(format!("{key}[{i}]: {problem}")));
        }
    }
    Ok(())
}

pub(super) async fn add_node(
    State(hub): State<Hub>,
    _: Admin,
    JsonBody(new): JsonBody<NewNode>,
) -> Result<Response, ApiError> {
    if let Some(problem) = node_name_problem(&new.name) {
        return Err(ApiError::bad_request(format!("name: {problem}")));
    }
    check_labels("labels", &new.labels)?;
    let token = hub.db().add_node(&new.name, &new.labels, hub.now()).await?;
    let id = node_id(&hub, &new.name).await?;
    let node = node_view(&hub, &id).await?;
    hub.signals().nodes_changed();
    tracing::info!(node = %node.name, "node added");
    Ok((StatusCode::CREATED, Json(NodeToken { node, token })).into_response())
}

pub(super) async fn show_node(
    State(hub): State<Hub>,
    _: Admin,
    PathArg(key): PathArg,
) -> Result<Json<Node>, ApiError> {
    let id = node_id(&hub, &key).await?;
    Ok(Json(node_view(&hub, &id).await?))
}

pub(super) async fn change_node(
    State(hub): State<Hub>,
    _: Admin,
    PathArg(key): PathArg,
    JsonBody(change): JsonBody<NodeChange>,
) -> Result<Json<Node>, ApiError> {
    if let Some(name) = &change.name
        && let Some(problem) = node_name_problem(name)
    {
        return Err(ApiError::bad_request(format!("name: {problem}")));
    }
    check_labels("add_labels", &change.add_labels)?;
    check_labels("remove_labels", &change.remove_labels)?;
    if let Some(both) = change
        .add_labels
        .iter()
        .find(|label| change.remove_labels.contains(label))
    {
        return Err(ApiError::bad_request(format!(
            "the label {both} is both added and removed; say one"
        )));
    }
    let id = node_id(&hub, &key).await?;
    if let Some(name) = &change.name {
        hub.db().rename_node(&id, name).await?;
        tracing::info!(node = %id, %name, "node renamed");
    }
    if !change.add_labels.is_empty() || !change.remove_labels.is_empty() {
        hub.db()
            .change_labels(&id, &change.add_labels, &change.remove_labels)
            .await?;
        // A new label can make queued tasks match this node.
        hub.signals().wake_all_pollers();
    }
    hub.signals().nodes_changed();
    Ok(Json(node_view(&hub, &id).await?))
}

pub(super) async fn remove_node(
    State(hub): State<Hub>,
    Admin(by): Admin,
    PathArg(key): PathArg,
) -> Result<Json<NodeRemoved>, ApiError> {
    let id = node_id(&hub, &key).await?;
    let removed = hub
        .db()
        .remove_node(&id, hub.now())
        .await?
        .ok_or_else(|| no_such_node(&key))?;
    for task in removed.failed.iter().chain(&removed.canceled) {
        hub.signals().task_changed(task);
    }
    hub.samples().forget(&id);
    hub.signals().nodes_changed();
    tracing::info!(node = %removed.name, by = %by, failed = removed.failed.len(), canceled = removed.canceled.len(), "node removed");
    Ok(Json(removed))
}

pub(super) async fn rotate_token(
    State(hub): State<Hub>,
    Admin(by): Admin,
    PathArg(key): PathArg,
) -> Result<Json<NodeToken>, ApiError> {
    let id = node_id(&hub, &key).await?;
    let token = hub.db().rotate_node_token(&id, hub.now()).await?;
    let node = node_view(&hub, &id).await?;
    hub.signals().nodes_changed();
    tracing::info!(node = %node.name, by = %by, "node token rotated");
    Ok(Json(NodeToken { node, token }))
}

pub(super) async fn list_tokens(
    State(hub): State<Hub>,
    _: Admin,
) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(TokenList {
        tokens: hub.db().admin_tokens().await?,
    }))
}

pub(super) async fn revoke_token(
    State(hub): State<Hub>,
    Admin(by): Admin,
    PathArg(name): PathArg,
) -> Result<Json<TokensRevoked>, ApiError> {
    let revoked = hub.db().revoke_admin_tokens(&name, hub.now()).await?;
    if revoked == 0 {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            format!("no admin token is named \"{name}\"; gantry hub token list shows them"),
        ));
    }
    tracing::info!(%name, by = %by, revoked, "admin token revoked");
    Ok(Json(TokensRevoked { name, revoked }))
}

/// The `{node}` of the node routes.
const NODE: ParamDoc = ParamDoc {
    name: "node",
    location: "path",
    required: true,
    kind: "string",
    description: "The node's name or id",
};

/// The routes of this file, for [`super::endpoints`].
pub(super) fn endpoints(json_limit: DefaultBodyLimit) -> Vec<Endpoint> {
    vec![
        ep(
            Method::POST,
            "/v1/nodes",
            "Adds a node; its token is in the answer, shown this once",
            Access::Admin,
            &[],
            BodyDoc::Json(schema::<NewNode>),
            (201, BodyDoc::Json(schema::<NodeToken>)),
            on(method(Method::POST), add_node).layer(json_limit),
        ),
        ep(
            Method::GET,
            "/v1/nodes/{node}",
            "Shows a node, with its labels given at the hub and those its agent reports",
            Access::Admin,
            &[NODE],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<Node>)),
            on(method(Method::GET), show_node),
        ),
        ep(
            Method::PATCH,
            "/v1/nodes/{node}",
            "Renames a node or changes its labels; its agent learns them at its next heartbeat",
            Access::Admin,
            &[NODE],
            BodyDoc::Json(schema::<NodeChange>),
            (200, BodyDoc::Json(schema::<Node>)),
            on(method(Method::PATCH), change_node).layer(json_limit),
        ),
        ep(
            Method::DELETE,
            "/v1/nodes/{node}",
            "Removes a node: queued tasks meant for it fail, its held tasks are canceled, its token is refused",
            Access::Admin,
            &[NODE],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<NodeRemoved>)),
            on(method(Method::DELETE), remove_node),
        ),
        ep(
            Method::POST,
            "/v1/nodes/{node}/token",
            "Gives a node a new token, shown this once; the old one is refused from now on",
            Access::Admin,
            &[NODE],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<NodeToken>)),
            on(method(Method::POST), rotate_token),
        ),
        ep(
            Method::GET,
            "/v1/tokens",
            "Lists the admin tokens: names, when made and last used; never the tokens",
            Access::Admin,
            &[],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<TokenList>)),
            on(method(Method::GET), list_tokens),
        ),
        ep(
            Method::DELETE,
            "/v1/tokens/{name}",
            "Revokes the admin tokens of this name; they are refused from now on",
            Access::Admin,
            &[ParamDoc {
                name: "name",
                location: "path",
                required: true,
                kind: "string",
                description: "The name given at gantry hub token create --admin NAME",
            }],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<TokensRevoked>)),
            on(method(Method::DELETE), revoke_token),
        ),
    ]
}
