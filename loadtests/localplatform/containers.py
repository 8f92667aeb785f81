"""RUNTIME=container: every instance is a container of the image, pulled from a registry of the run.

Before the first instance, the runtime
- probes what the engine needs on this machine (`podman run --rm IMAGE --version`: the default OCI
  runtime, else the other of runc/crun, as crun refuses cgroup v1 in hybrid mode; Podman's default
  rlimits, else explicit ones below the hard limits, as a host without CAP_SYS_RESOURCE refuses
  the defaults): scripts/image/container.sh's probe, the one `make runc` uses;
- starts a throw-away registry on 127.0.0.1 (scripts/image/registry.sh) and pushes the image to it;
- gives the instances a Podman storage of their own (`--root`/`--runroot` in a temporary folder), so
  the first instance's pull really downloads the image, as on a fresh node, and later ones find it
  there, as on a node that has run it before.

Each instance is then `podman pull` from 127.0.0.1:PORT (`--tls-verify=false`), then an attached
`podman run --rm --read-only` as the image's user, its 8080 published on a port Podman picks
(`-p 127.0.0.1::8080`, read back from `podman inspect`: no probe-and-release race), with the same
flags a process instance gets, `--startup-delay` (the cold start) included. The attached `podman run`
is the instance's process: its output is the container's (service.log), it forwards SIGTERM to the
container (--sig-proxy), and it exits with the container's exit status. Every container is named
for the run and labelled with it, and whatever happens they are all stopped, removed, then the
storage and the registry with them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests.core import tools

from .instances import Instance, ServiceArgs

LABEL = "io.github.delay-echo.platform-run"
REPOSITORY = "delay-echo"


class ContainerError(RuntimeError):
    """The engine, the image or the registry is not there or refused what the runtime needs."""


def _clip(text: str, n: int = 600) -> str:
    text = text.strip()
    return text if len(text) <= n else "…" + text[-n:]


def find_podman(name: str = "podman") -> str:
    path = shutil.which(name)
    if path is None:
        raise ContainerError(
            f"RUNTIME=container needs Podman and no {name!r} is on PATH: install it (Debian/Ubuntu: "
            "apt-get install --no-install-recommends podman runc containernetworking-plugins "
            "iptables docker-registry, as make deps does) or use RUNTIME=process"
        )
    return path


def _epoch(nanos: str) -> float | None:
    try:
        n = int(nanos)
    except ValueError:
        return None
    return n / 1e9 if n > 0 else None


@dataclass
class Running:
    """What `podman inspect` says about a running container."""

    id: str
    pid: int
    port: int
    created: float | None
    started: float | None


# Status|StartedAt|Created|Pid|Id|host port of 8080/tcp on 127.0.0.1
_INSPECT = (
    "{{.State.Status}}|{{.State.StartedAt.UnixNano}}|{{.Created.UnixNano}}|{{.State.Pid}}|{{.Id}}|"
    '{{range $p, $b := .NetworkSettings.Ports}}{{if eq $p "8080/tcp"}}{{range $b}}{{.HostPort}}{{end}}{{end}}{{end}}'
)


@dataclass
class ContainerRuntime:
    """The engine, the run's registry and storage; `prepare()` before instances, `close()` after."""

    image: str
    repo: Path = tools.REPO
    podman: str = "podman"
    run_id: str = field(default_factory=lambda: "p" + secrets.token_hex(4))
    tmp: Path | None = None
    registry_port: int | None = None
    pull_ref: str = ""
    engine_args: list[str] = field(default_factory=list)  # before the command: --root, --runtime
    run_args: list[str] = field(default_factory=list)  # after `run`: rlimits
    runtime_flag: str = ""  # --runtime's value when the default OCI runtime would not do
    oci_runtime: str = ""  # the OCI runtime the instances run on
    version: str = ""
    registry_started: bool = False

    @property
    def registry_script(self) -> Path:
        return self.repo / "scripts" / "image" / "registry.sh"

    def _podman(
        self, *args: str, store: bool = False, timeout: float = 120.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """One podman command; `store`: in the instances' storage rather than the default one."""
        argv = [self.podman, *(self.engine_args if store else self._runtime_args()), *args]
        p = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        if check and p.returncode != 0:
            raise ContainerError(
                f"{' '.join(argv[:1] + list(args[:2]))}… exited {p.returncode}: {_clip(p.stderr or p.stdout)}"
            )
        return p

    def _runtime_args(self) -> list[str]:
        return ["--runtime", self.runtime_flag] if self.runtime_flag else []

    def name(self, instance: str) -> str:
        return f"delay-echo-{self.run_id}-{instance}"

    # -- before the first instance -------------------------------------------------------------

    def preflight(self) -> None:
        """Podman, the image and the registry script are there (before anything starts)."""
        self.podman = find_podman(self.podman)
        if self._podman("image", "exists", self.image, check=False).returncode != 0:
            raise ContainerError(
                f"no image {self.image!r} in Podman's storage: build it with make buildc "
                "(or point IMAGE at one)"
            )
        if not self.registry_script.is_file():
            raise ContainerError(f"{self.registry_script} is missing")

    def prepare(self) -> dict[str, Any]:
        """Engine, probe, registry, push, storage; returns what the `platform` event records."""
        self.preflight()
        self.version = (
            self._podman("version", "--format", "{{.Client.Version}}", check=False).stdout.strip()
            or "unknown"
        )
        self._probe()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"delay-echo-platform-{self.run_id}-"))
        self._start_registry()
        self.pull_ref = f"127.0.0.1:{self.registry_port}/{REPOSITORY}:{self.run_id}"
        t0 = time.monotonic()
        self._podman("push", "--quiet", "--tls-verify=false", self.image, self.pull_ref)
        pushed = time.monotonic() - t0
        runtime = self._runtime_args()
        self.engine_args = [
            "--root",
            str(self.tmp / "storage"),
            "--runroot",
            str(self.tmp / "run"),
            *runtime,
        ]
        return {
            "name": "container",
            "engine": f"podman {self.version}",
            "oci_runtime": self.oci_runtime,
            "run_args": self.run_args,
            "image": self.image,
            "registry": f"127.0.0.1:{self.registry_port}",
            "pull": self.pull_ref,
            "push_s": round(pushed, 3),
            "storage": str(self.tmp / "storage"),
            "label": f"{LABEL}={self.run_id}",
        }

    def _probe(self) -> None:
        """What this host lets a container do: scripts/image/container.sh's probe (`make runc`'s),
        which runs the image's own `--version` with the default OCI runtime, else the other of
        runc/crun, and Podman's default rlimits, else explicit ones below the hard limits."""
        p = subprocess.run(
            [str(self.repo / "scripts" / "image" / "container.sh"), "probe"],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "ENGINE": "podman", "PODMAN": self.podman, "IMAGE": self.image},
        )
        lines = p.stdout.splitlines()
        if p.returncode != 0 or len(lines) != 2:
            raise ContainerError("Podman could not run the image: " + _clip(p.stderr or p.stdout))
        global_flags, self.run_args = lines[0].split(), lines[1].split()
        self.runtime_flag = global_flags[1] if global_flags[:1] == ["--runtime"] else ""
        info = self._podman("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False)
        self.oci_runtime = self.runtime_flag or info.stdout.strip() or "unknown"

    def _start_registry(self) -> None:
        """The run's registry on a port it binds itself (port 0; registry.sh reports it)."""
        assert self.tmp is not None
        folder = self.tmp / "registry"
        p = subprocess.run(
            [str(self.registry_script), "start", str(folder), "0"],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        self.registry_started = True
        if p.returncode != 0:
            raise ContainerError(f"the local registry did not start: {_clip(p.stderr or p.stdout)}")
        self.registry_port = int((folder / "registry.port").read_text())

    # -- one instance ----------------------------------------------------------------------------

    def pull(self) -> dict[str, Any]:
        """`podman pull` into the instances' storage; how long it took, and whether the image was
        there already (a node that has run it before) or was downloaded (a fresh node)."""
        cached = self._in_storage()
        t0 = time.monotonic()
        p = self._podman("pull", "--quiet", "--tls-verify=false", self.pull_ref, store=True)
        return {
            "image": self.pull_ref,
            "image_id": p.stdout.strip()[:12],
            "pull_s": round(time.monotonic() - t0, 3),
            "image_was_cached": cached,
        }

    def _in_storage(self) -> bool:
        """Whether the storage names the image: its `<driver>-images/images.json`, read as a file
        (instant, where a `podman image exists` would add its own start-up to every pull)."""
        assert self.tmp is not None
        for f in (self.tmp / "storage").glob("*-images/images.json"):
            with contextlib.suppress(OSError):
                if self.pull_ref in f.read_text():
                    return True
        return False

    def run_argv(self, name: str, service: list[str]) -> list[str]:
        """The attached `podman run` of one instance; `service`: delay-echo's flags."""
        return [
            self.podman,
            *self.engine_args,
            "run",
            "--rm",
            "--name",
            name,
            "--label",
            f"{LABEL}={self.run_id}",
            "--read-only",
            # The platform checks readiness itself (HAProxy's /readyz), as platforms do; Podman's
            # HEALTHCHECK timers would need systemd.
            "--no-healthcheck",
            "--pull=never",
            "--sig-proxy=true",
            "--publish",
            "127.0.0.1::8080",
            *self.run_args,
            self.pull_ref,
            *service,
        ]

    def inspect(self, name: str) -> Running | None:
        """The container once it runs with its port published, else None (not yet, or gone)."""
        p = self._podman("inspect", "--format", _INSPECT, name, store=True, check=False)
        parts = p.stdout.strip().split("|")
        if p.returncode != 0 or len(parts) != 6 or parts[0] != "running" or not parts[5]:
            return None
        return Running(
            id=parts[4][:12],
            pid=int(parts[3]),
            port=int(parts[5]),
            created=_epoch(parts[2]),
            started=_epoch(parts[1]),
        )

    def stop(self, names: Sequence[str], timeout: float) -> None:
        """`podman stop` (SIGTERM, SIGKILL after `timeout`), all at once."""
        if names:
            self._podman(
                "stop",
                "--ignore",
                "--time",
                str(max(1, round(timeout))),
                *names,
                store=True,
                check=False,
                timeout=timeout + 60,
            )

    def kill(self, name: str) -> None:
        self._podman("kill", "--signal", "KILL", name, store=True, check=False, timeout=30)

    def leftovers(self) -> list[str]:
        """Containers of this run that still exist, running or not."""
        if not self.engine_args:
            return []
        p = self._podman(
            "ps",
            "--all",
            "--filter",
            f"label={LABEL}={self.run_id}",
            "--format",
            "{{.Names}}",
            store=True,
            check=False,
        )
        return p.stdout.split()

    def close(self) -> dict[str, Any]:
        """Removes every container of the run, the storage and the registry; says what it removed."""
        removed = self.leftovers()
        if removed:
            self._podman("rm", "--force", "--time", "0", *removed, store=True, check=False)
        left = self.leftovers()
        if self.engine_args:
            self._podman("rmi", "--all", "--force", store=True, check=False)
        if self.registry_started and self.tmp is not None:
            subprocess.run(
                [str(self.registry_script), "stop", str(self.tmp / "registry")],
                capture_output=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        if self.tmp is not None and not left:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return {
            "removed_at_close": removed,
            "left": left,
            "storage_removed": self.tmp is None or not self.tmp.exists(),
        }


@dataclass
class ContainerInstance(Instance):
    """One instance as a container: the attached `podman run` is its process (`proc`)."""

    rt: ContainerRuntime | None = None
    container: str = ""
    container_id: str = ""
    container_pid: int | None = None  # delay-echo itself, as the host sees it

    @property
    def pid(self) -> int | None:
        return self.container_pid

    def signal(self, sig: signal.Signals) -> None:
        """SIGTERM reaches the container through `podman run` (--sig-proxy); SIGKILL through Podman."""
        if sig == signal.SIGKILL and self.rt is not None and self.container:
            self.rt.kill(self.container)
        super().signal(sig)

    def launch(
        self,
        rt: ContainerRuntime,
        service: ServiceArgs,
        log: Path,
        phase: Callable[..., None],
        cancelled: Callable[[], bool],
        timeout: float = 120.0,
    ) -> None:
        """Pull, run, wait until the container runs with its port published; logs each phase."""
        self.container = rt.name(self.name)
        pulled = rt.pull()
        phase("pulled", **pulled)
        if cancelled():
            raise ContainerError(f"{self.container}: not run (scaled in, or the platform stops)")
        argv = rt.run_argv(self.container, service.argv(self.name, self.cold_start))
        with open(log, "ab") as f:
            # Own session: Ctrl-C reaches the platform only, which then stops each container.
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=f, stderr=f, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while True:
            running = rt.inspect(self.container)
            if running is not None:
                break
            if self.proc.poll() is not None:
                raise ContainerError(
                    f"podman run of {self.container} exited {self.proc.returncode} before the "
                    f"container ran; see service.log"
                )
            if cancelled():
                raise ContainerError(
                    f"{self.container}: start given up (scaled in, or the platform stops)"
                )
            if time.monotonic() > deadline:
                raise ContainerError(f"{self.container} was not running within {timeout:g} s")
            time.sleep(0.05)
        self.container_id, self.container_pid, self.port = running.id, running.pid, running.port
        phase("created", running.created, container=self.container, id=running.id)
        phase(
            "started",
            running.started,
            pid=running.pid,
            port=running.port,
            container=self.container,
            podman_pid=self.proc.pid,
        )
