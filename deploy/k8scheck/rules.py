"""What no schema sees: checks mirrored from the code that would reject or mis-run a manifest.

- Knative's admission webhook checks the `autoscaling.knative.dev/*` annotations
  (knative/serving v0.50.0 `pkg/apis/autoscaling/annotation_validation.go` and the bounds in
  `register.go`); a CRD schema cannot, since annotations are free-form strings.
- KEDA's prometheus scaler parses the trigger's free-form `metadata` map at run time
  (kedacore/keda v2.20.2 `pkg/scalers/prometheus_scaler.go`): a missing or misspelt key is an
  error in the operator's log, not at `kubectl apply`.
- delay-echo's own contract (deploy/README.md): readiness and liveness on the service's probe
  paths; a grace period that covers preStop + drain delay + shutdown timeout, and a shutdown
  timeout that covers the longest request allowed; the hardened pod; a query on a metric the
  service exports; an autoscaler whose target exists. The paths, the metric names and the
  container's settings (resolved from its environment) come from the binary (service.py).

These are stand-ins for a cluster's webhooks and operators, which cannot run here; ARCHITECTURE.md
says when to delete them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from deploy.k8scheck.findings import Finding, resource_name
from deploy.k8scheck.service import DelayEcho, RefusedConfig
from loadtests.core import durations

# Knative's queue-proxy holds the user container's SIGTERM back while it drains (its preStop,
# `drainSleepDuration` in pkg/queue/sharedmain/main.go, v0.50.0).
KNATIVE_QUEUE_PROXY_DRAIN_S = 30.0

KNATIVE_KEYS = {
    "class", "metric", "target", "target-utilization-percentage", "target-burst-capacity",
    "window", "panic-window-percentage", "panic-threshold-percentage", "min-scale", "max-scale",
    "initial-scale", "scale-down-delay", "scale-to-zero-pod-retention-period",
    "metric-aggregation-algorithm", "activation-scale",
}  # fmt: skip
KEDA_PROMETHEUS_KEYS = {
    "serverAddress", "query", "queryParameters", "threshold", "activationThreshold", "namespace",
    "customHeaders", "ignoreNullValues", "unsafeSsl", "awsRegion", "timeout", "identityOwner",
    "authModes", "metricName",
}  # fmt: skip


def go_seconds(value: str) -> float:
    """A Go time.ParseDuration string (what Knative's annotations take), e.g. 60s or 1m30s."""
    try:
        return durations.seconds(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a Go duration such as 60s or 1m30s") from None


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet") or (
        doc.get("kind") == "Service"
        and str(doc.get("apiVersion", "")).startswith("serving.knative.dev/")
    ):
        spec = ((doc.get("spec") or {}).get("template") or {}).get("spec")
        return spec if isinstance(spec, dict) else None
    return None


def _is_knative(doc: dict[str, Any]) -> bool:
    return str(doc.get("apiVersion", "")).startswith("serving.knative.dev/")


def container_env(container: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, str]:
    """Literal environment of a container: its ConfigMaps (envFrom), then its own env."""
    maps = {
        (d.get("metadata") or {}).get("name"): d.get("data") or {}
        for d in docs
        if d.get("kind") == "ConfigMap"
    }
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        ref = (source.get("configMapRef") or {}).get("name")
        env.update({k: str(v) for k, v in maps.get(ref, {}).items()})
    for var in container.get("env") or []:
        if "value" in var:
            env[var["name"]] = str(var["value"])
    return env


def _service_containers(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = _pod_spec(doc) or {}
    for c in spec.get("containers") or []:
        if isinstance(c, dict):
            yield c


def probes(doc: dict[str, Any], paths: dict[str, str]) -> list[str]:
    """`paths`: the service's own (`liveness`, `readiness`), from its binary."""
    problems = []
    for c in _service_containers(doc):
        for probe, path in (
            ("readinessProbe", paths["readiness"]),
            ("livenessProbe", paths["liveness"]),
        ):
            got = ((c.get(probe) or {}).get("httpGet") or {}).get("path")
            if got == path:
                continue
            why = ""
            if probe == "livenessProbe" and got == paths["readiness"]:
                why = f" ({got} fails while draining: liveness on it restarts draining pods)"
            problems.append(
                f"container {c.get('name')}: {probe} must be an httpGet on {path}, not {got!r}{why}"
            )
    return problems


def hardening(doc: dict[str, Any]) -> list[str]:
    spec = _pod_spec(doc) or {}
    pod_sc = spec.get("securityContext") or {}
    problems = []
    for c in _service_containers(doc):
        sc = c.get("securityContext") or {}
        name = c.get("name")

        def either(key: str, sc: dict[str, Any] = sc) -> Any:
            return sc.get(key, pod_sc.get(key))

        if either("runAsNonRoot") is not True:
            problems.append(f"container {name}: runAsNonRoot must be true")
        if isinstance(either("runAsUser"), int) and either("runAsUser") == 0:
            problems.append(f"container {name}: runAsUser 0 is root")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"container {name}: readOnlyRootFilesystem must be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"container {name}: allowPrivilegeEscalation must be false")
        if sc.get("privileged") is True:
            problems.append(f"container {name}: privileged must not be true")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            problems.append(f"container {name}: capabilities.drop must include ALL")
        if (sc.get("capabilities") or {}).get("add"):
            problems.append(f"container {name}: capabilities.add must be empty")
        if (either("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"container {name}: seccompProfile.type must be RuntimeDefault")
        res = c.get("resources") or {}
        for part in ("requests", "limits"):
            for what in ("cpu", "memory"):
                if what not in (res.get(part) or {}):
                    problems.append(f"container {name}: resources.{part}.{what} is missing")
    return problems


def shutdown(doc: dict[str, Any], docs: list[dict[str, Any]], service: DelayEcho) -> list[str]:
    """The grace period covers the whole shutdown, and the shutdown the longest allowed request;
    the container's settings as the service resolves its environment (defaults included)."""
    spec = _pod_spec(doc) or {}
    problems = []
    for c in _service_containers(doc):
        try:
            config = service.config(container_env(c, docs))
        except RefusedConfig as e:
            problems.append(f"container {c.get('name')}: delay-echo refuses its environment: {e}")
            continue
        drain = config["drain_delay_s"]
        timeout = config["shutdown_timeout_s"]
        longest = config["max_delay_s"] + config["max_cpu_s"]
        if timeout < longest:
            problems.append(
                f"container {c.get('name')}: DELAY_ECHO_SHUTDOWN_TIMEOUT {timeout:g}s is shorter than "
                f"the longest allowed request (MAX_DELAY + MAX_CPU = {longest:g}s): a scale-in cuts it"
            )
        if _is_knative(doc):
            grace_name, grace = "timeoutSeconds", spec.get("timeoutSeconds", 300)
            before = KNATIVE_QUEUE_PROXY_DRAIN_S
            parts = f"queue-proxy drain {before:g}s"
            if c.get("lifecycle"):
                problems.append(f"container {c.get('name')}: Knative injects its own preStop")
        else:
            grace_name, grace = (
                "terminationGracePeriodSeconds",
                spec.get("terminationGracePeriodSeconds", 30),
            )
            pre_stop = ((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}
            before = float(pre_stop.get("seconds", 0))
            parts = f"preStop sleep {before:g}s"
        needed = before + drain + timeout
        if not isinstance(grace, int) or grace < needed:
            problems.append(
                f"{grace_name} {grace} is shorter than {parts} + DRAIN_DELAY {drain:g}s + "
                f"SHUTDOWN_TIMEOUT {timeout:g}s = {math.ceil(needed)}s: the kubelet kills the pod "
                "before its requests finish"
            )
    return problems


def _number(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def knative_annotations(annotations: dict[str, str]) -> list[str]:
    """Knative's annotation webhook (annotation_validation.go), for the keys this lab uses."""
    prefix = "autoscaling.knative.dev/"
    a = {k[len(prefix) :]: str(v) for k, v in annotations.items() if k.startswith(prefix)}
    problems = [
        f"{prefix}{k} is not an annotation Knative knows" for k in sorted(a.keys() - KNATIVE_KEYS)
    ]

    def bounded(key: str, low: float, high: float) -> None:
        if key in a:
            n = _number(a[key])
            if n is None or not low <= n <= high:
                problems.append(
                    f"{prefix}{key} {a[key]!r} must be a number from {low:g} to {high:g}"
                )

    if "class" in a and a["class"].endswith(".knative.dev") and a["class"] not in (
        "kpa.autoscaling.knative.dev", "hpa.autoscaling.knative.dev",
    ):  # fmt: skip
        problems.append(f"{prefix}class {a['class']!r} is neither the KPA nor the HPA class")
    if a.get("class", "kpa.autoscaling.knative.dev") == "kpa.autoscaling.knative.dev" and a.get(
        "metric", "concurrency"
    ) not in ("concurrency", "rps"):
        problems.append(f"{prefix}metric {a['metric']!r}: the KPA scales on concurrency or rps")
    bounded("target", 0.01, math.inf)
    bounded("target-utilization-percentage", 1, 100)
    bounded("panic-window-percentage", 1, 100)
    bounded("panic-threshold-percentage", 110, 1000)
    if "window" in a:
        try:
            w = go_seconds(a["window"])
            if not 6 <= w <= 3600 or w != int(w):
                problems.append(
                    f"{prefix}window {a['window']!r} must be whole seconds from 6s to 1h"
                )
        except ValueError as e:
            problems.append(f"{prefix}window: {e}")
    scale = {}
    for key in ("min-scale", "max-scale", "initial-scale"):
        if key in a:
            if not re.fullmatch(r"\d+", a[key]):
                problems.append(f"{prefix}{key} {a[key]!r} must be a whole number, 0 or more")
            else:
                scale[key] = int(a[key])
    if scale.get("max-scale", 0) and scale["max-scale"] < scale.get("min-scale", 0):
        problems.append(
            f"{prefix}max-scale {scale['max-scale']} is less than min-scale {scale['min-scale']}"
        )
    return problems


def keda_triggers(doc: dict[str, Any], metrics: set[str]) -> list[str]:
    problems = []
    for i, trigger in enumerate((doc.get("spec") or {}).get("triggers") or []):
        if trigger.get("type") != "prometheus":
            continue
        meta = {k: str(v) for k, v in (trigger.get("metadata") or {}).items()}
        where = f"triggers[{i}] (prometheus)"
        for key in sorted(meta.keys() - KEDA_PROMETHEUS_KEYS):
            problems.append(f"{where}: metadata.{key} is not a key the prometheus scaler reads")
        for key in ("serverAddress", "query", "threshold"):
            if not meta.get(key):
                problems.append(f"{where}: metadata.{key} is required")
        for key in ("threshold", "activationThreshold"):
            if key in meta and _number(meta[key]) is None:
                problems.append(f"{where}: metadata.{key} {meta[key]!r} must be a number")
        if _number(meta.get("threshold", "")) is not None and float(meta["threshold"]) <= 0:
            problems.append(f"{where}: metadata.threshold must be above 0")
        for name in sorted(
            set(re.findall(r"\bdelay_echo_[a-z0-9_]+", meta.get("query", ""))) - metrics
        ):
            problems.append(
                f"{where}: the query reads {name}, which delay-echo does not export (--list-metrics)"
            )
        if "query" in meta and not re.search(r"\bdelay_echo_[a-z0-9_]+", meta["query"]):
            problems.append(f"{where}: the query reads no delay_echo_* metric")
    return problems


def scale_target(doc: dict[str, Any], docs: list[dict[str, Any]]) -> list[str]:
    ref = (doc.get("spec") or {}).get("scaleTargetRef") or {}
    kind = ref.get("kind", "Deployment")
    name = ref.get("name")
    if not any(
        d.get("kind") == kind and (d.get("metadata") or {}).get("name") == name for d in docs
    ):
        return [f"scaleTargetRef {kind}/{name} is not among the rendered manifests"]
    return []


def check(docs: list[dict[str, Any]], service: DelayEcho) -> list[Finding]:
    findings: list[Finding] = []
    for doc in docs:
        problems: list[str] = []
        if _pod_spec(doc) is not None:
            problems += probes(doc, service.probes) + hardening(doc) + shutdown(doc, docs, service)
        if _is_knative(doc) and doc.get("kind") == "Service":
            template = (doc.get("spec") or {}).get("template") or {}
            problems += knative_annotations(
                (template.get("metadata") or {}).get("annotations") or {}
            )
        if doc.get("kind") == "ScaledObject":
            problems += keda_triggers(doc, set(service.metrics)) + scale_target(doc, docs)
        if doc.get("kind") == "HorizontalPodAutoscaler":
            problems += scale_target(doc, docs)
        findings += [Finding("rules", resource_name(doc), p) for p in problems]
    return findings
