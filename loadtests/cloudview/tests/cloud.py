"""Test helpers: moto in server mode on an ephemeral 127.0.0.1 port, a proxy in front of it that
answers ThrottlingException a set number of times (moto never throttles by itself), and the
seeding of log streams and metric points through the real AWS API (boto3 against the server)."""

from __future__ import annotations

import http.client
import http.server
import json
import logging
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

REGION = "eu-west-1"
ACCOUNT = "123456789012"
NAME = "delay-echo"
SERVICE_ID = "0123456789abcdef0123456789abcdef"
ARN = f"arn:aws:apprunner:{REGION}:{ACCOUNT}:service/{NAME}/{SERVICE_ID}"
GROUP = f"/aws/apprunner/{NAME}/{SERVICE_ID}/application"
DIMENSIONS = [{"Name": "ServiceName", "Value": NAME}, {"Name": "ServiceID", "Value": SERVICE_ID}]
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's server on 127.0.0.1, port 0 (the kernel picks a free one); its URL; stopped on exit,
    also when the test fails."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per call otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def reset(url: str) -> None:
    """Empties every moto backend, so each test starts from no log groups and no metrics."""
    urllib.request.urlopen(
        urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10
    ).close()


class ThrottlingProxy:
    """Forwards every request to `upstream`, except the first `throttle[op]` calls of each logs
    operation `op` (X-Amz-Target ends with it), which get the 400 ThrottlingException the logs
    API answers when a caller is too fast. Counts every call per operation."""

    def __init__(self, upstream: str, throttle: dict[str, int]):
        self.upstream = upstream.removeprefix("http://")
        self.left = Counter(throttle)
        self.calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                op = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1] or self.path
                proxy.calls[op] += 1
                if proxy.left[op] > 0:
                    proxy.left[op] -= 1
                    proxy.throttled[op] += 1
                    out = json.dumps(
                        {"__type": "ThrottlingException", "message": "Rate exceeded"}
                    ).encode()
                    self.send_response(400)
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    self.send_header("x-amzn-ErrorType", "ThrottlingException")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    conn.request("POST", self.path, body=body, headers=headers)
                    r = conn.getresponse()
                    data = r.read()
                    self.send_response(r.status)
                    for k, v in r.getheaders():
                        if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    conn.close()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> ThrottlingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def client(url: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name=REGION, **CREDENTIALS)


def put_stream(url: str, group: str, stream: str, lines: list[tuple[float, str]]) -> None:
    """A stream with `lines` (epoch seconds, message), the group created when missing."""
    logs = client(url, "logs")
    if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    events = [{"timestamp": round(t * 1000), "message": m} for t, m in sorted(lines)]
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def put_points(
    url: str,
    namespace: str,
    name: str,
    values: list[tuple[float, float]],
    dimensions: list[dict[str, str]] = DIMENSIONS,
) -> None:
    client(url, "cloudwatch").put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": dimensions,
                "Timestamp": datetime.fromtimestamp(t, UTC),
                "Value": v,
            }
            for t, v in values
        ],
    )


# The fields each lifecycle line adds (docs/records.schema.json).
LIFECYCLE_FIELDS: dict[str, dict[str, Any]] = {
    "start": {"address": "0.0.0.0:8080", "version": "0.1.0", "startup_delay_ms": 2500.0},
    "ready": {"startup_delay_ms": 2500.0},
    "drain": {"drain_delay_ms": 1000.0},
}


def record(event: str, t: float, instance: str, **extra: Any) -> str:
    """One line of the record schema (docs/records.schema.json, version 1)."""
    stamp = datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return json.dumps(
        {"v": 1, "event": event, "ts": stamp, "t_unix": t, "instance": instance, "region": REGION}
        | LIFECYCLE_FIELDS.get(event, {})
        | extra
    )


def request(t: float, instance: str) -> str:
    return record(
        "request", t, instance, method="GET", path="/", status=200, seq=1, queue_ms=0.0,
        sleep_ms=80.0, cpu_ms=0.0, total_ms=80.2, cache=None, legs=[],
    )  # fmt: skip


def enforce_auth(url: str, after: str) -> None:
    """moto checks IAM policies from the next `after` requests on ("inf": never, its default)."""
    request = urllib.request.Request(
        f"{url}/moto-api/reset-auth",
        data=after.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},  # a form body would be parsed away
    )
    urllib.request.urlopen(request, timeout=10).close()


def user_allowed(url: str, actions: list[str]) -> tuple[str, str]:
    """An IAM user allowed `actions` on every resource, and nothing else; its access key."""
    iam = client(url, "iam")
    iam.create_user(UserName="viewer")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    }
    iam.put_user_policy(UserName="viewer", PolicyName="view", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="viewer")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]
