"""A campaign file is validated whole before anything runs, and its order and seeds follow from
its seed alone."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from loadtests.campaign import schedule, spec

GOOD = """
name = "policies"
repetitions = 3
seed = 1
[defaults]
PROFILE = "spike"
PEAK = 200
[[configs]]
name = "knative"
POLICY = "knative"
[[configs]]
name = "hpa"
POLICY = "hpa"
PEAK = "300"
"""


def test_a_campaign_file_becomes_frozen_configurations(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text(GOOD)
    c = spec.load(f)
    assert (c.name, c.repetitions, c.seed, c.runs) == ("policies", 3, 1, 6)
    assert c.config("knative").env() == {"PEAK": "200", "POLICY": "knative", "PROFILE": "spike"}
    # A configuration's own knob wins over the defaults.
    assert c.config("hpa").env()["PEAK"] == "300"
    assert {x.kind for x in c.configs} == {"platform"}


@pytest.mark.parametrize(
    "line,bad,message",
    [
        ("repetitions = 3", "repetitions = 0", "repetitions = 0; allowed: a whole number 1..100"),
        ('name = "policies"', 'name = "Bad Name"', "name = 'Bad Name'; allowed: 1-40 characters"),
        ("seed = 1", "sead = 1", "unknown key 'sead'; allowed: configs, defaults, name"),
        ('POLICY = "hpa"', 'STUDY = "cdn"\nPOLICY = "hpa"', "configs[2]: say what runs"),
        ('PEAK = "300"', 'peak = "300"', "configs[2]: 'peak' is not a knob; knobs are upper case"),
        ('name = "hpa"', 'name = "knative"', "configs[2].name = 'knative' is used twice"),
        ('PEAK = "300"', 'RESULTS = "/tmp"', "configs[2]: RESULTS is set by the campaign runner"),
        ('POLICY = "hpa"', 'TARGET = "https://x"', "configs[2].PLATFORM: None; a TARGET needs"),
    ],
)
def test_a_bad_file_names_the_key_and_what_is_allowed(
    tmp_path: Path, line: str, bad: str, message: str
) -> None:
    f = tmp_path / "c.toml"
    f.write_text(GOOD.replace(line, bad, 1))
    with pytest.raises(spec.CampaignError) as err:
        spec.load(f)
    assert message in str(err.value)


def test_not_toml_and_no_file_are_errors(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("name = ")
    with pytest.raises(spec.CampaignError, match="not TOML"):
        spec.load(f)
    with pytest.raises(spec.CampaignError, match="no such campaign file"):
        spec.load(tmp_path / "missing.toml")


def test_the_order_is_blocked_random_and_follows_the_seed() -> None:
    doc = {
        "name": "x",
        "repetitions": 20,
        "seed": 7,
        "configs": [{"name": n, "POLICY": "schedule"} for n in ("a", "b", "c")],
    }
    c = spec.parse(doc)
    slots = schedule.plan(c)
    assert len(slots) == 60 and [s.index for s in slots] == list(range(1, 61))
    # Every repetition runs every configuration once.
    for rep in range(1, 21):
        assert sorted(s.config for s in slots if s.repetition == rep) == ["a", "b", "c"]
    # Shuffled: not the same order every repetition, and no configuration always first.
    orders = {tuple(s.config for s in slots if s.repetition == r) for r in range(1, 21)}
    assert len(orders) > 1
    assert len(Counter(slots[3 * r].config for r in range(20))) == 3
    # The same seed, the same plan; another seed, another.
    assert schedule.plan(c) == slots
    assert schedule.plan(spec.parse({**doc, "seed": 8})) != slots
    # Each run has its own seeds; a configuration may fix one.
    assert len({dict(s.seeds)["COLD_START_SEED"] for s in slots}) == 60
    fixed = spec.parse({**doc, "configs": [{"name": "a", "POLICY": "x", "COLD_START_SEED": 5}]})
    assert {dict(s.seeds)["COLD_START_SEED"] for s in schedule.plan(fixed)} == {"5"}


def test_preflight_judges_each_configuration_as_its_run_would() -> None:
    from loadtests.campaign import preflight

    def one(**knobs: object) -> spec.Campaign:
        return spec.parse(
            {
                "name": "x",
                "repetitions": 2,
                "configs": [{"name": "a", "POLICY": "knative", **knobs}],
            }
        )

    # The platform's own knob check, before anything starts.
    with pytest.raises(spec.CampaignError, match=r"configs 'a': MAX_INSTANCES='0': allowed"):
        preflight.check(one(MAX_INSTANCES="0"))
    # k6's own check of the profile's knobs (k6 inspect).
    with pytest.raises(spec.CampaignError, match=r'a: k6 refused its knobs: PEAK="abc"'):
        preflight.check(one(PEAK="abc"))


def test_a_study_becomes_one_configuration_per_variant() -> None:
    c = spec.parse({"name": "cdn", "repetitions": 2, "configs": [{"name": "cdn", "STUDY": "cdn"}]})
    assert c.name == "cdn"
    assert [(x.name, x.kind, x.env()["STUDY_VARIANT"]) for x in c.configs] == [
        ("cdn-a", "study", "A"),
        ("cdn-b", "study", "B"),
    ]
    one = spec.parse(
        {
            "name": "x",
            "repetitions": 2,
            "configs": [{"name": "edge", "STUDY": "cdn", "STUDY_VARIANT": "B"}],
        }
    )
    assert [x.name for x in one.configs] == ["edge"]
    with pytest.raises(spec.CampaignError, match=r"STUDY_VARIANT: 'C'; allowed: A, B"):
        spec.parse(
            {
                "name": "x",
                "repetitions": 2,
                "configs": [{"name": "e", "STUDY": "cdn", "STUDY_VARIANT": "C"}],
            }
        )
    with pytest.raises(spec.CampaignError, match=r"configs\[1\]\.STUDY: "):
        spec.parse({"name": "x", "repetitions": 2, "configs": [{"name": "e", "STUDY": "nope"}]})
