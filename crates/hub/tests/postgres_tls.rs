//! The hub reaches PostgreSQL over TLS: `sslmode=require` encrypts,
//! `sslmode=verify-full&sslrootcert=CA` also checks the server's certificate
//! against the CA, and a wrong CA is refused with an error that says it is
//! the certificate. Against the test server, which `cargo xtask test` starts
//! with TLS and whose CA it names in GANTRY_TEST_POSTGRES_CA.

use std::sync::Arc;

use gantry_hub::{Hub, HubConfig, SystemClock};
use gantry_testkit::hub::Database;
use gantry_testkit::services::postgres_ca;
use gantry_testkit::tls::TestCa;
use sqlx::Connection;

async fn open(url: &str) -> Result<Hub, gantry_hub::HubError> {
    let dir = tempfile::tempdir().unwrap();
    Hub::open(
        dir.path(),
        Some(url),
        HubConfig::default(),
        Arc::new(SystemClock),
    )
    .await
}

/// Whether a connection made with `url` is encrypted, by the server's own view.
async fn encrypted(url: &str) -> bool {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let (ssl,): (bool,) =
        sqlx::query_as("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    conn.close().await.ok();
    ssl
}

#[tokio::test]
async fn the_hub_reaches_postgres_over_tls_and_checks_its_certificate() {
    let Some(ca) = postgres_ca() else {
        return;
    };
    let Some(scratch) = Database::create().await else {
        return;
    };

    let require = scratch.url_with("sslmode=require");
    assert!(encrypted(&require).await, "sslmode=require encrypts");
    let hub = open(&require)
        .await
        .expect("the hub opens with sslmode=require");
    let node = hub.db().add_node("box", &[], hub.now()).await.unwrap();
    assert!(
        node.starts_with("gantry_node_"),
        "the schema works over TLS"
    );
    hub.db().close().await;

    let verified = scratch.url_with(&format!("sslmode=verify-full&sslrootcert={}", ca.display()));
    assert!(encrypted(&verified).await);
    let hub = open(&verified)
        .await
        .expect("the hub opens with verify-full and the server's CA");
    hub.db().close().await;

    // A CA that did not sign the server's certificate is refused, and said.
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong-ca.pem");
    TestCa::new("not the server's CA").write(&wrong);
    let error = open(&scratch.url_with(&format!(
        "sslmode=verify-full&sslrootcert={}",
        wrong.display()
    )))
    .await
    .expect_err("a wrong CA is refused");
    let said = format!("{error:#}").to_lowercase();
    assert!(said.contains("invalid peer certificate"), "{said}");
    assert!(
        said.contains(scratch.name()),
        "the database is named: {said}"
    );

    scratch.drop_it().await;
}
