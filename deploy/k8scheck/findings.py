"""One finding: which validator saw what, where. Printed one per line by the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Finding:
    validator: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"{self.validator}: {self.resource}: {self.message}"


def resource_name(doc: dict[str, Any]) -> str:
    """`Kind/name` of a manifest (apiVersion group for custom kinds, which share kind names)."""
    kind = str(doc.get("kind", "?"))
    api = str(doc.get("apiVersion", ""))
    group = api.split("/")[0] if "/" in api else ""
    name = (doc.get("metadata") or {}).get("name", "?")
    return f"{kind}.{group}/{name}" if group and "." in group else f"{kind}/{name}"
