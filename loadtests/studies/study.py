"""A study file, read once and validated: the network, what runs where, the load, A and B.

A study is described once, as a TOML file in this folder (`<name>.toml`), so the README, the make
target, the runner and the tests all read the same thing. Everything is checked here, before any
namespace exists, and a bad file fails with the file, the field and what is allowed:

    name = "cdn"                     # the file's own name, without .toml
    title, question, expect = "…"    # what the study answers and the result to expect (for the README)
    limit_seconds = 300              # hard bound on the whole study

    [[hosts]]        name = "user"                       # one network namespace each
    [[links]]        a = "user"  b = "edge"  delay_ms = 5  [back_ms, jitter_ms]
    [services.<name>]
      host = "origin"  port = 8080  kind = "delay-echo"  args = ["--delay", "20ms"]
      peers = { app = "app" }        # delay-echo: --peer NAME=<that service's URL from this host>
      kind = "nginx-edge"  upstream = "origin"           # nginx proxy_cache in front of a service
    [load]
      tool = "k6" | "locust"  from = "user"  profile = "steady"  workers = 2 (locust only)
      knobs = { RATE = "20", DURATION = "20s" }          # loadtests/README.md's knobs
      short = { DURATION = "5s" }                        # overrides for a short run (tests)
    [variants.A] / [variants.B]
      label = "direct"  target = "origin"  knobs = { ECHO_PATH = "/object" }

One-way delays are those of the links (see loadtests/netlab); a host pair without a link talks
without added delay, so a study that wants "the sum of the delays" as a direct path says so with
a link of its own.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from loadtests.core.durations import seconds
from loadtests.netlab.topology import Host, Link, Topology, TopologyError

HERE = Path(__file__).resolve().parent
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
KNOB = re.compile(r"^[A-Z][A-Z0-9_]*$")
TOOLS = ("k6", "locust")
PROFILES = ("smoke", "steady", "step", "spike", "spikes", "ramp", "soak")
KINDS = ("delay-echo", "nginx-edge")
# Knobs the runner sets itself: a study that set them would point the load elsewhere.
RUNNER_KNOBS = ("TARGET", "BASE_URL", "RESULTS", "TOOL", "LOCUST_WORKERS", "STUDY")
# Knobs that set how long the plan runs: checked here because the runner bounds the run by them.
DURATION_KNOBS = ("DURATION", "HOLD", "LEAD", "TAIL")
MAX_LIMIT_SECONDS = 1800
MAX_DELAY_MS = 60_000.0


class StudyError(ValueError):
    """A study file that cannot be run: which file, which field, what is allowed."""


@dataclass(frozen=True)
class Service:
    name: str
    host: str
    port: int
    kind: str
    args: tuple[str, ...] = ()
    peers: dict[str, str] = field(default_factory=dict)  # peer name -> service name
    upstream: str | None = None


@dataclass(frozen=True)
class Load:
    tool: str
    host: str
    profile: str
    workers: int
    knobs: dict[str, str]
    short: dict[str, str]


@dataclass(frozen=True)
class Variant:
    key: str  # "A" or "B"
    label: str
    target: str  # a service name
    knobs: dict[str, str]


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    question: str
    expect: str
    limit_seconds: int
    hosts: tuple[str, ...]
    links: tuple[Link, ...]
    services: dict[str, Service]
    load: Load
    variants: tuple[Variant, Variant]
    note: str = ""
    path: Path | None = None

    def ports(self, host: str) -> tuple[int, ...]:
        return tuple(sorted(s.port for s in self.services.values() if s.host == host))

    def topology(self) -> Topology:
        """The network as loadtests/netlab builds it: hosts with the ports their services listen
        on, links with their delays. It also answers the ground truth (`one_way_ms`)."""
        return Topology(tuple(Host(h, self.ports(h)) for h in self.hosts), self.links)

    def round_trip_ms(self, src: str, dst: str) -> float:
        """The configured round trip between two hosts (0 without a link)."""
        t = self.topology()
        return t.one_way_ms(src, dst) + t.one_way_ms(dst, src)

    def knobs(self, variant: Variant, short: bool = False) -> dict[str, str]:
        """The load knobs for one variant: the study's, then the short run's, then the variant's."""
        return {**self.load.knobs, **(self.load.short if short else {}), **variant.knobs}


# --- reading ---------------------------------------------------------------------------------


class _Fields:
    """Typed access to one TOML table, with errors that name the file and the field."""

    def __init__(self, where: str, table: Any, allowed: tuple[str, ...]) -> None:
        if not isinstance(table, dict):
            raise StudyError(f"{where}: expected a table, got {type(table).__name__}")
        unknown = sorted(set(table) - set(allowed))
        if unknown:
            raise StudyError(
                f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}"
            )
        self.where, self.t = where, table

    def _get(self, key: str, required: bool) -> Any:
        if key not in self.t and required:
            raise StudyError(f"{self.where}: {key} is required")
        return self.t.get(key)

    def text(self, key: str, required: bool = True, default: str = "") -> str:
        v = self._get(key, required)
        if v is None:
            return default
        if not isinstance(v, str) or not v.strip():
            raise StudyError(f"{self.where}.{key}: expected a non-empty string, got {v!r}")
        return v

    def number(
        self, key: str, lo: float, hi: float, required: bool = True, default: float = 0.0
    ) -> float:
        v = self._get(key, required)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
            raise StudyError(f"{self.where}.{key}: {v!r}; allowed: a number from {lo:g} to {hi:g}")
        return float(v)

    def whole(self, key: str, lo: int, hi: int, required: bool = True, default: int = 0) -> int:
        v = self._get(key, required)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise StudyError(
                f"{self.where}.{key}: {v!r}; allowed: a whole number from {lo} to {hi}"
            )
        return v

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        v = self.text(key)
        if v not in allowed:
            raise StudyError(f"{self.where}.{key}: {v!r}; allowed: {', '.join(allowed)}")
        return v

    def strings(self, key: str) -> tuple[str, ...]:
        v = self._get(key, False) or []
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise StudyError(f"{self.where}.{key}: expected a list of strings, got {v!r}")
        return tuple(v)

    def mapping(self, key: str) -> dict[str, str]:
        v = self._get(key, False) or {}
        if not isinstance(v, dict):
            raise StudyError(f"{self.where}.{key}: expected a table of NAME = value, got {v!r}")
        out = {}
        for k, x in v.items():
            if isinstance(x, bool) or not isinstance(x, str | int | float):
                raise StudyError(f"{self.where}.{key}.{k}: {x!r}; allowed: a string or a number")
            out[str(k)] = str(x)
        return out


def _knobs(f: _Fields, key: str) -> dict[str, str]:
    knobs = f.mapping(key)
    for k in knobs:
        if not KNOB.match(k):
            raise StudyError(
                f"{f.where}.{key}.{k}: not a load-test knob name; allowed: upper case, digits and _ (RATE, ECHO_PATH, …; see loadtests/README.md)"
            )
        if k in DURATION_KNOBS:
            try:
                seconds(knobs[k])
            except ValueError:
                raise StudyError(
                    f"{f.where}.{key}.{k}: {knobs[k]!r}; allowed: a duration with a unit (250ms, 30s, 2m, 1h30m) or 0"
                ) from None
        if k in RUNNER_KNOBS:
            raise StudyError(
                f"{f.where}.{key}.{k}: set by the study runner; allowed: any other knob (give the target as a variant's target)"
            )
    return knobs


def parse(data: dict[str, Any], where: str = "study") -> Study:
    """A validated study from the TOML's dict; StudyError says what is wrong and what is allowed."""
    top = _Fields(
        where,
        data,
        (
            "name",
            "title",
            "question",
            "expect",
            "note",
            "limit_seconds",
            "hosts",
            "links",
            "services",
            "load",
            "variants",
        ),
    )
    name = top.text("name")
    if not NAME.match(name):
        raise StudyError(
            f"{where}.name: {name!r}; allowed: lower case letters, digits and '-', 1-32 characters"
        )
    limit = top.whole("limit_seconds", 10, MAX_LIMIT_SECONDS)

    raw_hosts = data.get("hosts")
    if not isinstance(raw_hosts, list) or not raw_hosts:
        raise StudyError(f"{where}.hosts: give at least one [[hosts]] with a name")
    hosts = []
    for i, h in enumerate(raw_hosts):
        hn = _Fields(f"{where}.hosts[{i}]", h, ("name",)).text("name")
        if not HOST_NAME.match(hn):
            raise StudyError(
                f"{where}.hosts[{i}].name: {hn!r}; allowed: letters, digits, '_' and '-', 1-32 characters"
            )
        if hn in hosts:
            raise StudyError(f"{where}.hosts: {hn!r} is declared twice")
        hosts.append(hn)

    def host_ref(f: _Fields, key: str) -> str:
        v = f.text(key)
        if v not in hosts:
            raise StudyError(f"{f.where}.{key}: unknown host {v!r}; hosts: {', '.join(hosts)}")
        return v

    links: list[Link] = []
    for i, x in enumerate(data.get("links") or []):
        f = _Fields(f"{where}.links[{i}]", x, ("a", "b", "delay_ms", "back_ms", "jitter_ms"))
        a, b = host_ref(f, "a"), host_ref(f, "b")
        if a == b:
            raise StudyError(f"{f.where}: a link joins two different hosts (both are {a!r})")
        if any({a, b} == {y.a, y.b} for y in links):
            raise StudyError(f"{f.where}: {a}-{b} is linked twice")
        back = f.number("back_ms", 0, MAX_DELAY_MS, required=False, default=-1)
        links.append(
            Link(
                a,
                b,
                f.number("delay_ms", 0, MAX_DELAY_MS),
                None if back < 0 else back,
                f.number("jitter_ms", 0, MAX_DELAY_MS, required=False),
            )
        )

    raw_services = data.get("services")
    if not isinstance(raw_services, dict) or not raw_services:
        raise StudyError(f"{where}.services: give at least one [services.<name>]")
    services: dict[str, Service] = {}
    for sname, s in raw_services.items():
        f = _Fields(
            f"{where}.services.{sname}", s, ("host", "port", "kind", "args", "peers", "upstream")
        )
        if not NAME.match(sname):
            raise StudyError(
                f"{f.where}: service name {sname!r}; allowed: lower case letters, digits and '-'"
            )
        kind = f.choice("kind", KINDS)
        svc = Service(
            sname,
            host_ref(f, "host"),
            f.whole("port", 1, 65535),
            kind,
            f.strings("args"),
            f.mapping("peers"),
            f.text("upstream", required=kind == "nginx-edge") or None,
        )
        if kind == "nginx-edge" and (svc.args or svc.peers):
            raise StudyError(f"{f.where}: an nginx-edge takes host, port and upstream only")
        if kind == "delay-echo" and svc.upstream:
            raise StudyError(
                f"{f.where}.upstream: only an nginx-edge has an upstream; a delay-echo forwards with peers"
            )
        if "--listen" in svc.args or "--peer" in svc.args:
            raise StudyError(
                f"{f.where}.args: --listen and --peer are set by the runner (give port and peers)"
            )
        if any(o.host == svc.host and o.port == svc.port for o in services.values()):
            raise StudyError(f"{f.where}.port: {svc.port} is already taken on host {svc.host}")
        services[sname] = svc
    for svc in services.values():
        for ref in [*svc.peers.values(), *([svc.upstream] if svc.upstream else [])]:
            if ref not in services or ref == svc.name:
                raise StudyError(
                    f"{where}.services.{svc.name}: refers to {ref!r}; allowed: another service ({', '.join(s for s in services if s != svc.name)})"
                )
        for peer in svc.peers:
            if not NAME.match(peer):
                raise StudyError(
                    f"{where}.services.{svc.name}.peers.{peer}: allowed: lower case letters, digits and '-'"
                )

    f = _Fields(
        f"{where}.load", data.get("load"), ("tool", "from", "profile", "workers", "knobs", "short")
    )
    tool = f.choice("tool", TOOLS)
    workers = f.whole("workers", 0, 16, required=False)
    if workers and tool != "locust":
        raise StudyError(f"{where}.load.workers: only locust has workers (tool is {tool})")
    load = Load(
        tool,
        host_ref(f, "from"),
        f.choice("profile", PROFILES),
        workers,
        _knobs(f, "knobs"),
        _knobs(f, "short"),
    )

    raw_variants = data.get("variants")
    if not isinstance(raw_variants, dict) or sorted(raw_variants) != ["A", "B"]:
        got = sorted(raw_variants) if isinstance(raw_variants, dict) else raw_variants
        raise StudyError(
            f"{where}.variants: exactly [variants.A] and [variants.B] are allowed, got {got!r}"
        )
    variants = []
    for key in ("A", "B"):
        vf = _Fields(f"{where}.variants.{key}", raw_variants[key], ("label", "target", "knobs"))
        target = vf.text("target")
        if target not in services:
            raise StudyError(
                f"{vf.where}.target: unknown service {target!r}; services: {', '.join(services)}"
            )
        variants.append(Variant(key, vf.text("label"), target, _knobs(vf, "knobs")))

    study = Study(
        name=name,
        title=top.text("title"),
        question=top.text("question"),
        expect=top.text("expect"),
        note=top.text("note", required=False),
        limit_seconds=limit,
        hosts=tuple(hosts),
        links=tuple(links),
        services=services,
        load=load,
        variants=(variants[0], variants[1]),
    )
    try:
        study.topology()  # netlab's own checks, so `run` cannot fail on what `check` passed
    except TopologyError as e:
        raise StudyError(f"{where}: {e}") from e
    return study


def load(path: Path) -> Study:
    """Reads and validates a study file; its `name` must be the file's name."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise StudyError(f"{path}: cannot read it ({e.strerror})") from e
    except tomllib.TOMLDecodeError as e:
        raise StudyError(f"{path}: not TOML: {e}") from e
    study = parse(data, str(path))
    if study.name != path.stem:
        raise StudyError(f"{path}: name = {study.name!r} must be the file's name, {path.stem!r}")
    return replace(study, path=path)


def available(folder: Path = HERE) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.toml"))


def find(name: str, folder: Path = HERE) -> Study:
    """The study called `name` in this folder (or a path to a study file)."""
    as_path = Path(name)
    if as_path.suffix == ".toml":
        return load(as_path)
    path = folder / f"{name}.toml"
    if not path.exists():
        raise StudyError(f"no study {name!r}; allowed: {', '.join(available(folder))}")
    return load(path)
