use super::*;

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn norm(name: &str) -> String {
    ImageName::parse(name).unwrap().to_string()
}

fn policy(allowed: &[&str], pinned_only: bool) -> ImagePolicy {
    let policy = ImagePolicy {
        allowed: allowed.iter().map(|p| p.to_string()).collect(),
        pinned_only,
    };
    policy.validate().unwrap();
    policy
}

fn allows(policy: &ImagePolicy, image: &str) -> bool {
    policy.refusal(image).is_none()
}

#[test]
fn names_normalize_as_docker_reads_them() {
    assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
    assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
    assert_eq!(norm("library/busybox"), "docker.io/library/busybox:latest");
    assert_eq!(
        norm("docker.io/busybox"),
        "docker.io/library/busybox:latest"
    );
    assert_eq!(
        norm("index.docker.io/library/busybox"),
        "docker.io/library/busybox:latest"
    );
    assert_eq!(
        norm("nvidia/cuda:12.4.1-base"),
        "docker.io/nvidia/cuda:12.4.1-base"
    );
    assert_eq!(norm("a/b/c"), "docker.io/a/b/c:latest");
    assert_eq!(norm("localhost/x"), "localhost/x:latest");
    assert_eq!(norm("localhost:5000/x:1"), "localhost:5000/x:1");
    assert_eq!(
        norm("127.0.0.1:5000/team/x"),
        "127.0.0.1:5000/team/x:latest"
    );
    assert_eq!(
        norm("nvcr.io/nvidia/pytorch:24.05-py3"),
        "nvcr.io/nvidia/pytorch:24.05-py3"
    );
    // A digest without a tag keeps no tag; with both, both stay.
    assert_eq!(
        norm(&format!("busybox@{DIGEST}")),
        format!("docker.io/library/busybox@{DIGEST}")
    );
    assert_eq!(
        norm(&format!("busybox:1@{DIGEST}")),
        format!("docker.io/library/busybox:1@{DIGEST}")
    );
    // An upper-case first segment is a registry (as Docker decides).
    assert_eq!(norm("Registry/x"), "Registry/x:latest");
}

#[test]
fn bad_names_are_refused_with_a_reason() {
    for bad in [
        "", "a b", "x/", "/x", "a//b", "x:", "Team/X", "x@", "x@abc", "ümlaut",
    ] {
        let err = ImageName::parse(bad).unwrap_err().to_string();
        assert!(err.contains("is not an image name"), "{bad}: {err}");
    }
    assert!(ImageName::parse("x/*").is_err());
}

#[test]
fn patterns_match_within_and_across_segments() {
    let registry = policy(&["registry.example.com/**"], false);
    assert!(allows(&registry, "registry.example.com/x"));
    assert!(allows(&registry, "registry.example.com/team/deep/x:3"));
    assert!(!allows(&registry, "registry.example.com.evil.io/x"));
    assert!(!allows(&registry, "busybox"));

    let one_level = policy(&["registry.example.com/team/*"], false);
    assert!(allows(&one_level, "registry.example.com/team/x"));
    assert!(!allows(&one_level, "registry.example.com/team/deep/x"));
    assert!(!allows(&one_level, "registry.example.com/other/x"));

    let middle = policy(&["ghcr.io/**/cuda"], false);
    assert!(allows(&middle, "ghcr.io/cuda"), "** matches no segment too");
    assert!(allows(&middle, "ghcr.io/a/b/cuda:1"));
    assert!(!allows(&middle, "ghcr.io/a/cudax"));

    let prefix = policy(&["nvcr.io/nvidia/py*"], false);
    assert!(allows(&prefix, "nvcr.io/nvidia/pytorch:24.05-py3"));
    assert!(!allows(&prefix, "nvcr.io/nvidia/tensorflow"));
}

#[test]
fn patterns_normalize_like_names() {
    let hub = policy(&["busybox"], false);
    assert!(allows(&hub, "busybox"));
    assert!(allows(&hub, "docker.io/library/busybox:1.36"));
    assert!(allows(&hub, "index.docker.io/library/busybox"));
    assert!(!allows(&hub, "someone/busybox"));
    assert!(!allows(&hub, "quay.io/library/busybox"));

    let org = policy(&["nvidia/*"], false);
    assert!(allows(&org, "docker.io/nvidia/cuda:12"));
    assert!(!allows(&org, "nvcr.io/nvidia/cuda"));

    let everything = policy(&["**"], false);
    assert!(allows(&everything, "busybox") && allows(&everything, "localhost:5000/a/b"));
    let registries = policy(&["*.example.com/**"], false);
    assert!(allows(&registries, "a.example.com/x") && !allows(&registries, "busybox"));
}

#[test]
fn a_tag_or_digest_in_a_pattern_matches_only_that() {
    let tagged = policy(&["busybox:1.36"], false);
    assert!(allows(&tagged, "busybox:1.36"));
    assert!(!allows(&tagged, "busybox"), "busybox means busybox:latest");
    assert!(!allows(&tagged, &format!("busybox@{DIGEST}")));
    assert!(allows(&tagged, &format!("busybox:1.36@{DIGEST}")));

    let tag_glob = policy(&["nvcr.io/nvidia/pytorch:24.*"], false);
    assert!(allows(&tag_glob, "nvcr.io/nvidia/pytorch:24.05-py3"));
    assert!(!allows(&tag_glob, "nvcr.io/nvidia/pytorch:23.10-py3"));

    let digested = policy(&[&format!("busybox@{DIGEST}")], false);
    assert!(allows(&digested, &format!("busybox@{DIGEST}")));
    assert!(!allows(&digested, "busybox"));
    let other = DIGEST.replace('0', "f");
    assert!(!allows(&digested, &format!("busybox@{other}")));
}

#[test]
fn pinned_only_needs_a_sha256_digest() {
    let pinned = policy(&[], true);
    assert!(allows(&pinned, &format!("busybox@{DIGEST}")));
    assert!(allows(
        &pinned,
        &format!("registry.example.com/x:1@{DIGEST}")
    ));
    let refusal = pinned.refusal("busybox:1.36").unwrap();
    assert_eq!(
        refusal.to_string(),
        "image docker.io/library/busybox:1.36 is not allowed here: this node takes only images \
         pinned by digest (write the image as name@sha256:<64 hex digits>)"
    );
    assert!(!allows(&pinned, "busybox@sha256:0123"));
    assert!(!allows(
        &pinned,
        &format!("busybox@{}", DIGEST.to_uppercase().replace("SHA", "sha"))
    ));
    let both = policy(&["registry.example.com/**"], true);
    assert!(!allows(&both, &format!("busybox@{DIGEST}")));
    assert!(!allows(&both, "registry.example.com/x"));
    assert!(allows(&both, &format!("registry.example.com/x@{DIGEST}")));
}

#[test]
fn the_refusal_names_the_rule() {
    let one = policy(&["registry.example.com/**"], false);
    assert_eq!(
        one.refusal("x/y").unwrap().to_string(),
        "image docker.io/x/y:latest is not allowed here: this node takes only images matching \
         registry.example.com/**"
    );
    let three = policy(&["a.io/**", "b.io/**", "busybox"], false);
    assert!(
        three
            .refusal("x/y")
            .unwrap()
            .to_string()
            .ends_with("matching a.io/**, b.io/** or busybox"),
    );
    let unreadable = one.refusal("Bad Name").unwrap().to_string();
    assert!(unreadable.contains("is not an image name"), "{unreadable}");
    assert!(
        ImagePolicy::default().refusal("Bad Name").is_none(),
        "an open node checks nothing"
    );
}

#[test]
fn bad_patterns_are_refused() {
    for bad in ["", " ", "x@sha256:12", "Team/X", "a//b"] {
        let policy = ImagePolicy {
            allowed: vec![bad.to_owned()],
            pinned_only: false,
        };
        assert!(policy.validate().is_err(), "{bad:?}");
    }
}

#[test]
fn a_jobs_services_are_checked_too() {
    let spec: crate::JobSpec = serde_json::from_value(serde_json::json!({
        "image": "registry.example.com/app",
        "services": [{"name": "db", "image": "postgres:16"}],
    }))
    .unwrap();
    let refusal = policy(&["registry.example.com/**"], false)
        .refusal_for_job(&spec)
        .unwrap();
    assert_eq!(refusal.image, "docker.io/library/postgres:16");
    assert!(
        policy(&["registry.example.com/**", "postgres"], false)
            .refusal_for_job(&spec)
            .is_none()
    );
}

#[test]
fn summaries() {
    assert_eq!(ImagePolicy::default().summary(), "any image");
    assert_eq!(policy(&[], true).summary(), "only images pinned by digest");
    assert_eq!(
        policy(&["a.io/**", "busybox"], true).summary(),
        "only a.io/**, busybox, pinned by digest"
    );
}

#[test]
fn the_wire_check_is_the_documented_pattern() {
    let pattern = regex::Regex::new(PATTERN).unwrap();
    for text in [
        "registry.example.com/**",
        "busybox",
        "",
        "a b",
        "é",
        "x\u{7f}",
        "Team/X",
    ] {
        let policy = ImagePolicy {
            allowed: vec![text.to_owned()],
            pinned_only: false,
        };
        assert_eq!(
            policy.wire_problem().is_none(),
            pattern.is_match(text),
            "{text:?}"
        );
    }
    let many = ImagePolicy {
        allowed: vec!["a".into(); MAX_PATTERNS + 1],
        pinned_only: false,
    };
    assert!(many.wire_problem().is_some());
    let long = ImagePolicy {
        allowed: vec!["a".repeat(MAX_PATTERN_LEN + 1)],
        pinned_only: false,
    };
    assert!(long.wire_problem().is_some());
}
