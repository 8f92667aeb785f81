"""The image in a real container engine (Podman): what `make buildc`, `make runc` and
`make stopc` do, checked from outside as a platform would see it.

The image is the real Dockerfile built by `container.sh build` (offline path, see conftest);
the container is started by `container.sh run` exactly as `make runc` starts it (read-only,
the image's own user, whatever runtime and rlimits the script's probe picks), on a free port
of 127.0.0.1 (PORT=0, HOST_IP=127.0.0.1) under a name of its own, and stopped by
`container.sh stop` with requests in flight. Every container is removed afterwards, on
failure too. Traffic goes to 127.0.0.1 only; the load is 60 requests of 2 s.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import io
import json
import re
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import pytest

from tests.image.conftest import (
    CARGO_VERSION,
    CONTAINER_SH,
    ROOT,
    START_TIMEOUT_S,
    container_env,
    podman,
)

pytestmark = [pytest.mark.live, pytest.mark.container]

IMAGE_LIMIT_BYTES = 7_000_000
IN_FLIGHT = 60
REQUEST_DELAY = "2s"


class Container:
    def __init__(self, tag: str, workdir: Path) -> None:
        self.name = f"delay-echo-test-{uuid.uuid4().hex[:12]}"
        self.env = container_env(IMAGE=tag, CONTAINER=self.name, PORT="0", HOST_IP="127.0.0.1")
        self.log_path = workdir / f"{self.name}.log"
        self._log = self.log_path.open("w")
        self.port = 0
        self.proc = subprocess.Popen(
            [str(CONTAINER_SH), "run"],
            env=self.env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def _wait_ready(self) -> None:
        """Until the engine says which free port it published and /readyz answers 200 there."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"container.sh run exited {self.proc.returncode}:\n{self.log()}")
            if not self.port:
                r = podman("port", self.name, "8080/tcp", check=False)
                m = re.fullmatch(r"127\.0\.0\.1:(\d+)", r.stdout.strip())
                self.port = int(m.group(1)) if m else 0
            if self.port:
                try:
                    if self.request("GET", "/readyz", timeout=2)[0] == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.1)
        pytest.fail(
            f"no 200 from /readyz within {START_TIMEOUT_S}s (port {self.port}):\n{self.log()}"
        )

    def request(
        self, method: str, path: str, body: bytes | None = None, timeout: float = 10
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def stop(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CONTAINER_SH), "stop"],
            env={**self.env, "STOP_TIMEOUT": "30"},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def close(self) -> None:
        podman("rm", "--force", "--ignore", self.name, check=False)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture(scope="module")
def inspect(image: dict) -> dict:
    return json.loads(podman("image", "inspect", image["tag"]).stdout)[0]


@pytest.fixture(scope="module")
def container(image: dict, tmp_path_factory: pytest.TempPathFactory):
    c = Container(image["tag"], tmp_path_factory.mktemp("container"))
    try:
        yield c
    finally:
        c.close()


def test_image_is_small(inspect: dict) -> None:
    assert inspect["Size"] <= IMAGE_LIMIT_BYTES, f"{inspect['Size']} bytes > {IMAGE_LIMIT_BYTES}"


def test_image_has_the_oci_labels(image: dict, inspect: dict) -> None:
    labels = inspect["Config"]["Labels"]
    assert labels["org.opencontainers.image.title"] == "delay-echo"
    assert labels["org.opencontainers.image.licenses"] == "MIT"
    assert labels["org.opencontainers.image.description"]
    assert labels["org.opencontainers.image.version"] == CARGO_VERSION
    assert labels["org.opencontainers.image.revision"] == image["revision"]
    assert labels["org.opencontainers.image.source"] == image["source"]


def test_image_config_is_the_dockerfiles(inspect: dict) -> None:
    config = inspect["Config"]
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["/delay-echo"]
    assert config["StopSignal"] == "SIGTERM"
    assert "8080/tcp" in config["ExposedPorts"]
    # Kept only in the docker format, which is why container.sh builds with --format docker.
    assert inspect["Healthcheck"]["Test"] == ["CMD", "/delay-echo", "healthcheck"], inspect


def test_image_holds_nothing_but_the_binary(image: dict, tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    podman("image", "save", "--format", "docker-archive", "-o", str(archive), image["tag"])
    files: dict[str, tarfile.TarInfo] = {}
    with tarfile.open(archive) as outer:

        def member_of(tar: tarfile.TarFile, name: str | tarfile.TarInfo) -> bytes:
            f = tar.extractfile(name)
            assert f is not None, f"{name} is a file in the archive"
            return f.read()

        (manifest,) = json.loads(member_of(outer, "manifest.json"))
        for layer in manifest["Layers"]:
            data = member_of(outer, layer)
            with tarfile.open(fileobj=io.BytesIO(data)) as inner:
                for member in inner.getmembers():
                    if not member.isdir():
                        files[member.name.removeprefix("./")] = member
                        if member.name.removeprefix("./") == "delay-echo":
                            head = member_of(inner, member)[:4]
    assert sorted(files) == ["delay-echo"], sorted(files)
    binary = files["delay-echo"]
    assert binary.isfile() and binary.mode & 0o111, oct(binary.mode)
    assert head == b"\x7fELF"


def test_runs_read_only_as_its_own_user_as_pid_1(container: Container) -> None:
    info = json.loads(podman("container", "inspect", container.name).stdout)[0]
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    assert info["Config"]["User"] == "65532:65532"  # the image's, not overridden
    top = podman("top", container.name, "user", "group", "pid").stdout.split()
    assert top[3:] == ["65532", "65532", "1"], top
    # Nothing but 127.0.0.1 published.
    assert (
        podman("port", container.name).stdout.strip() == f"8080/tcp -> 127.0.0.1:{container.port}"
    )


def test_probes_and_an_echo_answer(container: Container) -> None:
    assert container.request("GET", "/readyz")[0] == 200
    assert container.request("GET", "/healthz")[0] == 200
    status, headers, body = container.request("POST", "/container/echo?delay=0", b"hello container")
    assert status == 200, (status, headers, body)
    assert headers.get("x-instance-id"), headers
    assert body == b"hello container"


def test_the_healthcheck_passes(container: Container) -> None:
    # The Dockerfile's HEALTHCHECK, run by the engine (no systemd timers needed).
    r = podman("healthcheck", "run", container.name, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    # The same binary reports a dead port as unhealthy: the check can fail.
    bad = podman(
        "exec",
        container.name,
        "/delay-echo",
        "healthcheck",
        "--url",
        "http://127.0.0.1:9/readyz",
        check=False,
    )
    assert bad.returncode == 1, bad.stdout + bad.stderr


def test_stop_with_requests_in_flight_loses_none(container: Container) -> None:
    """Last: it stops the module's container. 60 requests of 2 s in flight, then
    `container.sh stop`: every one answers 200 and the service exits 0."""

    def one(i: int) -> int:
        return container.request("GET", f"/drain/{i}?delay={REQUEST_DELAY}", timeout=30)[0]

    with concurrent.futures.ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool:
        futures = [pool.submit(one, i) for i in range(IN_FLIGHT)]
        deadline = time.monotonic() + 10
        in_flight = 0
        while time.monotonic() < deadline:
            metrics = container.request("GET", "/metrics")[2].decode()
            m = re.search(r"^delay_echo_in_flight_requests (\d+)", metrics, re.MULTILINE)
            in_flight = int(m.group(1)) if m else 0
            if in_flight >= IN_FLIGHT:
                break
            time.sleep(0.05)
        assert in_flight >= IN_FLIGHT, f"only {in_flight} requests in flight before the stop"
        stopped = container.stop()
        statuses = [f.result(timeout=60) for f in futures]
    assert stopped.returncode == 0, stopped.stderr
    assert statuses == [200] * IN_FLIGHT, statuses
    code = container.proc.wait(timeout=30)
    assert code == 0, f"exit {code}:\n{container.log()}"
    assert f"drained={IN_FLIGHT} cut=0" in container.log(), container.log()
    # `--rm`: nothing left behind.
    assert podman("container", "exists", container.name, check=False).returncode == 1
