//! The layers of the agent's settings, resolved from made-up flags,
//! environments and files.

use std::collections::HashMap;

use super::*;

fn resolve(flags: Flags, env: &[(&str, &str)]) -> Result<AgentConfig, ConfigError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    AgentConfig::resolve(flags, &|name| env.get(name).cloned(), None)
}

#[test]
fn defaults_follow_the_seed() {
    let config = resolve(
        Flags {
            host_dir: Some("/h".into()),
            ..Default::default()
        },
        &[],
    )
    .unwrap();
    assert!(config.with_local_storage && config.pull_always && config.default_timeouts);
    assert!(config.delete_task_dir_on_finish && !config.delete_task_dir_on_failure);
    assert_eq!(config.docker_api_call_timeout, Duration::from_secs(60));
    assert_eq!(config.max_tasks, 1);
    assert!(config.token.is_none() && config.statsd.is_none());
}

#[test]
fn flag_beats_env_beats_alias() {
    let env = [
        ("GANTRY_SERVER", "http://env"),
        ("SERVER_ADDRESS", "http://alias"),
        ("ACCESS_TOKEN", "t0k"),
    ];
    let config = resolve(
        Flags {
            server: Some("http://flag".into()),
            ..Default::default()
        },
        &env,
    )
    .unwrap();
    assert_eq!(config.server.as_deref(), Some("http://flag"));
    assert_eq!(config.token.as_ref().map(Token::expose), Some("t0k"));
    let config = resolve(Flags::default(), &env).unwrap();
    assert_eq!(config.server.as_deref(), Some("http://env"));
    let config = resolve(
        Flags::default(),
        &[("SERVER_ADDRESS", "http://alias"), ("AGENT_HOST_DIR", "/x")],
    )
    .unwrap();
    assert_eq!(config.server.as_deref(), Some("http://alias"));
    assert_eq!(config.host_dir, PathBuf::from("/x"));
}

#[test]
fn seed_variables_are_read() {
    let env = [
        ("WITH_LOCAL_STORAGE", "false"),
        ("PULL_ALWAYS", "0"),
        ("DELETE_TASK_DIR_ON_FAILURE", "yes"),
        ("DOCKER_API_CALL_TIMEOUT", "5"),
        ("DOCKER_REGISTRY", "a.io,b.io:5000"),
        ("DOCKER_LOGIN", "u1,u2"),
        ("DOCKER_PASSWORD", "p1,p2"),
    ];
    let config = resolve(Flags::default(), &env).unwrap();
    assert!(!config.with_local_storage && !config.pull_always && config.delete_task_dir_on_failure);
    assert_eq!(config.docker_api_call_timeout, Duration::from_secs(5));
    assert_eq!(config.registries[1].registry, "b.io:5000");
    assert_eq!(config.registries[1].password, "p2");
    assert!(
        !format!("{config:?}").contains("p2"),
        "passwords never print"
    );
    let error = resolve(
        Flags::default(),
        &[("DOCKER_REGISTRY", "a.io"), ("DOCKER_LOGIN", "u")],
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("one login and one password per registry"),
        "{error}"
    );
    let error = resolve(Flags::default(), &[("PULL_ALWAYS", "sometimes")]).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("PULL_ALWAYS=sometimes is not true or false"),
        "{error}"
    );
    let error = resolve(Flags::default(), &[("GANTRY_MAX_TASKS", "many")]).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("GANTRY_MAX_TASKS=many is not a whole number"),
        "{error}"
    );
}

#[test]
fn ca_file_and_insecure_http_follow_the_layers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.toml");
    std::fs::write(
        &file,
        "ca_file = \"/file/ca.pem\"\nallow_insecure_http = true\n",
    )
    .unwrap();
    let with_file = || Flags {
        config_file: Some(file.clone()),
        ..Default::default()
    };
    let config = resolve(with_file(), &[]).unwrap();
    assert_eq!(config.ca_file, Some(PathBuf::from("/file/ca.pem")));
    assert!(config.allow_insecure_http);
    let env = [
        ("GANTRY_CA_FILE", "/env/ca.pem"),
        ("GANTRY_ALLOW_INSECURE_HTTP", "false"),
    ];
    let config = resolve(with_file(), &env).unwrap();
    assert_eq!(config.ca_file, Some(PathBuf::from("/env/ca.pem")));
    assert!(
        !config.allow_insecure_http,
        "the environment beats the file"
    );
    let flags = Flags {
        ca_file: Some("/flag/ca.pem".into()),
        allow_insecure_http: true,
        ..with_file()
    };
    let config = resolve(flags, &env).unwrap();
    assert_eq!(config.ca_file, Some(PathBuf::from("/flag/ca.pem")));
    assert!(config.allow_insecure_http, "the flag beats the environment");
    let config = resolve(Flags::default(), &[]).unwrap();
    assert!(config.ca_file.is_none() && !config.allow_insecure_http);
}

#[test]
fn config_file_layer_and_token_rules() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "gantry_node_abc\n").unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let file = dir.path().join("agent.toml");
    std::fs::write(
        &file,
        format!(
            "server = \"http://file\"\nmax_tasks = 3\nlabels = [\"gpu\"]\ntoken_file = \"{}\"\n",
            token_file.display()
        ),
    )
    .unwrap();
    let flags = || Flags {
        config_file: Some(file.clone()),
        no_hostname_label: true,
        ..Default::default()
    };
    let config = resolve(flags(), &[("GANTRY_MAX_TASKS", "2")]).unwrap();
    assert_eq!(config.server.as_deref(), Some("http://file"));
    assert_eq!(config.max_tasks, 2, "env beats the file");
    assert_eq!(config.labels, ["gpu"]);
    assert_eq!(
        config.token.as_ref().map(Token::expose),
        Some("gantry_node_abc")
    );

    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(
        resolve(flags(), &[])
            .unwrap_err()
            .to_string()
            .contains("chmod 600")
    );
    std::fs::write(&file, "token = \"secret\"\n").unwrap();
    let error = resolve(flags(), &[]).unwrap_err().to_string();
    assert!(
        error.contains("must not be written in the config file") && !error.contains("secret"),
        "{error}"
    );
    std::fs::write(&file, "max_taks = 2\n").unwrap();
    assert!(
        resolve(flags(), &[])
            .unwrap_err()
            .to_string()
            .contains("unknown field `max_taks`")
    );
    let missing = Flags {
        config_file: Some(dir.path().join("nope.toml")),
        ..Default::default()
    };
    assert!(
        resolve(missing, &[])
            .unwrap_err()
            .to_string()
            .contains("does not exist")
    );
}

#[test]
fn host_dir_alone_follows_the_same_chain() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.toml");
    // A file whose other settings would not resolve (no token,
    // max_tasks of 0) still places the agent.
    std::fs::write(&file, "host_dir = \"/from/file\"\nmax_tasks = 0\n").unwrap();
    let env: HashMap<&str, &str> = HashMap::from([("GANTRY_CONFIG", file.to_str().unwrap())]);
    let read = |name: &str| env.get(name).map(|v| v.to_string());
    let host_dir =
        |flag: Option<PathBuf>| AgentConfig::resolve_host_dir(flag, None, &read, None).unwrap();
    assert_eq!(host_dir(None), PathBuf::from("/from/file"));
    assert_eq!(host_dir(Some("/flag".into())), PathBuf::from("/flag"));
    let with_env = |name: &str| match name {
        "AGENT_HOST_DIR" => Some("/env".to_owned()),
        _ => read(name),
    };
    assert_eq!(
        AgentConfig::resolve_host_dir(None, None, &with_env, None).unwrap(),
        PathBuf::from("/env"),
        "the environment beats the file"
    );
    assert_eq!(
        AgentConfig::resolve_host_dir(None, None, &|_| None, Some(file.clone())).unwrap(),
        PathBuf::from("/from/file"),
        "the default file is read when it exists"
    );
    assert_eq!(
        AgentConfig::resolve_host_dir(None, None, &|_| None, None).unwrap(),
        default_host_dir()
    );
    assert!(
        AgentConfig::resolve_host_dir(None, Some(dir.path().join("nope.toml")), &|_| None, None)
            .is_err()
    );
}

#[test]
fn yield_rules_default_to_none_but_gpu_programs() {
    let config = resolve(Flags::default(), &[]).unwrap();
    let y = &config.yielding;
    assert!(y.quiet_hours.is_empty() && y.exclusive_apps.is_empty());
    assert!(y.when_active.is_none() && y.above_temp_c.is_none() && !y.on_battery);
    assert!(y.gpu_programs);
    assert_eq!(y.action, crate::yielding::YieldAction::Freeze);
    assert_eq!(y.grace, Duration::from_secs(10));
    assert_eq!(y.settle, Duration::from_secs(60));
    assert!(config.reserve_gpus.is_empty());
}

#[test]
fn yield_rules_come_from_flags_environment_and_file_in_that_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.toml");
    std::fs::write(
        &file,
        r#"quiet_hours = ["mon-fri 09:00-18:00", "sat,sun 22:00-07:00"]
yield_when_active = 5
yield_on_battery = true
exclusive_app = ["blender", "steam"]
yield_above_temp = 85
ignore_gpu_programs = true
yield_action = "release"
yield_grace = 30
settle = 120
reserve_gpu = [1]
"#,
    )
    .unwrap();
    let with_file = |yielding: YieldFlags| Flags {
        config_file: Some(file.clone()),
        yielding,
        ..Default::default()
    };
    let config = resolve(with_file(YieldFlags::default()), &[]).unwrap();
    let y = &config.yielding;
    assert_eq!(
        y.quiet_hours,
        ["mon-fri 09:00-18:00", "sat,sun 22:00-07:00"]
    );
    assert_eq!(y.when_active, Some(Duration::from_secs(300)));
    assert!(y.on_battery && !y.gpu_programs);
    assert_eq!(y.exclusive_apps, ["blender", "steam"]);
    assert_eq!(y.above_temp_c, Some(85));
    assert_eq!(y.action, crate::yielding::YieldAction::Release);
    assert_eq!(
        (y.grace, y.settle),
        (Duration::from_secs(30), Duration::from_secs(120))
    );
    assert_eq!(config.reserve_gpus, [1]);

    let env = [
        ("GANTRY_QUIET_HOURS", "mon 01:00-02:00; tue 03:00-04:00"),
        ("GANTRY_YIELD_WHEN_ACTIVE", "2"),
        ("GANTRY_EXCLUSIVE_APP", "resolve, obs"),
        ("GANTRY_YIELD_ACTION", "Freeze"),
        ("GANTRY_SETTLE", "5"),
        ("GANTRY_RESERVE_GPU", "2,0,2"),
    ];
    let config = resolve(with_file(YieldFlags::default()), &env).unwrap();
    let y = &config.yielding;
    assert_eq!(y.quiet_hours, ["mon 01:00-02:00", "tue 03:00-04:00"]);
    assert_eq!(y.when_active, Some(Duration::from_secs(120)));
    assert_eq!(y.exclusive_apps, ["resolve", "obs"]);
    assert_eq!(y.action, crate::yielding::YieldAction::Freeze);
    assert_eq!(y.settle, Duration::from_secs(5));
    assert_eq!(
        y.grace,
        Duration::from_secs(30),
        "the file's, no variable set"
    );
    assert_eq!(config.reserve_gpus, [0, 2]);

    let flags = YieldFlags {
        quiet_hours: vec!["sun 10:00-11:00".into()],
        when_active: Some(0),
        exclusive_apps: vec!["darktable".into()],
        action: Some("release".into()),
        settle: Some(0),
        reserve_gpus: vec![3],
        ..Default::default()
    };
    let config = resolve(with_file(flags), &env).unwrap();
    let y = &config.yielding;
    assert_eq!(y.quiet_hours, ["sun 10:00-11:00"]);
    assert_eq!(y.when_active, None, "0 minutes turns the rule off");
    assert_eq!(y.exclusive_apps, ["darktable"]);
    assert_eq!(y.action, crate::yielding::YieldAction::Release);
    assert_eq!(y.settle, Duration::ZERO);
    assert_eq!(config.reserve_gpus, [3]);
}

#[test]
fn bad_yield_rules_name_where_they_were_written_and_what_to_write() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.toml");
    std::fs::write(&file, "quiet_hours = [\"weekdays 9-17\"]\n").unwrap();
    let error = resolve(
        Flags {
            config_file: Some(file.clone()),
            ..Default::default()
        },
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("quiet_hours = \"weekdays 9-17\" in agent.toml")
            && error.contains("weekdays is not a day")
            && error.contains("--quiet-hours \"mon-fri 09:00-18:00\""),
        "{error}"
    );
    let flags = |yielding: YieldFlags| Flags {
        yielding,
        ..Default::default()
    };
    /// Flags, environment, what the error says.
    type Case<'a> = (Flags, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 7] = [
        (
            flags(YieldFlags {
                quiet_hours: vec!["mon-fri 9am-6pm".into()],
                ..Default::default()
            }),
            &[],
            "--quiet-hours \"mon-fri 9am-6pm\": 9am is not a time of day",
        ),
        (
            Flags::default(),
            &[("GANTRY_QUIET_HOURS", "mon-fri 09:00-18:00;mon 25:00-26:00")],
            "GANTRY_QUIET_HOURS=\"mon 25:00-26:00\": 25:00 is not a time of day",
        ),
        (
            flags(YieldFlags {
                action: Some("sleep".into()),
                ..Default::default()
            }),
            &[],
            "--yield-action sleep is not an action; write freeze",
        ),
        (
            Flags::default(),
            &[("GANTRY_YIELD_GRACE", "10s")],
            "GANTRY_YIELD_GRACE=10s is not a whole number; write e.g. GANTRY_YIELD_GRACE=10",
        ),
        (
            flags(YieldFlags {
                above_temp: Some(300),
                ..Default::default()
            }),
            &[],
            "--yield-above-temp 300 is more than 120; write e.g. --yield-above-temp 85",
        ),
        (
            Flags::default(),
            &[("GANTRY_RESERVE_GPU", "0,first")],
            "GANTRY_RESERVE_GPU=0,first: first is not a GPU index",
        ),
        (
            Flags::default(),
            &[("GANTRY_YIELD_ON_BATTERY", "maybe")],
            "GANTRY_YIELD_ON_BATTERY=maybe is not true or false",
        ),
    ];
    for (flags, env, says) in cases {
        let error = resolve(flags, env).unwrap_err().to_string();
        assert!(error.contains(says), "{error}");
    }
}

#[test]
fn show_task_logs_follows_the_layers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.toml");
    std::fs::write(&file, "show_task_logs = true\n").unwrap();
    let with_file = |show: bool| Flags {
        config_file: Some(file.clone()),
        show_task_logs: show,
        ..Default::default()
    };
    assert!(!resolve(Flags::default(), &[]).unwrap().show_task_logs);
    assert!(resolve(with_file(false), &[]).unwrap().show_task_logs);
    // The environment beats the file; the flag only turns it on.
    let off = [("GANTRY_SHOW_TASK_LOGS", "0")];
    assert!(!resolve(with_file(false), &off).unwrap().show_task_logs);
    assert!(resolve(with_file(true), &off).unwrap().show_task_logs);
    assert!(
        resolve(Flags::default(), &[("GANTRY_SHOW_TASK_LOGS", "yes")])
            .unwrap()
            .show_task_logs
    );
    let error = resolve(Flags::default(), &[("GANTRY_SHOW_TASK_LOGS", "loud")]).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("GANTRY_SHOW_TASK_LOGS=loud is not true or false"),
        "{error}"
    );
}
