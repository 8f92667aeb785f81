"""Check a Terraform root module against its providers' own schemas, offline.

`terraform validate` needs the provider binaries, which cannot be downloaded here; the schemas
can (provider_schema reads them from the pinned cdktn provider wheels). This fails on:

- parse: a file that does not parse as HCL;
- undefined-var|local|module|resource|data: a reference to nothing declared;
- unknown-resource-type / unknown-data-type: a type the provider does not have (or whose
  provider is not in required_providers);
- unknown-argument / unknown-block: a name the resource, data source or provider block lacks;
- read-only: setting an attribute the provider only computes;
- attribute-as-block / block-as-attribute: `name { }` for an argument, `name = ...` for a nested
  block. List-of-object attributes may be written either way (Terraform core accepts block syntax
  for them), and they are the ones the schema marks computed: a nested block never is;
- missing-required: a required argument or block left out;
- provider-version: a required_providers constraint the pinned schema's version does not meet;
- unknown-attribute: a reference such as `aws_x.y.attr` (or `.attr[0].nested`) naming an
  attribute the schema does not have.

Usage: python -m infra.tfcheck.schemacheck [--schemas DIR] MODULE_DIR...
(exit 0 when clean, 1 with one line per finding, 2 on bad usage)
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from . import provider_schema
from .hcl_module import Finding, Module
from .provider_schema import Block, ProviderSchema

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCHEMAS = ROOT / ".tools" / "provider-schemas"

META = {
    "resource": {
        "count",
        "for_each",
        "provider",
        "depends_on",
        "lifecycle",
        "provisioner",
        "connection",
    },
    "data": {"count", "for_each", "provider", "depends_on", "lifecycle"},
    "provider": {"alias", "version"},
}
BUILTIN_TYPES = {"terraform_data", "terraform_remote_state"}


def is_block(value: object) -> bool:
    """True when python-hcl2 (explicit blocks) parsed `value` from `name { ... }` syntax."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and v.get("__is_block__") for v in value)
    )


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def satisfies(version: str, constraint: str) -> bool:
    """Whether `version` meets a Terraform version constraint such as "~> 6.23" or ">= 1, < 2"."""
    have = _version(version)
    for part in constraint.split(","):
        m = re.fullmatch(r"\s*(~>|>=|<=|!=|>|<|=)?\s*([0-9][0-9.]*)\s*", part)
        if not m:
            return False
        op, want = m.group(1) or "=", _version(m.group(2))
        padded = want + (0,) * (3 - len(want))
        if op == "~>":
            # ~> 6.23 allows 6.x >= 6.23; ~> 6.23.1 allows 6.23.x >= 6.23.1.
            prefix = want[: max(len(want) - 1, 1)]
            if have[: len(prefix)] != prefix or have < padded:
                return False
        elif not {
            "=": have == padded,
            "!=": have != padded,
            ">": have > padded,
            ">=": have >= padded,
            "<": have < padded,
            "<=": have <= padded,
        }[op]:
            return False
    return True


class SchemaSet:
    """The provider schemas a module needs, found by required_providers source."""

    def __init__(self, directory: Path):
        self.dir = directory
        self._loaded: dict[str, ProviderSchema] = {}

    def wheel_for(self, source: str) -> Path | None:
        name = source.rsplit("/", 1)[-1]
        found = sorted(self.dir.glob(f"cdktn_provider_{name.replace('-', '_')}-*.whl"))
        return found[-1] if found else None

    def get(self, source: str) -> ProviderSchema | None:
        if source not in self._loaded:
            wheel = self.wheel_for(source)
            if wheel is None:
                return None
            self._loaded[source] = provider_schema.load(wheel)
        return self._loaded[source]


class Checker:
    def __init__(self, module: Module, schemas: SchemaSet):
        self.module = module
        self.schemas = schemas
        self.findings: list[Finding] = list(module.findings)
        self.constraints: dict[str, str] = {}
        self.declared_in: dict[str, str] = {}  # provider local name -> file of its requirement
        self.sources = self._required_providers()
        self.by_local: dict[str, ProviderSchema] = {}
        for local, source in sorted(self.sources.items()):
            schema = schemas.get(source)
            if schema is None:
                self.findings.append(
                    Finding(
                        "no-schema",
                        self.declared_in[local],
                        f'provider "{local}" ({source}): no cdktn provider wheel in {schemas.dir}; '
                        "run `make infra-schemas`",
                    )
                )
            else:
                self.by_local[local] = schema
                wanted = self.constraints.get(local)
                if wanted and not satisfies(schema.version, wanted):
                    self.findings.append(
                        Finding(
                            "provider-version",
                            self.declared_in[local],
                            f'provider "{local}" requires version "{wanted}", but the pinned '
                            f"schema is {schema.provider} {schema.version}: the check would "
                            "judge another version than the one terraform init installs",
                        )
                    )

    def _required_providers(self) -> dict[str, str]:
        sources: dict[str, str] = {}
        for rel, doc in self.module.docs:
            for tf in doc.get("terraform", []):
                for req in tf.get("required_providers", []):
                    for local, spec in req.items():
                        if local.startswith("__"):
                            continue
                        src = spec.get("source") if isinstance(spec, dict) else None
                        sources[local] = src or f"hashicorp/{local}"
                        self.declared_in[local] = rel
                        if isinstance(spec, dict) and isinstance(spec.get("version"), str):
                            self.constraints[local] = spec["version"]
        return sources

    def add(self, rule: str, rel: str, where: str, message: str) -> None:
        self.findings.append(Finding(rule, rel, f"{where}: {message}"))

    # -- blocks ------------------------------------------------------------------------------

    def provider_of(self, rtype: str, body: dict) -> str:
        explicit = body.get("provider")
        if isinstance(explicit, str):
            return explicit.strip("${}").split(".", 1)[0]
        return rtype.split("_", 1)[0]

    def check_blocks(self) -> None:
        for rel, doc in self.module.docs:
            for kind in ("resource", "data"):
                for entry in doc.get(kind, []):
                    for rtype, named in entry.items():
                        for rname, body in named.items():
                            if not rname.startswith("__"):
                                self.check_typed(rel, kind, rtype, rname, body)
            for entry in doc.get("provider", []):
                for local, body in entry.items():
                    schema = self.by_local.get(local)
                    if schema is not None and isinstance(body, dict):
                        where = f'provider "{local}"'
                        self.check_body(rel, where, body, schema.config, META["provider"])

    def check_typed(self, rel: str, kind: str, rtype: str, rname: str, body: dict) -> None:
        if rtype in BUILTIN_TYPES:
            return
        label = f"{'data.' if kind == 'data' else ''}{rtype}.{rname}"
        local = self.provider_of(rtype, body)
        if local not in self.sources:
            self.add(
                f"unknown-{'data' if kind == 'data' else 'resource'}-type",
                rel,
                label,
                f'no provider "{local}" in required_providers for type {rtype}',
            )
            return
        schema = self.by_local.get(local)
        if schema is None:
            return  # reported once as no-schema
        types = schema.data_sources if kind == "data" else schema.resources
        block = types.get(rtype)
        if block is None:
            what = "data source" if kind == "data" else "resource"
            self.add(
                f"unknown-{'data' if kind == 'data' else 'resource'}-type",
                rel,
                label,
                f"{schema.provider} {schema.version} has no {what} type {rtype}",
            )
            return
        self.check_body(rel, label, body, block, META[kind])

    def check_body(self, rel: str, where: str, body: dict, block: Block, meta: set[str]) -> None:
        present: set[str] = set()
        for key, value in body.items():
            if key.startswith("__") or key in meta:
                continue
            if key == "dynamic":
                for entry in value if isinstance(value, list) else [value]:
                    for label, dyn in entry.items():
                        if label.startswith("__"):
                            continue
                        present.add(label)
                        contents = dyn.get("content", []) if isinstance(dyn, dict) else []
                        self.check_name(rel, where, label, contents, True, block)
                continue
            present.add(key)
            self.check_name(rel, where, key, value, is_block(value), block)
        for name, attr in sorted(block.attrs.items()):
            if attr.required and name not in present:
                what = "block" if attr.real_block else "argument"
                self.add("missing-required", rel, where, f"required {what} {name} is missing")

    def check_name(self, rel: str, where: str, key: str, value, as_block: bool, block: Block):
        attr = block.attrs.get(key)
        if attr is None:
            rule = "unknown-block" if as_block else "unknown-argument"
            self.add(
                rule,
                rel,
                where,
                f"no {'block' if as_block else 'argument'} named {key} in the schema",
            )
            return
        if attr.read_only:
            self.add(
                "read-only", rel, where, f"{key} is computed by the provider and cannot be set"
            )
        if as_block and not attr.is_block:
            self.add(
                "attribute-as-block",
                rel,
                where,
                f"{key} is an argument: write {key} = ..., not {key} {{ }}",
            )
        elif not as_block and attr.real_block:
            self.add(
                "block-as-attribute",
                rel,
                where,
                f"{key} is a nested block: write {key} {{ ... }}, not {key} = ...",
            )
        if attr.nested is None:
            return
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                if as_block:
                    self.check_body(rel, f"{where}.{key}", item, attr.nested, set())
                else:  # an object literal: its keys must exist; left-out ones are null
                    for k in item:
                        if not k.startswith("__") and k not in attr.nested.attrs:
                            self.add(
                                "unknown-argument",
                                rel,
                                f"{where}.{key}",
                                f"{k} is not an attribute of {key}",
                            )

    # -- references --------------------------------------------------------------------------

    def check_references(self) -> None:
        declared: dict[str, set[tuple[str, ...]]] = {
            "var": {(n,) for n in self.module.variables},
            "local": {(n,) for n in self.module.locals},
            "module": {(n,) for n in self.module.modules},
            "data": set(self.module.data),
            "resource": set(self.module.resources),
        }
        seen: set[tuple] = set()
        for ref in self.module.references():
            shown = {
                "var": "var.{}",
                "local": "local.{}",
                "module": "module.{}",
                "data": "data.{}.{}",
                "resource": "{}.{}",
            }[ref.kind].format(*ref.key)
            if ref.key not in declared[ref.kind]:
                what = {
                    "var": "variable",
                    "local": "local value",
                    "module": "module",
                    "data": "data source",
                    "resource": "resource",
                }[ref.kind]
                self.findings.append(
                    Finding(
                        f"undefined-{ref.kind}",
                        ref.file,
                        f"{shown} in {' '.join(ref.owner)} refers to no declared {what}",
                    )
                )
                continue
            if ref.kind not in ("data", "resource") or ref.key[0] in BUILTIN_TYPES:
                continue
            schema = self.by_local.get(ref.key[0].split("_", 1)[0])
            if schema is None:
                continue
            types = schema.data_sources if ref.kind == "data" else schema.resources
            block = types.get(ref.key[0])
            if block is None:
                continue  # reported as an unknown type
            problem = self.walk(block, ref.attrs)
            key = (ref.file, shown, problem)
            if problem and key not in seen:
                seen.add(key)
                path = ".".join(a for a in ref.attrs if a)
                self.findings.append(
                    Finding(
                        "unknown-attribute",
                        ref.file,
                        f"{shown}.{path} in {' '.join(ref.owner)}: {problem}",
                    )
                )

    @staticmethod
    def walk(block: Block, attrs: tuple[str | None, ...]) -> str | None:
        """Follow attribute names through nested schemas; say where the first one is missing."""
        current: Block | None = block
        for name in attrs:
            if name is None:
                continue  # an index into a count/for_each instance, list or map
            if current is None:
                return None  # below a scalar, map or object attribute the schema does not type
            attr = current.attrs.get(name)
            if attr is None:
                return f"no attribute {name}"
            current = attr.nested
        return None

    def run(self) -> list[Finding]:
        if self.module.docs:
            self.check_blocks()
            self.check_references()
        return self.findings


def check_directory(directory: str | Path, schemas_dir: str | Path | None = None) -> list[Finding]:
    schemas = SchemaSet(Path(schemas_dir or os.environ.get("SCHEMA_DIR") or DEFAULT_SCHEMAS))
    return Checker(Module(Path(directory)), schemas).run()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--schemas", help=f"folder with the cdktn provider wheels (default {DEFAULT_SCHEMAS})"
    )
    parser.add_argument("directories", nargs="+", metavar="DIR")
    args = parser.parse_args(argv)
    total = 0
    for d in args.directories:
        if not Path(d).is_dir():
            print(f"schemacheck: {d} is not a directory", file=sys.stderr)
            return 2
        findings = check_directory(d, args.schemas)
        for f in findings:
            print(f"{d}/{f}")
        total += len(findings)
        if not findings:
            print(
                f"schemacheck: {d}: every type, argument, block and attribute reference matches the provider schema"
            )
    if total:
        print(f"schemacheck: {total} finding(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
