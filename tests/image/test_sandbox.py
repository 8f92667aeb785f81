"""The binary, run the way the image runs it, serves and stops cleanly.

scripts/image/sandbox.sh starts it as uid/gid 65532, with an empty environment (only the
PWD=/ that bubblewrap always sets), as PID 1 of
its own PID namespace, in its own network namespace, with a root filesystem that holds only
the binary (stricter than a container, which adds /proc, /dev and /etc files). Defaults
only: it listens on 0.0.0.0:8080, as in the image. The probes reach it inside its network
namespace (like `docker exec`), so nothing leaves this machine's loopback.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import SCRIPTS

SANDBOX = str(SCRIPTS / "sandbox.sh")
START_TIMEOUT_S = 30  # generous: the machine is shared; this bounds a hang, it measures nothing


class Sandbox:
    def __init__(self, binary: Path, workdir: Path) -> None:
        self.binary = binary
        self.info = workdir / "info.json"
        self.log_path = workdir / "sandbox.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [SANDBOX, "run", str(self.info), str(binary)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.pid = self._child_pid()

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def _child_pid(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"the sandbox exited with {self.proc.returncode} before starting:\n{self.log()}"
                )
            try:
                return int(json.loads(self.info.read_text())["child-pid"])
            except (FileNotFoundError, ValueError, KeyError):
                time.sleep(0.05)
        pytest.fail(f"bubblewrap reported no child PID within {START_TIMEOUT_S}s:\n{self.log()}")

    def host(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SANDBOX, "host", str(self.pid), *cmd], capture_output=True, text=True, timeout=60
        )

    def exec(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SANDBOX, "exec", str(self.pid), str(self.binary), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def inspect(self) -> dict[str, str]:
        out = subprocess.run(
            [SANDBOX, "inspect", str(self.pid)], capture_output=True, text=True, check=True
        ).stdout
        return dict(line.split("=", 1) for line in out.splitlines())

    def signal(self, sig: str) -> None:
        subprocess.run([SANDBOX, "signal", str(self.pid), sig], check=True)

    def curl(self, path: str, *args: str) -> tuple[int, dict[str, str], str]:
        """One request to the service inside the sandbox: (status, headers, body)."""
        r = self.host(
            "curl",
            "--silent",
            "--show-error",
            "--max-time",
            "10",
            "--include",
            *args,
            f"http://127.0.0.1:8080{path}",
        )
        assert r.returncode == 0, f"curl failed: {r.stderr}\n{self.log()}"
        head, _, body = r.stdout.replace("\r\n", "\n").partition("\n\n")
        status_line, *header_lines = head.split("\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)
        }
        return int(status_line.split()[1]), headers, body

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"delay-echo exited with {self.proc.returncode}:\n{self.log()}")
            r = self.host(
                "curl",
                "--silent",
                "--max-time",
                "2",
                "--output",
                "/dev/null",
                "--write-out",
                "%{http_code}",
                "http://127.0.0.1:8080/readyz",
            )
            if r.stdout.strip() == "200":
                return
            time.sleep(0.1)
        pytest.fail(f"/readyz did not answer 200 within {START_TIMEOUT_S}s:\n{self.log()}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.signal("KILL")
            self.proc.wait(timeout=30)
        self._log.close()


@pytest.fixture(scope="module")
def sandbox(binary: Path, tmp_path_factory: pytest.TempPathFactory):
    s = Sandbox(binary, tmp_path_factory.mktemp("sandbox"))
    s.wait_ready()
    yield s
    s.close()


def test_runs_as_the_image_runs_it(sandbox: Sandbox) -> None:
    facts = sandbox.inspect()
    assert facts["uid"] == "65532,65532,65532,65532", facts
    assert facts["gid"] == "65532,65532,65532,65532", facts
    # NSpid lists the PID in each namespace, outermost first: PID 1 inside, as in a container.
    assert facts["nspid"].rstrip(",").split(",")[-1] == "1", facts
    # Nothing from the host: bubblewrap always sets PWD after clearing the rest.
    assert facts["environ"] == "PWD=/,", facts
    assert facts["root"] == "./delay-echo", facts


def test_serves_an_echo(sandbox: Sandbox) -> None:
    status, headers, body = sandbox.curl(
        "/sandbox/echo?delay=0", "-X", "POST", "--data-binary", "hello sandbox"
    )
    assert status == 200, (status, headers, body)
    assert headers.get("x-instance-id"), headers
    assert body == "hello sandbox"


def test_probes_answer(sandbox: Sandbox) -> None:
    assert sandbox.curl("/healthz")[0] == 200
    assert sandbox.curl("/readyz")[0] == 200


def test_healthcheck_as_the_dockerfile_runs_it(sandbox: Sandbox) -> None:
    # HEALTHCHECK CMD ["/delay-echo", "healthcheck"]: no arguments, empty environment.
    r = sandbox.exec("healthcheck")
    assert r.returncode == 0, r.stdout + r.stderr


def test_healthcheck_with_url_fails_when_nothing_answers(sandbox: Sandbox) -> None:
    # Port 9 (discard) has no listener in the sandbox's network namespace.
    r = sandbox.exec("healthcheck", "--url", "http://127.0.0.1:9/readyz")
    assert r.returncode == 1, r.stdout + r.stderr
    ok = sandbox.exec("healthcheck", "--url", "http://127.0.0.1:8080/readyz")
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_sigterm_exits_zero(binary: Path, tmp_path: Path) -> None:
    s = Sandbox(binary, tmp_path)
    try:
        s.wait_ready()
        s.signal(signal.SIGTERM.name.removeprefix("SIG"))
        code = s.proc.wait(timeout=START_TIMEOUT_S)
        assert code == 0, f"exit code {code} after SIGTERM:\n{s.log()}"
    finally:
        s.close()
