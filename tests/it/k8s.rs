//! `throng k8s`: the manifests validate against the Kubernetes schemas (kubernetes-validate,
//! installed by .ci/setup), hold what the run needs, and keep secrets in the Secret.

use serde::Deserialize as _;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn throng(dir: &Path, args: &[&str]) -> (i32, String, String) {
    crate::support::bin::output(crate::support::throng().current_dir(dir).args(args))
}

/// `kubernetes-validate --strict FILE` (the script, or the module when pip put the script
/// outside PATH).
fn kubernetes_validate(file: &Path) -> (bool, String) {
    let run = |program: &str, pre: &[&str]| {
        Command::new(program)
            .args(pre)
            .arg("--strict")
            .arg(file)
            .output()
    };
    let out = run("kubernetes-validate", &[])
        .or_else(|_| run("python3", &["-m", "kubernetes_validate"]))
        .expect("kubernetes-validate is installed (bash .ci/setup)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("No module named"),
        "kubernetes-validate is not installed: run bash .ci/setup\n{text}"
    );
    (out.status.success(), text)
}

fn documents(yaml: &str) -> Vec<Value> {
    yaml_serde::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("a YAML document"))
        .collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str, name_suffix: &str) -> &'a Value {
    docs.iter()
        .find(|d| {
            d["kind"] == kind
                && d["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with(name_suffix))
        })
        .unwrap_or_else(|| panic!("no {kind} *{name_suffix}"))
}

fn pod_spec(job: &Value) -> &Value {
    &job["spec"]["template"]["spec"]
}

/// A flow that draws users from a CSV file in a subdirectory, and the file.
fn flow_with_data(dir: &Path) {
    std::fs::create_dir_all(dir.join("flows/data")).unwrap();
    std::fs::write(
        dir.join("flows/login.json"),
        r#"{"title": "login", "origin": "http://127.0.0.1:9",
            "variables": [{"name": "user", "csv": {"file": "data/users.csv", "column": "user"}},
                          {"name": "password", "secret": {"env": "LOGIN_PASSWORD"}}],
            "steps": [{"type": "navigate", "url": "http://127.0.0.1:9/?u=${user}&p=${password}"}]}"#,
    )
    .unwrap();
    std::fs::write(dir.join("flows/data/users.csv"), "user\nann\nbob\n").unwrap();
}

#[test]
fn k8s_manifests_validate_against_the_kubernetes_schemas_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let repo = env!("CARGO_MANIFEST_DIR");
    let shop = format!("{repo}/flows/shop.json");
    for mode in ["http", "browser"] {
        let file = dir.path().join(format!("{mode}.yaml"));
        let (code, _, err) = throng(
            dir.path(),
            &[
                "k8s",
                &shop,
                "--mode",
                mode,
                "--workers",
                "3",
                "--image",
                "throng:test",
                "--users",
                "10",
                "--ramp",
                "10s",
                "-d",
                "1m",
                "--var",
                "password=wonderland",
                "--target",
                "http://shop.test:8080",
                "-o",
                file.to_str().unwrap(),
            ],
        );
        assert_eq!(code, 0, "{err}");
        let (ok, report) = kubernetes_validate(&file);
        assert!(ok, "{mode}: {report}");
        for resource in [
            "secret/throng-shop",
            "configmap/throng-shop-files",
            "service/throng-shop-coordinator",
            "job/throng-shop-coordinator",
            "job/throng-shop-workers",
        ] {
            assert!(
                report.contains(&format!("passed for resource {resource} ")),
                "{mode}: {resource} not validated:\n{report}"
            );
        }
        // The validator is strict: a misspelt field fails it.
        let text = std::fs::read_to_string(&file).unwrap();
        let broken = dir.path().join(format!("{mode}-broken.yaml"));
        std::fs::write(
            &broken,
            text.replace("completionMode: Indexed", "completionMod: Indexed"),
        )
        .unwrap();
        let (ok, report) = kubernetes_validate(&broken);
        assert!(!ok && report.contains("completionMod"), "{report}");
    }
}

#[test]
fn k8s_manifests_carry_the_run_its_files_and_its_secrets() {
    let dir = tempfile::tempdir().unwrap();
    flow_with_data(dir.path());
    let out = crate::support::throng()
        .current_dir(dir.path())
        .env("LOGIN_PASSWORD", "s3cret-from-env")
        .args([
            "k8s",
            "flows/login.json",
            "--mode",
            "browser",
            "--workers",
            "3",
            "--image",
            "throng:test",
            "--users",
            "10",
            "-d",
            "2m",
            "--var",
            "user=carol",
            "--name",
            "login",
            "--allow-host",
            "cdn$(HOME).test",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    let docs = documents(&yaml);
    let kinds: Vec<_> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Secret", "ConfigMap", "Service", "Job", "Job"]);

    // Secrets: in the Secret, and nowhere else.
    let secret = kind(&docs, "Secret", "login");
    let data = &secret["stringData"];
    assert_eq!(data["var-user"], "carol");
    assert_eq!(data["env-LOGIN_PASSWORD"], "s3cret-from-env");
    assert_eq!(data["token"].as_str().unwrap().len(), 64);
    for doc in docs.iter().filter(|d| d["kind"] != "Secret") {
        let text = doc.to_string();
        for value in ["carol", "s3cret-from-env", data["token"].as_str().unwrap()] {
            assert!(!text.contains(value), "{value} leaked into {}", doc["kind"]);
        }
    }

    // The coordinator: run flags with pod paths, the Secret's values by reference.
    let coordinator = kind(&docs, "Job", "-coordinator");
    let pod = pod_spec(coordinator);
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let joined = args.join(" ");
    assert!(
        joined.starts_with("run /throng/files/login.json --mode browser"),
        "{joined}"
    );
    for part in [
        "--users 10 --duration 2m",
        "--var user=$(THRONG_VAR_user)",
        "--workers 3 --listen 0.0.0.0:8089",
        "--wait-workers 5m --linger 15m",
        "--out /throng/results",
        // The user's own `$(` is escaped, so Kubernetes does not expand it.
        "--allow-host cdn$$(HOME).test",
    ] {
        assert!(joined.contains(part), "{part} missing: {joined}");
    }
    let env: Vec<&str> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(env, ["THRONG_TOKEN", "THRONG_VAR_user", "LOGIN_PASSWORD"]);
    assert_eq!(coordinator["spec"]["backoffLimit"], 0);
    // Flows and data keep their layout, so the flow's relative CSV path resolves.
    let items = &pod["volumes"][0]["configMap"]["items"];
    let paths: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["login.json", "data/users.csv"]);
    let files = kind(&docs, "ConfigMap", "-files");
    assert_eq!(files["data"]["1-data_users.csv"], "user\nann\nbob\n");

    // The workers: an Indexed Job of 3, restartable, spread, sized, with /dev/shm.
    let workers = kind(&docs, "Job", "-workers");
    let spec = &workers["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert_eq!(spec["parallelism"], 3);
    assert_eq!(spec["completions"], 3);
    assert!(spec["backoffLimitPerIndex"].as_u64().unwrap() >= 1);
    assert!(spec["backoffLimit"].as_u64().unwrap() >= 3);
    // Deadlines cover waiting (5m) + the plan (2m) and no more than a few minutes beyond.
    for (job, linger) in [(coordinator, 900), (workers, 0)] {
        let deadline = job["spec"]["activeDeadlineSeconds"].as_u64().unwrap();
        assert!(
            (420 + linger..=420 + linger + 300).contains(&deadline),
            "{deadline}"
        );
        assert!(job["spec"]["ttlSecondsAfterFinished"].as_u64().unwrap() > 0);
    }
    let pod = pod_spec(workers);
    let worker = &pod["containers"][0];
    assert_eq!(
        worker["args"],
        serde_json::json!([
            "worker",
            "--connect",
            "http://login-coordinator:8089",
            "--wait",
            "5m"
        ])
    );
    assert_eq!(
        pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
            ["podAffinityTerm"]["topologyKey"],
        "kubernetes.io/hostname"
    );
    let shm = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "dshm")
        .expect("a /dev/shm volume");
    assert_eq!(shm["emptyDir"]["medium"], "Memory");
    assert!(worker["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["mountPath"] == "/dev/shm"));
    // 10 users over 3 workers: 4 sessions at most, at 12 per core (+ throng's 100m).
    assert_eq!(worker["resources"]["requests"]["cpu"], "450m");

    // Every pod: requests and limits, non-root, nothing privileged.
    for job in [coordinator, workers] {
        let pod = pod_spec(job);
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        let c = &pod["containers"][0];
        for part in ["requests", "limits"] {
            for res in ["cpu", "memory"] {
                assert!(c["resources"][part][res].is_string(), "{part}.{res}: {c}");
            }
        }
        let sc = &c["securityContext"];
        assert_eq!(sc["allowPrivilegeEscalation"], false);
        assert_eq!(sc["privileged"], false);
        assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    }
}

#[test]
fn k8s_worker_requests_follow_the_share() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cpu_request = |workers: &str| {
        let (code, yaml, err) = throng(
            repo,
            &[
                "k8s",
                "flows/shop.json",
                "--mode",
                "browser",
                "--workers",
                workers,
                "--image",
                "t",
                "--users",
                "48",
                "--var",
                "password=x",
            ],
        );
        assert_eq!(code, 0, "{err}");
        let docs = documents(&yaml);
        let worker = &pod_spec(kind(&docs, "Job", "-workers"))["containers"][0];
        worker["resources"]["requests"]["cpu"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // 48 sessions: 2 workers of 24 need 2 cores each (+100m), 8 workers of 6 need 0.6.
    assert_eq!(cpu_request("2"), "2100m");
    assert_eq!(cpu_request("8"), "600m");
}

#[test]
fn k8s_bad_input_is_one_line_and_exit_2() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let base = [
        "k8s",
        "flows/shop.json",
        "--image",
        "t",
        "--var",
        "password=x",
    ];
    for (extra, expected) in [
        (&["--workers", "0"][..], "--workers"),
        (&["--workers", "2", "--ramp", "2m", "-d", "1m"], "--ramp"),
        (&["--workers", "2", "--out", "results"], "--out results"),
        (&["--workers", "2", "--headed"], "--headed"),
        (&["--workers", "2", "--name", "Bad_Name"], "--name"),
        (&["--workers", "2", "--linger", "soon"], "--linger"),
        (&["--workers", "2", "--threshold", "p95(x)<"], "--threshold"),
        (
            &["--workers", "1", "--browsers", "1"],
            "--workers 1: a hybrid run",
        ),
        (
            &[
                "--workers",
                "2",
                "--browsers",
                "1",
                "--browser-workers",
                "2",
            ],
            "--browser-workers 2: between 1 and 1",
        ),
        (
            &["--workers", "2", "--browser-workers", "1"],
            "--browser-workers",
        ),
        (
            &["--workers", "2", "--browsers", "1", "--mode", "browser"],
            "drop --mode browser",
        ),
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let (code, out, err) = throng(repo, &args);
        assert_eq!(code, 2, "{extra:?}: {err}");
        assert!(out.is_empty(), "{extra:?} wrote manifests: {out}");
        assert_eq!(err.trim_end().lines().count(), 1, "{extra:?}: {err}");
        assert!(err.contains(expected), "{extra:?}: {err}");
    }
    // A secret the flow needs and nobody supplies: named, as `throng run` names it.
    let (code, _, err) = throng(
        repo,
        &["k8s", "flows/shop.json", "--image", "t", "--workers", "2"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("password"), "{err}");
}

/// A hybrid run: two worker groups, each with its role and sized for its mode's share; the
/// browser workers get a memory-backed /dev/shm and more CPU and memory per pod.
#[test]
fn k8s_hybrid_runs_get_a_browser_group_and_an_http_group_sized_for_their_shares() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hybrid.yaml");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (code, _, err) = throng(
        repo,
        &[
            "k8s",
            "flows/shop.json",
            "--workers",
            "4",
            "--image",
            "throng:test",
            "--users",
            "100",
            "--browsers",
            "5",
            "-d",
            "2m",
            "--var",
            "password=x",
            "-o",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("3 HTTP workers and 1 browser worker (hybrid run)"),
        "{err}"
    );
    let (ok, report) = kubernetes_validate(&file);
    assert!(ok, "{report}");
    for resource in [
        "job/throng-shop-coordinator",
        "job/throng-shop-http-workers",
        "job/throng-shop-browser-workers",
    ] {
        assert!(
            report.contains(&format!("passed for resource {resource} ")),
            "{resource} not validated:\n{report}"
        );
    }
    let docs = documents(&std::fs::read_to_string(&file).unwrap());
    let coordinator = &pod_spec(kind(&docs, "Job", "-coordinator"))["containers"][0];
    let args: Vec<&str> = coordinator["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    // The coordinator waits for all 4 and runs the hybrid plan.
    assert!(
        args.windows(2).any(|w| w == ["--browsers", "5"]),
        "{args:?}"
    );
    assert!(args.windows(2).any(|w| w == ["--workers", "4"]), "{args:?}");
    let group = |suffix: &str| {
        let job = kind(&docs, "Job", suffix);
        let spec = pod_spec(job);
        let c = &spec["containers"][0];
        let role_at = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .position(|a| a == "--role");
        let role = role_at.map(|i| c["args"][i + 1].as_str().unwrap().to_string());
        let shm = spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "dshm")
            .map(|v| v["emptyDir"]["medium"].as_str().unwrap().to_string());
        let mounted = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["mountPath"] == "/dev/shm");
        (
            job["spec"]["completions"].as_u64().unwrap(),
            role,
            shm,
            mounted,
            c["resources"]["requests"].clone(),
        )
    };
    let (http_n, http_role, http_shm, http_mounted, http_req) = group("-http-workers");
    let (b_n, b_role, b_shm, b_mounted, b_req) = group("-browser-workers");
    assert_eq!((http_n, b_n), (3, 1));
    assert_eq!(http_role.as_deref(), Some("http"));
    assert_eq!(b_role.as_deref(), Some("browser"));
    assert_eq!((http_shm, http_mounted), (None, false));
    assert_eq!((b_shm.as_deref(), b_mounted), (Some("Memory"), true));
    // Sized from src/plan/costs.rs: 5 sessions on one browser pod (100m + 5/12 of a core,
    // 256 MiB + 5 x 36), 32 of the 95 HTTP users on each HTTP pod (the fixed 250m, 64 MiB).
    assert_eq!(b_req, serde_json::json!({"cpu": "550m", "memory": "448Mi"}));
    assert_eq!(
        http_req,
        serde_json::json!({"cpu": "300m", "memory": "128Mi"})
    );
    // More browser pods when asked.
    let (code, yaml, err) = throng(
        repo,
        &[
            "k8s",
            "flows/shop.json",
            "--workers",
            "4",
            "--browser-workers",
            "2",
            "--image",
            "t",
            "--users",
            "100",
            "--browsers",
            "10%",
            "--var",
            "password=x",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let docs = documents(&yaml);
    assert_eq!(
        kind(&docs, "Job", "-browser-workers")["spec"]["completions"],
        2
    );
    assert_eq!(
        kind(&docs, "Job", "-http-workers")["spec"]["completions"],
        2
    );
}
