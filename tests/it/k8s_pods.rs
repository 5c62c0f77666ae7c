//! The manifests of `throng k8s` run as written: a coordinator and its workers as real
//! processes on loopback, each given what its pod would get (the ConfigMap's files at their
//! mount path, the Secret's values in its environment, its arguments expanded the way the
//! kubelet expands `$(NAME)`), against the demo site.

use crate::support::demo;
use serde::Deserialize as _;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// What the kubelet would start for `container`: its arguments with `$(NAME)` expanded from
/// its environment (`$$(` stays a literal `$(`), and that environment (Secret keys resolved).
fn as_kubelet_starts(container: &Value, secret: &Value) -> (Vec<String>, Vec<(String, String)>) {
    let env: Vec<(String, String)> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let key = e["valueFrom"]["secretKeyRef"]["key"]
                .as_str()
                .expect("from the Secret");
            let value = secret["stringData"][key]
                .as_str()
                .expect("the key is in the Secret");
            (e["name"].as_str().unwrap().to_string(), value.to_string())
        })
        .collect();
    let expand = |arg: &str| {
        let mut out = String::new();
        let mut rest = arg;
        while let Some(i) = rest.find("$(") {
            if i > 0 && rest.as_bytes()[i - 1] == b'$' {
                out.push_str(&rest[..i - 1]);
                out.push_str("$(");
                rest = &rest[i + 2..];
                continue;
            }
            out.push_str(&rest[..i]);
            let end = rest[i..]
                .find(')')
                .map(|e| i + e)
                .expect("a closing parenthesis");
            let name = &rest[i + 2..end];
            match env.iter().find(|(n, _)| n == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&rest[i..=end]),
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    };
    let args = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| expand(a.as_str().unwrap()))
        .collect();
    (args, env)
}

fn throng(args: &[String], env: &[(String, String)], tmp: &Path) -> tokio::process::Child {
    crate::support::throng_async()
        .current_dir(tmp)
        .args(args)
        .env_remove("THRONG_TOKEN")
        .envs(env.iter().cloned())
        .env("TMPDIR", tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k8s_coordinator_and_workers_run_as_the_manifests_say() {
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let repo = env!("CARGO_MANIFEST_DIR");
    // shop.json signs in with the password: it reaches the coordinator only via the Secret.
    let out = crate::support::throng()
        .args([
            "k8s",
            &format!("{repo}/flows/shop.json"),
            "--workers",
            "2",
            "--image",
            "t",
        ])
        .args([
            "--name",
            "pods",
            "--target",
            &site.base_url(),
            "--var",
            "password=wonderland",
        ])
        .args([
            "-u",
            "4",
            "-d",
            "60s",
            "--iterations",
            "1",
            "--think-scale",
            "0.1",
        ])
        .args([
            "--dwell",
            "0s",
            "--wait-workers",
            "30s",
            "--linger",
            "5s",
            "-q",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<Value> =
        yaml_serde::Deserializer::from_str(&String::from_utf8(out.stdout).unwrap())
            .map(|d| Value::deserialize(d).unwrap())
            .collect();
    let secret = &docs[0];
    let (files, coordinator, workers) = (&docs[1], &docs[3], &docs[4]);

    // The ConfigMap's files, where the volume's items put them.
    let root = tmp.path().join("throng");
    let pod = &coordinator["spec"]["template"]["spec"];
    for item in pod["volumes"][0]["configMap"]["items"].as_array().unwrap() {
        let path = root.join("files").join(item["path"].as_str().unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let key = item["key"].as_str().unwrap();
        std::fs::write(path, files["data"][key].as_str().unwrap()).unwrap();
    }
    std::fs::create_dir_all(root.join("results")).unwrap();
    let (args, env) = as_kubelet_starts(&pod["containers"][0], secret);
    assert!(args.iter().any(|a| a == "password=wonderland"), "{args:?}");
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            a.replace("/throng/", &format!("{}/", root.display()))
                .replace("0.0.0.0:8089", "127.0.0.1:0")
        })
        .collect();
    let mut coord = throng(&args, &env, tmp.path());
    let mut lines = BufReader::new(coord.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the coordinator prints its address")
            .unwrap()
            .expect("the coordinator is running");
        if let Some(rest) = line.strip_prefix("coordinator: listening on ") {
            break rest.split(';').next().unwrap().to_string();
        }
    };
    let (lingering, mut served_at) = tokio::sync::mpsc::channel::<String>(1);
    let drain = tokio::spawn(async move {
        let mut all = String::new();
        while let Ok(Some(l)) = lines.next_line().await {
            if let Some(rest) = l.strip_prefix("coordinator: results at ") {
                let _ = lingering.try_send(rest.split(' ').next().unwrap().to_string());
            }
            all.push_str(&l);
            all.push('\n');
        }
        all
    });

    // Two worker pods: the same container spec, the Service's name resolving to loopback.
    let completions = workers["spec"]["completions"].as_u64().unwrap();
    let wpod = &workers["spec"]["template"]["spec"];
    let (wargs, wenv) = as_kubelet_starts(&wpod["containers"][0], secret);
    assert_eq!(wenv.len(), 1, "a worker gets only the token: {wenv:?}");
    let wargs: Vec<String> = wargs
        .iter()
        .map(|a| a.replace("http://pods-coordinator:8089", &addr))
        .collect();
    let children: Vec<_> = (0..completions)
        .map(|_| throng(&wargs, &wenv, tmp.path()))
        .collect();

    // While it lingers, the results are served to whoever holds the Secret's token.
    let url = tokio::time::timeout(Duration::from_secs(120), served_at.recv())
        .await
        .expect("the coordinator serves its results")
        .expect("the coordinator is running");
    let client = reqwest::Client::new();
    let refused = client.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let served: Value = client
        .get(&url)
        .bearer_auth(secret["stringData"]["token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(120), coord.wait())
        .await
        .expect("the coordinator ends")
        .unwrap();
    let stderr = drain.await.unwrap();
    for child in children {
        let w = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .expect("the worker ends")
            .unwrap();
        assert!(w.status.success(), "{}", String::from_utf8_lossy(&w.stderr));
    }
    assert!(status.success(), "{stderr}");

    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("results/results.json")).unwrap())
            .unwrap();
    assert_eq!(served["summary"], results["summary"], "served = written");
    let rows = results["meta"]["workers"].as_array().unwrap();
    let mut peaks: Vec<u64> = rows
        .iter()
        .map(|r| r["peak_users"].as_u64().unwrap())
        .collect();
    peaks.sort();
    assert_eq!(peaks, [2, 2], "4 users over 2 workers");
    // Every request the site saw, throng counted; the sign-in worked (the Secret's password).
    let mut counted: BTreeMap<String, u64> = BTreeMap::new();
    let mut failures = 0;
    for e in results["summary"]["entries"].as_array().unwrap() {
        if !["document", "static", "ajax", "polling"].contains(&e["kind"].as_str().unwrap()) {
            continue;
        }
        let (method, url) = e["name"].as_str().unwrap().split_once(' ').unwrap();
        let path = url::Url::parse(url).unwrap().path().to_string();
        *counted.entry(format!("{method} {path}")).or_default() += e["count"].as_u64().unwrap();
        failures += e["failures"].as_u64().unwrap_or(0);
    }
    let stats = site.stats();
    let seen: HashMap<String, u64> = stats.routes.into_iter().collect();
    assert_eq!(counted.into_iter().collect::<HashMap<_, _>>(), seen);
    assert_eq!(failures, 0, "{stderr}");
    assert_eq!(seen.get("POST /login"), Some(&4), "{seen:?}");
    assert!(
        !stats.statuses.contains_key("403"),
        "a sign-in was refused: {:?}",
        stats.statuses
    );
    // The account page's own AJAX call: only signed-in users get there.
    assert!(seen.contains_key("GET /api/orders"), "{seen:?}");
    site.shutdown().await;
}

/// A hybrid run's manifests as written: the coordinator, one browser worker pod (`--role
/// browser`) and one HTTP worker pod (`--role http`, its browser a program that cannot start
/// one): each mode runs on its own pod, and the site's counts by kind of client equal
/// throng's per mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k8s_hybrid_worker_groups_run_each_mode_on_its_own_pods() {
    let site = demo().await;
    let tmp = tempfile::tempdir().unwrap();
    let repo = env!("CARGO_MANIFEST_DIR");
    let out = crate::support::throng()
        .args([
            "k8s",
            &format!("{repo}/flows/browse.json"),
            "--workers",
            "2",
            "--image",
            "t",
            "--name",
            "hy",
            "--target",
            &site.base_url(),
        ])
        .args([
            "-u",
            "6",
            "--browsers",
            "1",
            "-d",
            "60s",
            "--iterations",
            "1",
        ])
        .args([
            "--think-scale",
            "0.1",
            "--dwell",
            "0s",
            "--wait-workers",
            "30s",
        ])
        .args(["--linger", "0s", "-q"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<Value> =
        yaml_serde::Deserializer::from_str(&String::from_utf8(out.stdout).unwrap())
            .map(|d| Value::deserialize(d).unwrap())
            .collect();
    let (secret, files, coordinator) = (&docs[0], &docs[1], &docs[3]);
    let root = tmp.path().join("throng");
    let pod = &coordinator["spec"]["template"]["spec"];
    for item in pod["volumes"][0]["configMap"]["items"].as_array().unwrap() {
        let path = root.join("files").join(item["path"].as_str().unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let key = item["key"].as_str().unwrap();
        std::fs::write(path, files["data"][key].as_str().unwrap()).unwrap();
    }
    std::fs::create_dir_all(root.join("results")).unwrap();
    let (args, env) = as_kubelet_starts(&pod["containers"][0], secret);
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            a.replace("/throng/", &format!("{}/", root.display()))
                .replace("0.0.0.0:8089", "127.0.0.1:0")
        })
        .collect();
    let mut coord = throng(&args, &env, tmp.path());
    let mut lines = BufReader::new(coord.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the coordinator prints its address")
            .unwrap()
            .expect("the coordinator is running");
        if let Some(rest) = line.strip_prefix("coordinator: listening on ") {
            break rest.split(';').next().unwrap().to_string();
        }
    };
    let drain = tokio::spawn(async move {
        let mut all = String::new();
        while let Ok(Some(l)) = lines.next_line().await {
            all.push_str(&l);
            all.push('\n');
        }
        all
    });
    let mut children = Vec::new();
    for (job, role) in [(&docs[4], "http"), (&docs[5], "browser")] {
        assert!(
            job["metadata"]["name"]
                .as_str()
                .unwrap()
                .ends_with(&format!("-{role}-workers")),
            "{job}"
        );
        assert_eq!(job["spec"]["completions"], 1);
        let wpod = &job["spec"]["template"]["spec"];
        let (wargs, wenv) = as_kubelet_starts(&wpod["containers"][0], secret);
        let mut wargs: Vec<String> = wargs
            .iter()
            .map(|a| a.replace("http://hy-coordinator:8089", &addr))
            .collect();
        assert!(wargs.windows(2).any(|w| w == ["--role", role]), "{wargs:?}");
        if role == "http" {
            wargs.extend(["--chrome".into(), "/bin/false".into()]);
        }
        children.push(throng(&wargs, &wenv, tmp.path()));
    }
    let status = tokio::time::timeout(Duration::from_secs(120), coord.wait())
        .await
        .expect("the coordinator ends")
        .unwrap();
    let stderr = drain.await.unwrap();
    for child in children {
        let w = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .expect("the worker ends")
            .unwrap();
        assert!(w.status.success(), "{}", String::from_utf8_lossy(&w.stderr));
    }
    assert!(status.success(), "{stderr}");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("results/results.json")).unwrap())
            .unwrap();
    let mut rows: Vec<(String, u64)> = results["meta"]["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["role"].as_str().unwrap().to_string(),
                r["peak_users"].as_u64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(rows, [("browser".to_string(), 1), ("http".to_string(), 5)]);
    // Per mode, what throng counted is what the site saw from that kind of client (HTTP
    // exactly; the browser's capture may miss a form-submitted document on a saturated machine).
    let stats = site.stats();
    for (mode, agent) in [("http", "throng"), ("browser", "chrome")] {
        let mut counted: BTreeMap<String, u64> = BTreeMap::new();
        for e in results["summary"]["entries"].as_array().unwrap() {
            let kind = e["kind"].as_str().unwrap();
            if e["mode"] != mode
                || !["document", "static", "ajax", "polling", "beacon", "other"].contains(&kind)
            {
                continue;
            }
            let (method, url) = e["name"].as_str().unwrap().split_once(' ').unwrap();
            let path = url::Url::parse(url).unwrap().path().to_string();
            *counted.entry(format!("{method} {path}")).or_default() += e["count"].as_u64().unwrap();
        }
        let seen = &stats.agents[agent];
        if mode == "http" {
            assert_eq!(counted, seen.routes, "{mode}");
        } else {
            let total: u64 = counted.values().sum();
            assert!(
                total > 0 && total <= seen.total && total * 20 >= seen.total * 19,
                "{counted:?} vs {seen:?}"
            );
        }
    }
    site.shutdown().await;
}
