//! Data in and out end to end, as a person does it: real `gantry` processes
//! (the hub, a headless agent running Docker tasks, the CLI), a folder of
//! 10,000 files uploaded by `gantry task submit`, seen byte-exact and
//! read-only by the task, and its outputs brought back through the hub, from
//! the node that keeps them or from the hub's blobs.
//!
//! The `gantry` binary is the one `cargo build -p gantry-cli` made next to
//! this test (see `desktop::cli_binary`), or `GANTRY_BIN` when set (a copy
//! kept apart from a target folder that several checkouts share).

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use gantry_testkit::desktop::cli_binary;
use gantry_testkit::{
    AgentLaunch, HubChild, HubTokens, Process, as_admin, docker_ready, image, node_and_admin,
    quick_hub, until_blocking,
};
use serde_json::Value;
use sha2::Digest;

/// How many files the input folder holds.
const FILES: usize = 10_000;

/// A hub and a Docker agent as child processes, and the admin's CLI.
struct Site {
    gantry: PathBuf,
    hub: HubChild,
    admin: String,
    agent: Option<Process>,
    dir: tempfile::TempDir,
}

impl Site {
    /// The hub (offline after 3 s of silence) and an agent named `box`
    /// keeping outputs locally unless `keep_local` is false.
    fn start(keep_local: bool) -> Site {
        let gantry = std::env::var_os("GANTRY_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(cli_binary);
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("hub");
        let HubTokens { node, admin } = node_and_admin(&gantry, &data, "box");
        let hub =
            HubChild::start(quick_hub(&gantry, &data).args(["--offline-after", "3"])).unwrap();
        let launch = AgentLaunch {
            gantry: gantry.clone(),
            server: hub.url(""),
            token: node,
            name: "box".into(),
            host_dir: dir.path().join("agent"),
            config_home: dir.path().to_owned(),
            docker_host: std::env::var("DOCKER_HOST").ok(),
            args: Vec::new(),
        };
        let agent = Process::spawn(
            launch
                .command()
                .env("WITH_LOCAL_STORAGE", keep_local.to_string())
                .env("RUST_LOG", "warn")
                .stderr(Stdio::null()),
        )
        .unwrap();
        Site {
            gantry,
            hub,
            admin,
            agent: Some(agent),
            dir,
        }
    }

    fn gantry(&self, args: &[&str]) -> Output {
        as_admin(&self.gantry, &self.hub.url(""), &self.admin)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    /// Runs the CLI and insists it succeeds; its stdout and stderr.
    fn ok(&self, args: &[&str]) -> (String, String) {
        let output = self.gantry(args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "gantry {args:?}: {stderr}");
        (String::from_utf8(output.stdout).unwrap(), stderr)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn task(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["task", "show", id, "--json"]).0).unwrap()
    }

    /// Waits for the task to end and says it succeeded.
    fn succeeded(&self, id: &str) {
        let task = until_blocking(300, &format!("task {id} to end"), || {
            let task = self.task(id);
            matches!(
                task["state"].as_str(),
                Some("succeeded" | "failed" | "canceled")
            )
            .then_some(task)
        });
        assert_eq!(task["state"], "succeeded", "{task}");
    }
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A folder of [`FILES`] small files in nested folders, one of them an
/// executable script; returns the `sha256sum` lines the task should print
/// for it, sorted as `sort` sorts them.
fn make_dataset(root: &Path) -> String {
    let mut lines = Vec::new();
    for i in 0..FILES - 1 {
        let relative = format!("part-{:02}/group-{:02}/item-{i:05}.txt", i % 17, i % 5);
        let bytes = format!("sample {i}\n{}\n", "x".repeat(i % 300));
        let path = root.join(&relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        lines.push((format!("./{relative}"), sha(bytes.as_bytes())));
    }
    let script = b"#!/bin/sh\necho the script ran\n";
    std::fs::create_dir_all(root.join("tools")).unwrap();
    std::fs::write(root.join("tools/run.sh"), script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        root.join("tools/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    lines.push(("./tools/run.sh".into(), sha(script)));
    lines.sort();
    lines
        .iter()
        .map(|(path, sha)| format!("{sha}  {path}\n"))
        .collect()
}

/// The job: check the folder (sums, read-only, the script runs), write a
/// 5 MB output and the checks to `out/`.
fn job_text() -> String {
    format!(
        "image: {}\n\
         command: [sh, -c, 'mkdir -p out && cd data && find . -type f | sort | xargs sha256sum > ../out/sums.txt && cd .. \
         && (touch data/new 2>/dev/null && echo WRITABLE || echo READONLY) > out/ro.txt \
         && ./data/tools/run.sh > out/ran.txt && yes gantry | head -c 5000000 > out/big.bin']\n\
         inputs: {{./dataset: data}}\n\
         outputs: [out]\n",
        image()
    )
}

/// The bytes the job writes to out/big.bin.
fn big_bin() -> Vec<u8> {
    b"gantry\n"
        .iter()
        .copied()
        .cycle()
        .take(5_000_000)
        .collect()
}

/// Checks what `gantry task download` brought into `out`.
fn check_download(out: &Path, sums: &str) {
    let got = std::fs::read_to_string(out.join("out/sums.txt")).unwrap();
    assert!(
        got == sums,
        "the task saw other bytes than the folder holds"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("out/ro.txt")).unwrap(),
        "READONLY\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("out/ran.txt")).unwrap(),
        "the script ran\n"
    );
    assert!(std::fs::read(out.join("out/big.bin")).unwrap() == big_bin());
}

#[test]
fn a_folder_goes_in_and_node_kept_outputs_come_out() {
    if !docker_ready() {
        eprintln!("SKIPPED: no Docker engine with the test image");
        return;
    }
    let mut site = Site::start(true);
    let sums = make_dataset(&site.path("dataset"));
    std::fs::write(site.path("job.yaml"), job_text()).unwrap();

    let (stdout, stderr) = site.ok(&["task", "submit", "job.yaml"]);
    let id = stdout.trim().to_owned();
    assert!(
        stderr.contains(&format!("inputs: {FILES} files ("))
            && stderr.contains("sent, 0 (0 B) already on the hub"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\r'),
        "no progress bar when stderr is not a terminal: {stderr:?}"
    );
    // The job went to the hub as one folder reference.
    let spec = &site.task(&id)["spec"];
    let keys: Vec<&String> = spec["inputs"].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].starts_with("tree:"), "{keys:?}");
    site.succeeded(&id);

    // Submitted again: nothing is sent, the same folder reference is used.
    let (again, stderr) = site.ok(&["task", "submit", "job.yaml"]);
    assert!(
        stderr.contains(&format!("0 files (0 B) sent, {FILES} (")),
        "{stderr}"
    );
    assert_eq!(site.task(again.trim())["spec"]["inputs"], spec["inputs"]);
    site.succeeded(again.trim());

    // Its outputs are kept on the node, listed as such.
    let (listed, _) = site.ok(&["task", "outputs", &id, "--json"]);
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let outputs = listed["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 4, "{listed}");
    for output in outputs {
        assert_eq!(output["where"], "node", "{output}");
        assert_eq!(output["node"], "box");
    }
    let (table, _) = site.ok(&["task", "outputs", &id]);
    assert!(
        table.contains("out/big.bin") && table.contains("node box"),
        "{table}"
    );

    // Downloaded through the hub, byte-exact; nothing kept on the hub.
    let (printed, _) = site.ok(&["task", "download", &id, "--out", "got"]);
    assert_eq!(printed.lines().count(), 4, "{printed}");
    check_download(&site.path("got"), &sums);
    assert!(
        !site
            .path(&format!("hub/blobs/{}", &sha(&big_bin())[..2]))
            .join(&sha(&big_bin())[2..5])
            .join(sha(&big_bin()))
            .exists(),
        "a node-kept output was stored on the hub"
    );
    // One path, into the default folder ./<task id>/.
    site.ok(&["task", "download", &id, "out/ran.txt"]);
    assert_eq!(
        std::fs::read_to_string(site.path(&id).join("out/ran.txt")).unwrap(),
        "the script ran\n"
    );

    // The node's copy changes (same length, other bytes): the download is
    // refused, and nothing is kept.
    let kept = site
        .path("agent/storage/results")
        .join(&id)
        .join("out/ran.txt");
    let _ = std::fs::remove_file(&kept);
    std::fs::write(&kept, "the script RAN\n").unwrap();
    let output = site.gantry(&["task", "download", &id, "out/ran.txt", "--out", "bad"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the bytes received hash to") && stderr.contains("nothing was kept"),
        "{stderr}"
    );
    assert!(!site.path("bad/out/ran.txt").exists());

    // The node goes away: the download says which node and since when.
    site.agent.take().unwrap().kill();
    until_blocking(30, "the hub to see the node offline", || {
        let (listed, _) = site.ok(&["task", "outputs", &id, "--json"]);
        let listed: Value = serde_json::from_str(&listed).unwrap();
        (listed["outputs"][0]["node_online"] == false).then_some(())
    });
    let output = site.gantry(&["task", "download", &id, "--out", "late"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is kept on node box, which is offline (last seen "),
        "{stderr}"
    );
}

#[test]
fn outputs_uploaded_to_the_hub_come_out() {
    if !docker_ready() {
        eprintln!("SKIPPED: no Docker engine with the test image");
        return;
    }
    let site = Site::start(false);
    let sums = make_dataset(&site.path("dataset"));
    std::fs::write(site.path("job.yaml"), job_text()).unwrap();
    let (stdout, _) = site.ok(&["task", "submit", "job.yaml"]);
    let id = stdout.trim().to_owned();
    site.succeeded(&id);
    let (listed, _) = site.ok(&["task", "outputs", &id, "--json"]);
    let listed: Value = serde_json::from_str(&listed).unwrap();
    for output in listed["outputs"].as_array().unwrap() {
        assert_eq!(output["where"], "hub", "{output}");
        assert!(output.get("node").is_none());
    }
    site.ok(&["task", "download", &id, "--out", "got"]);
    check_download(&site.path("got"), &sums);
}

#[test]
fn blob_put_sends_once() {
    let site = Site::start(true);
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(site.path("weights.bin"), &bytes).unwrap();
    std::fs::write(site.path("notes.txt"), b"notes").unwrap();
    let (stdout, stderr) = site.ok(&["blob", "put", "weights.bin", "notes.txt"]);
    assert_eq!(
        stdout,
        format!(
            "{}  weights.bin\n{}  notes.txt\n",
            sha(&bytes),
            sha(b"notes")
        )
    );
    assert_eq!(stderr, "", "no bar and nothing skipped");
    let (again, stderr) = site.ok(&["blob", "put", "weights.bin"]);
    assert_eq!(again, format!("{}  weights.bin\n", sha(&bytes)));
    assert_eq!(stderr, "weights.bin: already on the hub\n");
    // What the hub holds is the file, byte for byte: a job may name it.
    let job = format!(
        "executor: process\ncommand: [sh, -c, 'sha256sum model.bin']\ninputs: {{{}: model.bin}}\n",
        sha(&bytes)
    );
    std::fs::write(site.path("job.yaml"), job).unwrap();
    site.ok(&["task", "submit", "job.yaml"]);
    // Local inputs that are not there, or keys that are neither form, are said.
    std::fs::write(
        site.path("gone.yaml"),
        "executor: process\ncommand: ['true']\ninputs: {./gone: data}\n",
    )
    .unwrap();
    let output = site.gantry(&["task", "submit", "gone.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("inputs: ./gone: cannot read"), "{stderr}");
    std::fs::write(
        site.path("bare.yaml"),
        "executor: process\ncommand: ['true']\ninputs: {dataset: data}\n",
    )
    .unwrap();
    let output = site.gantry(&["task", "submit", "bare.yaml"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("start a local file or folder with ./"),
        "{stderr}"
    );
    let output = site.gantry(&["blob", "put", "missing.bin"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read missing.bin"));
}
