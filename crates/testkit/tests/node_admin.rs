//! The client's side of node administration against a real hub: a token the
//! hub refuses for good is said on the client's refusal watch whichever call
//! met it (a task's event here, not a heartbeat), which is how the agent stops
//! at the first such call.

use gantry_client::{HubClient, Token};
use gantry_protocol::wire::{TaskEvent, codes};
use gantry_testkit::{Backend, TestHub};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_on_any_call_is_said_on_the_refusal_watch() {
    let hub = TestHub::start(Backend::Sqlite).await.unwrap();
    let token = hub.registered_node("box", &[]).await;
    let id = hub.submit(json!({"image": "x"})).await;
    assert_eq!(hub.next(&token, 1).await.as_deref(), Some(id.as_str()));
    let client = HubClient::new(&hub.url, Token::new(token)).unwrap();
    let clone = client.clone();
    let refusal = client.refusal();
    clone.event(&id, &TaskEvent::Running {}).await.unwrap();
    assert!(refusal.borrow().is_none());

    // Another 401 (a token the hub never knew) is not a refusal for good.
    let stranger = HubClient::new(&hub.url, Token::new("gantry_node_00")).unwrap();
    let error = stranger
        .event(&id, &TaskEvent::Running {})
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(codes::UNAUTHORIZED));
    assert!(!error.is_refusal());
    assert!(stranger.refusal().borrow().is_none());

    let node = hub.hub.db().find_node("box").await.unwrap().unwrap();
    hub.hub
        .db()
        .rotate_node_token(&node, hub.hub.now())
        .await
        .unwrap();
    let error = clone.event(&id, &TaskEvent::Running {}).await.unwrap_err();
    assert!(error.is_refusal(), "{error}");
    assert_eq!(error.code(), Some(codes::TOKEN_REPLACED));
    let said = refusal
        .borrow()
        .clone()
        .expect("the clone's refusal reaches the original");
    assert_eq!(said.code, codes::TOKEN_REPLACED);
    assert!(said.message.contains("was replaced at"), "{}", said.message);
    hub.stop().await;
}
