//! What the desktop app's tests drive it with, on the kit's private desktop
//! (`gantry_testkit::desktop`): a small W3C WebDriver client for
//! tauri-driver, and the wizard's and sidebar's steps that several tests
//! take.

#![allow(dead_code, missing_docs, missing_debug_implementations)]

use std::path::{Path, PathBuf};
use std::process::Stdio;

use gantry_testkit::children::Children;
use gantry_testkit::desktop::{Desktop, tauri_driver, webkit_driver};
use gantry_testkit::{free_port, until, within};
use serde_json::{Value, json};

/// The app under test, built by cargo beside this test.
pub fn app_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gantry-desktop"))
}

/// Chooses "Use this computer only" in the wizard and waits for local mode.
pub async fn choose_local_mode(driver: &Driver) {
    let local = driver.wait("[data-testid=wizard-local]", 60).await;
    driver.click(&local).await;
    driver
        .wait_text("[data-testid=status-connection]", 60, |t| {
            t.trim() == "local"
        })
        .await;
}

/// Opens a screen from the sidebar and waits for it.
pub async fn open_screen(driver: &Driver, name: &str) {
    let nav = driver.wait(&format!("[data-testid=nav-{name}]"), 30).await;
    driver.click(&nav).await;
    driver
        .wait(&format!("[data-testid=screen-{name}]"), 30)
        .await;
}

/// Clicks the Save of the Settings form whose test ids start with `form`
/// (`settings-yield`: `settings-yield-save`, `-saved`, `-error`) and waits
/// 120 s at most for its answer: `Ok` for saved, `Err` with the sentence in
/// its save bar. With no answer, fails with the app's log (the agent
/// restarts on a save).
pub async fn save_form(desktop: &Desktop, driver: &Driver, form: &str) -> Result<(), String> {
    let button = driver.wait(&format!("[data-testid={form}-save]"), 30).await;
    driver.click(&button).await;
    let answer = within(120, async || {
        if driver
            .find(&format!("[data-testid={form}-saved]"))
            .await
            .is_some()
        {
            return Some(Ok(()));
        }
        let error = driver.text_of(&format!("[data-testid={form}-error]")).await;
        (!error.is_empty()).then_some(Err(error))
    })
    .await;
    answer.unwrap_or_else(|| {
        panic!(
            "no answer to {form}'s Save within 120 s; the app's log:\n{}",
            desktop.app_log()
        )
    })
}

/// The app's settings file as JSON (`desktop.json` in the kit's config home).
pub fn kept_settings(desktop: &Desktop) -> Value {
    let path = desktop.config_dir().join("gantry/desktop.json");
    serde_json::from_slice(&std::fs::read(path).expect("desktop.json"))
        .expect("desktop.json is JSON")
}

/// A task the app's agent runs: its id, its container's id, and its log
/// once a line holds `marker`.
pub struct Probe {
    pub id: String,
    pub container: String,
    pub log: String,
}

/// Submits `name`, the test image running `sh -c script`, through the
/// app's `gantry` (local mode), and waits for its container and for a log
/// line holding `marker`.
pub async fn run_probe(desktop: &Desktop, name: &str, script: &str, marker: &str) -> Probe {
    let job = desktop.dir.path().join(format!("{name}.yaml"));
    let spec =
        json!({"name": name, "image": gantry_testkit::image(), "command": ["sh", "-c", script]});
    std::fs::write(&job, spec.to_string()).unwrap();
    let out = desktop.gantry(&["task", "submit", job.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "submit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let container = until(120, "the task's container", async || {
        let filter = format!("label=gantry.task={id}");
        let ids = gantry_testkit::docker(&["ps", "-q", "--filter", &filter]);
        ids.lines().next().map(str::to_owned)
    })
    .await;
    let log = until(60, "the task's probe lines", async || {
        let shown = desktop.gantry(&["task", "logs", &id]);
        let text = String::from_utf8_lossy(&shown.stdout).into_owned();
        text.contains(marker).then_some(text)
    })
    .await;
    Probe { id, container, log }
}

/// Cancels task `id` through the app's `gantry`.
pub fn cancel(desktop: &Desktop, id: &str) {
    let canceled = desktop.gantry(&["task", "cancel", id]);
    assert!(
        canceled.status.success(),
        "cancel failed: {}",
        String::from_utf8_lossy(&canceled.stderr)
    );
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// tauri-driver, and one session driving the app.
pub struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
    _driver: Children,
}

impl Driver {
    /// Starts tauri-driver on this desktop and the app through it.
    pub async fn start(desktop: &Desktop, args: &[&str]) -> Driver {
        Driver::start_with_env(desktop, args, &[]).await
    }

    /// Likewise, with more environment for the app.
    pub async fn start_with_env(desktop: &Desktop, args: &[&str], env: &[(&str, &str)]) -> Driver {
        Driver::start_app(desktop, &app_binary(), args, env).await
    }

    /// Starts tauri-driver on this desktop and `application` through it:
    /// the package test runs the installed copy this way.
    pub async fn start_app(
        desktop: &Desktop,
        application: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Driver {
        let port = free_port();
        let native = free_port();
        let child = desktop
            .command(tauri_driver().expect("tauri-driver"))
            .envs(env.iter().copied())
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .arg("--native-driver")
            .arg(webkit_driver().expect("WebKitWebDriver"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tauri-driver runs");
        let guard = Children(vec![child]);
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        until(30, "tauri-driver to answer", async || {
            http.get(format!("{base}/status"))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
        })
        .await;
        let response: Value = http
            .post(format!("{base}/session"))
            .json(&json!({
                "capabilities": {
                    "alwaysMatch": {
                        "tauri:options": {
                            "application": application,
                            "args": args,
                        }
                    }
                }
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = response["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {response}"))
            .to_owned();
        Driver {
            http,
            base,
            session,
            _driver: guard,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request.send().await.unwrap().json().await.unwrap();
        response["value"].clone()
    }

    /// The first element matching `css`, if any.
    pub async fn find(&self, css: &str) -> Option<String> {
        let value = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        value[ELEMENT].as_str().map(str::to_owned)
    }

    /// Waits for an element.
    pub async fn wait(&self, css: &str, secs: u64) -> String {
        until(secs, &format!("an element {css}"), async || {
            self.find(css).await
        })
        .await
    }

    pub async fn text(&self, element: &str) -> String {
        self.call(
            reqwest::Method::GET,
            &format!("/element/{element}/text"),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    pub async fn attribute(&self, element: &str, name: &str) -> Option<String> {
        self.call(
            reqwest::Method::GET,
            &format!("/element/{element}/attribute/{name}"),
            None,
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    /// Clicks an element; a click the driver refuses fails the test.
    pub async fn click(&self, element: &str) {
        let answer = self
            .call(
                reqwest::Method::POST,
                &format!("/element/{element}/click"),
                Some(json!({})),
            )
            .await;
        assert!(
            answer.get("error").is_none(),
            "the click was refused: {answer}"
        );
    }

    pub async fn clear(&self, element: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/clear"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn type_text(&self, element: &str, text: &str) {
        let keys: Vec<String> = text.chars().map(String::from).collect();
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({"text": text, "value": keys})),
        )
        .await;
    }

    /// Runs `script` in the page and returns its value.
    pub async fn script(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// The page's text content under `css` (works for hidden elements too).
    pub async fn text_of(&self, css: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.textContent : null;",
            serde_json::to_string(css).unwrap()
        );
        self.script(&script)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the text under `css` satisfies `check`.
    pub async fn wait_text(&self, css: &str, secs: u64, check: impl Fn(&str) -> bool) -> String {
        until(secs, &format!("the text of {css}"), async || {
            let text = self.text_of(css).await;
            check(&text).then_some(text)
        })
        .await
    }

    pub async fn screenshot(&self, path: &Path) {
        let value = self.call(reqwest::Method::GET, "/screenshot", None).await;
        if let Some(data) = value.as_str() {
            use std::io::Write as _;
            let bytes = base64_decode(data);
            let _ = std::fs::File::create(path).and_then(|mut f| f.write_all(&bytes));
        }
    }

    /// Ends the session (tauri-driver stops the app).
    pub async fn quit(self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in text.bytes() {
        let Some(value) = TABLE.iter().position(|&c| c == byte) else {
            continue;
        };
        buffer = (buffer << 6) | value as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}
