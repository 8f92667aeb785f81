"""Terraform provider schemas read from the CDK Terrain prebuilt provider packages on PyPI.

The provider binaries cannot be downloaded here, so `terraform providers schema` is out of reach;
the PyPI packages `cdktn-provider-aws` and `cdktn-provider-google` are not. Their wheels hold a
jsii tarball generated from the provider's own schema: one `lib/<resource>/` folder per resource
and data source whose JavaScript names every argument and block by its Terraform name. This
module reads the wheel as a zip (nothing is installed or executed) and turns that code into a
plain schema:

- `static tfResourceType = "aws_x"` in a class extending TerraformResource or TerraformDataSource
  names a resource or data source type;
- `// name - computed: C, optional: O, required: R` comments in the resource class and in each
  nested `...OutputReference` class list every attribute and block, read-only ones included
  (computed and neither optional nor required);
- the HCL-synthesis functions (`synthesizeHclAttributes`, `<struct>ToHclTerraform`) say which
  settable names cdktn writes as blocks (`isBlock: true`) and link a block to its nested struct.

Blocks are never computed in a Terraform schema, so a name that cdktn writes as a block but that
is computed is a list-of-object *attribute* (plugin-framework nested attribute or SDK attribute as
block): Terraform accepts both `name { ... }` and `name = [{ ... }]` for those.

The parsed schema is cached as JSON next to the wheel, keyed by the wheel's sha256, so only the
first run pays for reading ~280 MB of generated code.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
import tarfile
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

CACHE_FORMAT = 1

TOP_LEVEL = re.compile(r"^(?:class|function) (\w+)", re.M)
MAIN_CLASS = re.compile(
    r"^class (\w+) extends cdktn\.(TerraformResource|TerraformDataSource|TerraformProvider) \{",
    re.M,
)
TF_TYPE = re.compile(r'static tfResourceType = "([\w-]+)";')
COMMENT = re.compile(
    r"^\s*// ([\w-]+) - computed: (true|false), optional: (true|false), required: (true|false)\n(.*)$",
    re.M,
)
NESTED_CLASS = re.compile(r"new (\w+?)(?:OutputReference|MapList|List|Map)\(")
SYNTH_ENTRY = re.compile(
    r'^\s*"?([\w-]+)"?: \{\n\s*value: (.*?),\n\s*isBlock: (true|false),\n\s*type: "(\w+)",\n'
    r'\s*storageClassType: "(\w+)",\n\s*\}',
    re.M,
)
HCL_FN = re.compile(r"(\w+)ToHclTerraform\b")
VERSION = re.compile(r"providerVersion: '([^']+)'")


@dataclass
class Attr:
    """One argument, attribute or block of a schema block."""

    computed: bool = False
    optional: bool = False
    required: bool = False
    is_block: bool = False  # cdktn writes it in block syntax
    kind: str = "simple"  # simple | list | set | map | struct (cdktn's synthesis type)
    nested: Block | None = None

    @property
    def read_only(self) -> bool:
        return self.computed and not self.optional and not self.required

    @property
    def real_block(self) -> bool:
        """A nested block proper: only block syntax is allowed for it."""
        return self.is_block and not self.computed

    def to_json(self) -> dict:
        out: dict = {
            "computed": self.computed,
            "optional": self.optional,
            "required": self.required,
            "is_block": self.is_block,
            "kind": self.kind,
        }
        if self.nested is not None:
            out["nested"] = self.nested.to_json()
        return out

    @classmethod
    def from_json(cls, d: dict) -> Attr:
        nested = Block.from_json(d["nested"]) if "nested" in d else None
        return cls(d["computed"], d["optional"], d["required"], d["is_block"], d["kind"], nested)


@dataclass
class Block:
    attrs: dict[str, Attr] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {k: a.to_json() for k, a in sorted(self.attrs.items())}

    @classmethod
    def from_json(cls, d: dict) -> Block:
        return cls({k: Attr.from_json(v) for k, v in d.items()})


@dataclass
class ProviderSchema:
    provider: str
    version: str
    resources: dict[str, Block]
    data_sources: dict[str, Block]
    config: Block  # the provider block's own arguments

    def to_json(self) -> dict:
        return {
            "format": CACHE_FORMAT,
            "provider": self.provider,
            "version": self.version,
            "resources": {k: v.to_json() for k, v in sorted(self.resources.items())},
            "data_sources": {k: v.to_json() for k, v in sorted(self.data_sources.items())},
            "config": self.config.to_json(),
        }

    @classmethod
    def from_json(cls, d: dict) -> ProviderSchema:
        return cls(
            d["provider"],
            d["version"],
            {k: Block.from_json(v) for k, v in d["resources"].items()},
            {k: Block.from_json(v) for k, v in d["data_sources"].items()},
            Block.from_json(d["config"]),
        )


def _segments(text: str) -> dict[str, str]:
    """Split generated JavaScript into its top-level classes and functions, by name."""
    out: dict[str, str] = {}
    marks = list(TOP_LEVEL.finditer(text))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        out[m.group(1)] = text[m.start() : end]
    return out


def _struct_of_function(fn: str) -> str:
    return fn[0].upper() + fn[1:]


def _parse_folder(text: str) -> tuple[str, str, str, Block] | None:
    """Parse one lib/<resource>/ folder: (kind, tf type, provider version, schema block)."""
    main = MAIN_CLASS.search(text)
    if not main:
        return None
    segments = _segments(text)
    main_name, base = main.group(1), main.group(2)
    main_body = segments[main_name]
    tf_type = TF_TYPE.search(main_body)
    if not tf_type:
        return None
    version = VERSION.search(main_body)

    def comments(body: str) -> dict[str, tuple[bool, bool, bool, str | None]]:
        found = {}
        for m in COMMENT.finditer(body):
            nested = NESTED_CLASS.search(m.group(5))
            link = (
                nested.group(1)
                if nested and not m.group(5).strip().startswith("_tagsAll")
                else None
            )
            found[m.group(1)] = (
                m.group(2) == "true",
                m.group(3) == "true",
                m.group(4) == "true",
                link,
            )
        return found

    def synth(body: str) -> dict[str, tuple[bool, str, str | None]]:
        found = {}
        for m in SYNTH_ENTRY.finditer(body):
            fn = HCL_FN.search(m.group(2))
            link = (
                _struct_of_function(fn.group(1))
                if fn and not fn.group(1).startswith("cdktn")
                else None
            )
            found[m.group(1)] = (m.group(3) == "true", m.group(4), link)
        return found

    def build(struct: str | None, body_comments: str, body_synth: str, depth: int) -> Block:
        block = Block()
        notes = comments(body_comments)
        synths = synth(body_synth)
        for name in notes.keys() | synths.keys():
            computed, optional, required, link = notes.get(name, (False, True, False, None))
            is_block, kind, synth_link = synths.get(name, (False, "simple", None))
            link = synth_link or link
            attr = Attr(computed, optional, required, is_block, kind)
            if link and depth < 12:
                nested_synth = segments.get(link[0].lower() + link[1:] + "ToHclTerraform", "")
                nested_ref = segments.get(link + "OutputReference", "")
                if nested_synth or nested_ref:
                    attr.nested = build(link, nested_ref, nested_synth, depth + 1)
                    if not synths.get(name):  # computed-only: its kind comes from the wrapper class
                        attr.kind = "list" if (link + "List") in segments else "struct"
            block.attrs[name] = attr
        return block

    block = build(None, main_body, main_body, 0)
    kind = {"TerraformDataSource": "data", "TerraformProvider": "provider"}.get(base, "resource")
    return kind, tf_type.group(1), version.group(1) if version else "?", block


def read_wheel(wheel: Path) -> ProviderSchema:
    """Parse every resource and data source of a cdktn provider wheel."""
    folders: dict[str, list[str]] = defaultdict(list)
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".jsii.tgz"))
        data = zf.read(name)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
        for member in tf:
            parts = member.name.split("/")
            if len(parts) < 4 or parts[1] != "lib" or not member.name.endswith(".js"):
                continue
            raw = tf.extractfile(member)
            if raw is None:
                continue
            text = raw.read().decode("utf-8")
            cut = text.rfind("\n//# sourceMappingURL=")
            folders[parts[2]].append(text[:cut] if cut >= 0 else text)
    resources: dict[str, Block] = {}
    data_sources: dict[str, Block] = {}
    config = Block()
    versions: set[str] = set()
    provider = ""
    for texts in folders.values():
        parsed = _parse_folder("\n".join(texts))
        if parsed is None:
            continue
        kind, tf_type, version, block = parsed
        if kind == "provider":
            provider, config = tf_type, block
            continue
        (data_sources if kind == "data" else resources)[tf_type] = block
        versions.add(version)
    return ProviderSchema(provider, "/".join(sorted(versions)), resources, data_sources, config)


_LOADED: dict[tuple[Path, int, int], ProviderSchema] = {}


def load(wheel: Path, cache_dir: Path | None = None) -> ProviderSchema:
    """The wheel's schema: once per process, from the JSON cache when built from the same wheel."""
    stat = wheel.stat()
    key = (wheel.resolve(), stat.st_size, stat.st_mtime_ns)
    if key not in _LOADED:
        _LOADED[key] = _load(wheel, cache_dir)
    return _LOADED[key]


def _load(wheel: Path, cache_dir: Path | None) -> ProviderSchema:
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()[:16]
    cache = (cache_dir or wheel.parent) / f"{wheel.stem}.{digest}.schema.json"
    if cache.exists():
        d = json.loads(cache.read_text())
        if d.get("format") == CACHE_FORMAT:
            return ProviderSchema.from_json(d)
    schema = read_wheel(wheel)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(schema.to_json(), separators=(",", ":")))
    tmp.replace(cache)
    return schema


def main(argv: list[str]) -> int:
    """Build the JSON cache of each wheel given (make infra-schemas runs this once)."""
    if not argv:
        print("usage: python -m infra.tfcheck.provider_schema WHEEL...", file=sys.stderr)
        return 2
    for arg in argv:
        schema = load(Path(arg))
        print(
            f"{Path(arg).name}: {schema.provider} {schema.version}, "
            f"{len(schema.resources)} resources, {len(schema.data_sources)} data sources"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
