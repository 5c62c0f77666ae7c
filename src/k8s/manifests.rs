//! The Kubernetes objects of one run as JSON values (serialized to YAML by the caller).

use super::resources::shm_mib;
use super::{bundle, RunManifests, WorkerGroup, RESULTS_DIR, USER_ID};
use crate::metrics::Mode;
use serde_json::{json, Map, Value};

/// Restarts allowed per worker index (a restarted pod rejoins the run); evictions, node
/// drains and preemptions do not count.
pub const WORKER_RESTARTS: u32 = 3;

/// Secret, ConfigMap, Service, coordinator Job, workers' Indexed Job, in the order
/// `kubectl apply` should create them.
pub fn documents(run: &RunManifests) -> Vec<Value> {
    let mut docs = vec![
        secret(run),
        config_map(run),
        service(run),
        coordinator_job(run),
    ];
    docs.extend(run.groups.iter().map(|g| worker_job(run, g)));
    docs
}

fn labels(run: &RunManifests, component: &str) -> Value {
    json!({
        "app.kubernetes.io/name": "throng",
        "app.kubernetes.io/instance": run.name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "throng-k8s",
    })
}

fn selector(run: &RunManifests, component: &str) -> Value {
    json!({
        "app.kubernetes.io/instance": run.name,
        "app.kubernetes.io/component": component,
    })
}

fn metadata(run: &RunManifests, name: String, component: &str) -> Value {
    let mut meta = json!({"name": name, "labels": labels(run, component)});
    if let Some(ns) = &run.namespace {
        meta["namespace"] = Value::from(ns.as_str());
    }
    meta
}

fn secret(run: &RunManifests) -> Value {
    let mut data = Map::new();
    data.insert("token".into(), Value::from(run.token.as_str()));
    for s in &run.secret_env {
        data.insert(s.key.clone(), Value::from(s.value.as_str()));
    }
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(run, run.secret_name(), "secret"),
        "type": "Opaque",
        "stringData": data,
    })
}

fn config_map(run: &RunManifests) -> Value {
    let (data, binary) = run.files.config_map_data();
    let mut cm = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(run, run.files_name(), "files"),
        "data": data,
    });
    if !binary.is_empty() {
        cm["binaryData"] = Value::Object(binary);
    }
    cm
}

fn service(run: &RunManifests) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(run, run.service_name(), "coordinator"),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(run, "coordinator"),
            "ports": [{"name": "throng", "port": run.port, "targetPort": "throng", "protocol": "TCP"}],
        },
    })
}

fn pod_security() -> Value {
    json!({
        "runAsNonRoot": true,
        "runAsUser": USER_ID,
        "runAsGroup": USER_ID,
        "fsGroup": USER_ID,
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

fn container_security() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "privileged": false,
        "readOnlyRootFilesystem": true,
        "runAsNonRoot": true,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

fn secret_env(run: &RunManifests, env: &str, key: &str) -> Value {
    json!({
        "name": env,
        "valueFrom": {"secretKeyRef": {"name": run.secret_name(), "key": key}},
    })
}

/// A writable /tmp (browser profiles, temporary files) on a read-only root.
fn tmp_volume() -> (Value, Value) {
    (
        json!({"name": "tmp", "emptyDir": {}}),
        json!({"name": "tmp", "mountPath": "/tmp"}),
    )
}

fn coordinator_job(run: &RunManifests) -> Value {
    let mut env = vec![secret_env(run, "THRONG_TOKEN", "token")];
    env.extend(
        run.secret_env
            .iter()
            .map(|s| secret_env(run, &s.env, &s.key)),
    );
    let (tmp, tmp_mount) = tmp_volume();
    let results = match &run.results_claim {
        Some(claim) => json!({"name": "results", "persistentVolumeClaim": {"claimName": claim}}),
        None => json!({"name": "results", "emptyDir": {}}),
    };
    let container = json!({
        "name": "coordinator",
        "image": run.image,
        "imagePullPolicy": "IfNotPresent",
        "args": run.coordinator_args,
        "env": env,
        "ports": [{"name": "throng", "containerPort": run.port, "protocol": "TCP"}],
        "readinessProbe": {"tcpSocket": {"port": "throng"}, "periodSeconds": 5},
        "resources": run.coordinator_resources.to_json(),
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "files", "mountPath": bundle::MOUNT, "readOnly": true},
            {"name": "results", "mountPath": RESULTS_DIR},
            tmp_mount,
        ],
    });
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(run, run.coordinator_job_name(), "coordinator"),
        "spec": {
            // A second coordinator would start the whole run again: never retry.
            "backoffLimit": 0,
            "activeDeadlineSeconds": run.coordinator_deadline.as_secs().max(1),
            "ttlSecondsAfterFinished": run.ttl.as_secs(),
            "template": {
                "metadata": {"labels": labels(run, "coordinator")},
                "spec": {
                    "restartPolicy": "Never",
                    // SIGTERM stops every worker, collects their last deltas, writes the report.
                    "terminationGracePeriodSeconds": 60,
                    "automountServiceAccountToken": false,
                    "enableServiceLinks": false,
                    "securityContext": pod_security(),
                    "containers": [container],
                    "volumes": [
                        {"name": "files", "configMap": {"name": run.files_name(), "items": run.files.items()}},
                        results,
                        tmp,
                    ],
                },
            },
        },
    })
}

fn worker_job(run: &RunManifests, group: &WorkerGroup) -> Value {
    let (tmp, tmp_mount) = tmp_volume();
    let mut volumes = vec![tmp];
    let mut mounts = vec![tmp_mount];
    if group.mode == Mode::Browser {
        // Chromium's shared memory: the runtime's default /dev/shm (64 MB) is too small.
        volumes.push(json!({
            "name": "dshm",
            "emptyDir": {"medium": "Memory", "sizeLimit": super::resources::memory(shm_mib(group.resources))},
        }));
        mounts.push(json!({"name": "dshm", "mountPath": "/dev/shm"}));
    }
    let container = json!({
        "name": "worker",
        "image": run.image,
        "imagePullPolicy": "IfNotPresent",
        "args": run.worker_args(group),
        "env": [secret_env(run, "THRONG_TOKEN", "token")],
        "resources": group.resources.to_json(),
        "securityContext": container_security(),
        "volumeMounts": mounts,
    });
    let spread = json!({
        "preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100,
            "podAffinityTerm": {
                "labelSelector": {"matchLabels": selector(run, "worker")},
                "topologyKey": "kubernetes.io/hostname",
            },
        }],
    });
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(run, run.worker_job_name(group), "worker"),
        "spec": {
            "completionMode": "Indexed",
            "completions": group.workers,
            "parallelism": group.workers,
            // A worker that fails (killed, out of memory) is replaced and rejoins the run;
            // one index running out of restarts does not stop the others.
            "backoffLimitPerIndex": WORKER_RESTARTS,
            "backoffLimit": WORKER_RESTARTS * group.workers,
            "podFailurePolicy": {"rules": [
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            ]},
            // The replacement starts once the old pod is gone: never two pods of one index.
            "podReplacementPolicy": "Failed",
            "activeDeadlineSeconds": run.worker_deadline.as_secs().max(1),
            "ttlSecondsAfterFinished": run.ttl.as_secs(),
            "template": {
                "metadata": {"labels": labels(run, "worker")},
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 30,
                    "automountServiceAccountToken": false,
                    "enableServiceLinks": false,
                    "securityContext": pod_security(),
                    "affinity": {"podAntiAffinity": spread},
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    })
}
