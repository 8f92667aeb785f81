"""Schema validation: core kinds with kubernetes-validate's schemas, custom kinds with their CRDs.

Both are strict: a field the schema does not name is an error. The API server would drop such a
field (or, with kubectl's default strict field validation, refuse the object), so a misspelt
`readinessProbe` or `pollingIntervall` is a setting that silently does nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate.utils as kvu
import yaml
from referencing import Registry, Resource

from deploy.k8scheck.findings import Finding, resource_name

# The Kubernetes version whose schemas the core kinds are checked against (the newest that
# kubernetes-validate 1.37.0 ships; requirements/k8s.txt pins it).
KUBERNETES_VERSION = "1.37.0"

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


def _path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def _messages(errors: Iterator[jsonschema.ValidationError]) -> list[str]:
    return sorted({f"{_path(e)}: {e.message}" for e in errors})


@cache
def _core_validator(kind: str, api_version: str) -> jsonschema.protocols.Validator | None:
    """The strict schema kubernetes-validate uses for this kind, or None when it has none."""
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = f"kubernetes-json-schema/v{KUBERNETES_VERSION}-local-strict"
    try:
        schema = kvu.schema_contents(
            f"{folder}/{kind.lower()}-{group_version}.json", KUBERNETES_VERSION
        )
    except FileNotFoundError:
        return None
    definitions = kvu.schema_contents(f"{folder}/_definitions.json", KUBERNETES_VERSION)
    registry: Registry = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


def strict(schema: Any) -> Any:
    """A CRD's structural schema with unknown fields forbidden wherever the CRD lists fields."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def load_crds(
    directory: Path = SCHEMA_DIR,
) -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    """(apiVersion, kind) -> validator, for every served version of every CRD file in `directory`."""
    validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
    for path in sorted(directory.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if not version.get("served", True):
                    continue
                schema = strict(version["schema"]["openAPIV3Schema"])
                # The CRD leaves metadata open; the API server checks it as ObjectMeta.
                schema["properties"]["metadata"] = {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "namespace": {"type": "string"},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "annotations": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        },
                    },
                    "additionalProperties": False,
                }
                schema["required"] = sorted(
                    {*schema.get("required", []), "apiVersion", "kind", "spec"}
                )
                validators[(f"{group}/{version['name']}", kind)] = jsonschema.Draft7Validator(
                    schema
                )
    return validators


def validate(docs: list[dict[str, Any]], crds: dict[tuple[str, str], Any]) -> list[Finding]:
    findings: list[Finding] = []
    for doc in docs:
        name = resource_name(doc)
        api_version, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
        if not api_version or not kind:
            findings.append(Finding("kubernetes-schema", name, "apiVersion and kind are required"))
            continue
        crd = crds.get((api_version, kind))
        if crd is not None:
            findings += [Finding("crd-schema", name, m) for m in _messages(crd.iter_errors(doc))]
            continue
        core = _core_validator(kind, api_version)
        if core is None:
            findings.append(
                Finding(
                    "kubernetes-schema",
                    name,
                    f"no schema for {kind} in {api_version} (Kubernetes {KUBERNETES_VERSION} or "
                    f"deploy/schemas): a wrong apiVersion, or a CRD to vendor",
                )
            )
            continue
        findings += [
            Finding("kubernetes-schema", name, m) for m in _messages(core.iter_errors(doc))
        ]
    return findings
