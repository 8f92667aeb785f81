"""A campaign file (TOML) turned, before anything runs, into a frozen `Campaign`.

    name = "policies"
    repetitions = 5            # K runs of every configuration
    seed = 1                   # the order and every draw follow from it
    [defaults]                 # knobs every configuration starts from
    PROFILE = "spike"
    [[configs]]
    name = "knative"
    POLICY = "knative"

Each configuration is one of three kinds, told by its knobs: a local-platform run (`POLICY`, the
knobs of `make platform-local`), a study (`STUDY`: each of its variants becomes a configuration,
`<name>-a` and `<name>-b`, unless `STUDY_VARIANT` picks one), or a deployed target (`TARGET` with
`PLATFORM`). A bad file is a `CampaignError` naming the key and
what is allowed; the command turns it into exit 2.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS = ("platform", "study", "target")
PLATFORMS = ("apprunner", "ecs-express", "cloudrun", "kubernetes")
MAX_REPETITIONS = 100
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")
_KNOB = re.compile(r"^[A-Z][A-Z0-9_]*$")
# Knobs the runner sets for each run itself: a campaign file setting them would hide that.
RESERVED = ("RESULTS", "RUN_DIR", "CAMPAIGN")


class CampaignError(ValueError):
    """A campaign file that cannot run; the message names the key and what is allowed."""


@dataclass(frozen=True)
class Config:
    name: str
    kind: str
    # Every knob of the run: the campaign's defaults overlaid with the configuration's own.
    knobs: tuple[tuple[str, str], ...]

    def env(self) -> dict[str, str]:
        return dict(self.knobs)


@dataclass(frozen=True)
class Campaign:
    name: str
    repetitions: int
    seed: int
    configs: tuple[Config, ...]

    @property
    def runs(self) -> int:
        return self.repetitions * len(self.configs)

    def config(self, name: str) -> Config:
        for c in self.configs:
            if c.name == name:
                return c
        raise KeyError(name)


def _knobs(table: Mapping[str, Any], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in table.items():
        if not _KNOB.match(key):
            raise CampaignError(
                f"{where}: {key!r} is not a knob; knobs are upper case (POLICY, PEAK, COLD_START)"
            )
        if key in RESERVED:
            raise CampaignError(f"{where}: {key} is set by the campaign runner for each run")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise CampaignError(
                f"{where}.{key}: {value!r} is not a knob value; give a string or a number"
            )
        out[key] = str(value)
    return out


def _kind(knobs: Mapping[str, str], where: str) -> str:
    named = [
        k
        for k, knob in (("platform", "POLICY"), ("study", "STUDY"), ("target", "TARGET"))
        if knob in knobs
    ]
    if len(named) != 1:
        raise CampaignError(
            f"{where}: say what runs with exactly one of POLICY (the local platform), STUDY (a "
            f"study's variant) or TARGET (a deployed service); found {len(named)}"
        )
    kind = named[0]
    if kind == "target" and knobs.get("PLATFORM") not in PLATFORMS:
        raise CampaignError(
            f"{where}.PLATFORM: {knobs.get('PLATFORM')!r}; a TARGET needs PLATFORM, one of "
            + ", ".join(PLATFORMS)
        )
    return kind


def _int(doc: Mapping[str, Any], key: str, low: int, high: int, default: int | None) -> int:
    value = doc.get(key, default)
    if value is None:
        raise CampaignError(f"{key} is missing; give a whole number {low}..{high}")
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CampaignError(f"{key} = {value!r}; allowed: a whole number {low}..{high}")
    return value


def _variants(name: str, knobs: Mapping[str, str], where: str) -> list[tuple[str, dict[str, str]]]:
    """A study's variants as configurations: `<name>-a`, `<name>-b`, each running one variant."""
    from loadtests.studies.study import StudyError, find

    try:
        study = find(knobs["STUDY"])
    except StudyError as e:
        raise CampaignError(f"{where}.STUDY: {e}") from None
    if "STUDY_VARIANT" in knobs:
        keys = [v.key for v in study.variants]
        if knobs["STUDY_VARIANT"] not in keys:
            raise CampaignError(
                f"{where}.STUDY_VARIANT: {knobs['STUDY_VARIANT']!r}; allowed: {', '.join(keys)}"
            )
        return [(name, dict(knobs))]
    return [(f"{name}-{v.key.lower()}", {**knobs, "STUDY_VARIANT": v.key}) for v in study.variants]


def parse(doc: Mapping[str, Any]) -> Campaign:
    allowed = {"name", "repetitions", "seed", "defaults", "configs"}
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise CampaignError(f"unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
    name = doc.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise CampaignError(
            f"name = {name!r}; allowed: 1-40 characters of a-z, 0-9, '.', '_', '-' (it names the folder)"
        )
    repetitions = _int(doc, "repetitions", 1, MAX_REPETITIONS, None)
    seed = _int(doc, "seed", 0, 2**63 - 1, 0)
    defaults_doc = doc.get("defaults", {})
    if not isinstance(defaults_doc, dict):
        raise CampaignError("[defaults] must be a table of knobs")
    defaults = _knobs(defaults_doc, "defaults")
    entries = doc.get("configs")
    if not isinstance(entries, list) or len(entries) < 1:
        raise CampaignError("[[configs]] is missing; give at least one configuration")
    configs: list[Config] = []
    for i, entry in enumerate(entries, 1):
        where = f"configs[{i}]"
        if not isinstance(entry, dict):
            raise CampaignError(f"{where} must be a table")
        cname = entry.get("name")
        if not isinstance(cname, str) or not _NAME.match(cname):
            raise CampaignError(
                f"{where}.name = {cname!r}; allowed: 1-40 characters of a-z, 0-9, '.', '_', '-'"
            )
        if any(c.name == cname for c in configs):
            raise CampaignError(f"{where}.name = {cname!r} is used twice; names must be unique")
        knobs = {**defaults, **_knobs({k: v for k, v in entry.items() if k != "name"}, where)}
        kind = _kind(knobs, where)
        expanded = _variants(cname, knobs, where) if kind == "study" else [(cname, knobs)]
        for each, k in expanded:
            if any(c.name == each for c in configs):
                raise CampaignError(f"{where}: {each!r} is used twice; names must be unique")
            configs.append(Config(each, kind, tuple(sorted(k.items()))))
    if len(configs) < 2 and repetitions < 2:
        raise CampaignError("a campaign compares: give two configurations or two repetitions")
    return Campaign(name, repetitions, seed, tuple(configs))


def load(path: Path) -> Campaign:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CampaignError(f"{path}: no such campaign file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise CampaignError(f"{path}: not TOML ({e})") from None
    except OSError as e:
        raise CampaignError(
            f"{path}: cannot be read ({e.strerror}); give a campaign file"
        ) from None
    try:
        return parse(doc)
    except CampaignError as e:
        raise CampaignError(f"{path}: {e}") from None
