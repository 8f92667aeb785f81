"""What `make loadtest` prints at its end when the target is in a cloud: how to read the
platform's own view of that run (an offer, not a call: it needs AWS credentials and the service's
name, which the load test does not have). Imports nothing from AWS, so the load test does not."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

INFRA_OUTPUT = "$(terraform -chdir=infra output -raw {})"


def offer(target: str, run_dir: Path) -> str | None:
    """The command lines for `run_dir`, or None for a target on this machine or a private
    network (the local platform writes its own platform.jsonl)."""
    host = urlsplit(target).hostname or ""
    if host in ("", "localhost") or host.endswith(".localhost"):
        return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None and (ip.is_loopback or ip.is_private or ip.is_link_local):
        return None
    apprunner = (
        f"  make platform-view RUN={run_dir} "
        f"SERVICE_ARN={INFRA_OUTPUT.format('apprunner_service_arn')}"
    )
    ecs = (
        f"  make platform-view RUN={run_dir} CLUSTER={INFRA_OUTPUT.format('ecs_cluster_name')} "
        "SERVICE=<service name> [LOG_GROUP=/ecs/<service name>]"
    )
    lines = ["loadtest: the platform's own view of this run (instances' log streams, CloudWatch "
             "metrics), beside the clients' in the report:"]  # fmt: skip
    if host.endswith(".awsapprunner.com"):
        lines.append(apprunner)
    else:
        lines += [apprunner + "   (App Runner)", ecs + "   (ECS Express Mode)"]
    return "\n".join(lines)
