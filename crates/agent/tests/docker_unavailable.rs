//! The Docker executor when the engine is missing or stuck: clear errors,
//! bounded by DOCKER_API_CALL_TIMEOUT, never a hang.

use std::time::Duration;

use gantry_agent::docker::Engine;
use gantry_agent::executor::ExecError;

#[tokio::test]
async fn a_stuck_engine_times_out_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker.sock");
    // A real socket that accepts connections and never answers, like a hung daemon.
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    // The outer timeout only guards against a hang; the call must end by itself.
    let host = format!("unix://{}", path.display());
    let connect = Engine::connect(Some(&host), Duration::from_secs(1));
    let error = tokio::time::timeout(Duration::from_secs(60), connect)
        .await
        .expect("the call ends on its own")
        .unwrap_err();
    assert!(matches!(error, ExecError::Timeout(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("did not answer"), "{message}");
    hold.abort();
}

#[tokio::test]
async fn a_missing_engine_says_how_to_fix_it() {
    let error = Engine::connect(
        Some("unix:///nonexistent/docker.sock"),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, ExecError::DockerUnavailable(_)),
        "{error:?}"
    );
    assert!(error.to_string().contains("start Docker"), "{error}");
    let error = Engine::connect(Some("ssh://somewhere"), Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("is not understood"), "{error}");
}
