"""What an emulated network is made of: hosts, the ports they serve, and links with delays.

A topology is plain data, validated once (names, ports, delays), so a bad study file fails before
any namespace exists. It reads from a dict (or JSON), the form study files and the CLI use:

    {"hosts": [{"name": "user"}, {"name": "edge", "ports": [80]}, {"name": "origin", "ports": [8080]}],
     "links": [{"a": "user", "b": "edge", "delay_ms": 5},
               {"a": "edge", "b": "origin", "delay_ms": 40, "jitter_ms": 2}]}

A link joins two hosts; `delay_ms` is the one-way delay from a to b and `back_ms` from b to a
(default: the same), so a round trip between them takes both. Hosts without a link between them
reach each other without added delay.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Host names become parts of namespace names and appear in reports: keep them plain.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
MAX_HOSTS = 200
MAX_LINKS = 250
MAX_DELAY_MS = 60_000.0


class TopologyError(ValueError):
    """A topology that cannot be built, with what is allowed."""


@dataclass(frozen=True)
class Host:
    """A host: its own network namespace. `ports` are the TCP ports it serves to other hosts
    (a user-space link forwards exactly these; with netem every port is reachable)."""

    name: str
    ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class Link:
    """A link between hosts a and b: one-way delays a->b (`delay_ms`) and b->a (`back_ms`), with
    optional jitter (each packet or chunk drawn from delay +- jitter)."""

    a: str
    b: str
    delay_ms: float
    back_ms: float | None = None
    jitter_ms: float = 0.0

    def one_way_ms(self, src: str, dst: str) -> float:
        """The one-way delay from src to dst over this link."""
        if (src, dst) == (self.a, self.b):
            return self.delay_ms
        if (src, dst) == (self.b, self.a):
            return self.delay_ms if self.back_ms is None else self.back_ms
        raise KeyError(f"link {self.a}-{self.b} does not join {src} and {dst}")


@dataclass(frozen=True)
class Topology:
    hosts: tuple[Host, ...]
    links: tuple[Link, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.hosts:
            raise TopologyError("a topology needs at least one host")
        if len(self.hosts) > MAX_HOSTS:
            raise TopologyError(f"{len(self.hosts)} hosts; allowed: at most {MAX_HOSTS}")
        if len(self.links) > MAX_LINKS:
            raise TopologyError(f"{len(self.links)} links; allowed: at most {MAX_LINKS}")
        names = [h.name for h in self.hosts]
        for h in self.hosts:
            if not NAME.match(h.name):
                raise TopologyError(
                    f"host name {h.name!r}; allowed: letters, digits, '_' and '-', 1-32 characters, starting with a letter or digit"
                )
            for p in h.ports:
                if not 1 <= p <= 65535:
                    raise TopologyError(f"host {h.name}: port {p}; allowed: 1-65535")
        if len(set(names)) != len(names):
            raise TopologyError(f"host names repeat: {names}")
        seen: set[frozenset[str]] = set()
        for link in self.links:
            for end in (link.a, link.b):
                if end not in names:
                    raise TopologyError(
                        f"link {link.a}-{link.b}: unknown host {end!r}; hosts: {', '.join(names)}"
                    )
            if link.a == link.b:
                raise TopologyError(f"link {link.a}-{link.b} joins a host to itself")
            pair = frozenset((link.a, link.b))
            if pair in seen:
                raise TopologyError(f"link {link.a}-{link.b} is declared twice")
            seen.add(pair)
            for what, v in (
                ("delay_ms", link.delay_ms),
                ("back_ms", link.back_ms),
                ("jitter_ms", link.jitter_ms),
            ):
                if v is not None and not 0 <= v <= MAX_DELAY_MS:
                    raise TopologyError(
                        f"link {link.a}-{link.b}: {what}={v}; allowed: 0 to {MAX_DELAY_MS:g} ms"
                    )

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise TopologyError(
            f"unknown host {name!r}; hosts: {', '.join(h.name for h in self.hosts)}"
        )

    def link(self, a: str, b: str) -> Link | None:
        """The link joining a and b (either way round), if any."""
        for link in self.links:
            if {link.a, link.b} == {a, b}:
                return link
        return None

    def one_way_ms(self, src: str, dst: str) -> float:
        """The configured one-way delay from src to dst (0 without a link)."""
        link = self.link(src, dst)
        return 0.0 if link is None else link.one_way_ms(src, dst)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Topology:
        try:
            hosts = tuple(
                Host(str(h["name"]), tuple(int(p) for p in h.get("ports", ()))) for h in d["hosts"]
            )
            links = tuple(
                Link(
                    str(x["a"]),
                    str(x["b"]),
                    float(x.get("delay_ms", 0)),
                    None if x.get("back_ms") is None else float(x["back_ms"]),
                    float(x.get("jitter_ms", 0)),
                )
                for x in d.get("links", ())
            )
        except (KeyError, TypeError, ValueError) as e:
            raise TopologyError(
                f"not a topology ({type(e).__name__}: {e}); allowed: "
                '{"hosts": [{"name": ..., "ports": [...]}], "links": [{"a": ..., "b": ..., "delay_ms": ..., "back_ms": ..., "jitter_ms": ...}]}'
            ) from e
        return cls(hosts, links)

    @classmethod
    def load(cls, path: Path) -> Topology:
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except json.JSONDecodeError as e:
            raise TopologyError(f"{path}: not JSON: {e}") from e
