"""Where the mesh's instances are: `name=url,...`, a file of `name url` lines, or Terraform's
`service_urls` output (a map region -> URL), always as an ordered name -> URL mapping."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class PeersError(ValueError):
    """Peers that cannot be used, with what is allowed."""


def _check(peers: dict[str, str], source: str) -> dict[str, str]:
    if len(peers) < 2:
        raise PeersError(f"{source}: {len(peers)} instance(s); a mesh needs at least two")
    for name, url in peers.items():
        if not NAME.match(name):
            raise PeersError(
                f"{source}: name {name!r}; allowed: letters, digits, '.', '_', '-' (up to 64)"
            )
        if not re.match(r"^https?://[^/\s]+", url):
            raise PeersError(f"{source}: {name}={url!r} is not an http(s):// URL")
    return {n: u.rstrip("/") for n, u in peers.items()}


def parse_pairs(text: str) -> dict[str, str]:
    """`eu=http://a:8080,us=http://b:8080`."""
    peers: dict[str, str] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, sep, url = item.partition("=")
        if not sep:
            raise PeersError(
                f"PEERS entry {item!r} is not name=url; e.g. PEERS=eu=http://10.0.0.2:8080,us=http://10.0.0.3:8080"
            )
        if name.strip() in peers:
            raise PeersError(f"PEERS names {name.strip()!r} twice")
        peers[name.strip()] = url.strip()
    return _check(peers, "PEERS")


def parse_file(path: Path) -> dict[str, str]:
    """One `name url` a line; blank lines and `#` comments are skipped."""
    peers: dict[str, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise PeersError(f"{path}:{n}: {line!r} is not `name url`")
        peers[parts[0]] = parts[1]
    return _check(peers, str(path))


def parse_terraform(text: str) -> dict[str, str]:
    """`terraform output -json service_urls` (a map) or `terraform output -json` (all outputs)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise PeersError(f"Terraform output is not JSON: {e}") from e
    if isinstance(doc, dict) and "service_urls" in doc:
        doc = doc["service_urls"]
        doc = doc.get("value", doc) if isinstance(doc, dict) else doc
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        raise PeersError("Terraform output: expected the service_urls map of region -> URL")
    return _check({str(k): v for k, v in doc.items()}, "Terraform service_urls")


def from_terraform_dir(root: Path, terraform: str = "terraform") -> dict[str, str]:
    """`terraform -chdir=<root> output -json service_urls` (infra/ after `make infra`)."""
    try:
        r = subprocess.run(
            [terraform, f"-chdir={root}", "output", "-json", "service_urls"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except FileNotFoundError:
        raise PeersError(f"{terraform} not found; give PEERS= or MESH_FILE= instead") from None
    if r.returncode != 0:
        raise PeersError(
            f"terraform output service_urls in {root} failed: {r.stderr.strip()[-500:]}"
        )
    return parse_terraform(r.stdout)
