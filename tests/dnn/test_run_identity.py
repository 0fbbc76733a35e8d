"""Run identity: a run directory's name is a hash of its config that survives new options.

The hash covers the fields of the first recorded runs (``HASH_V1_FIELDS``) as they were always hashed,
plus a field added later only when it differs from its default (the open_lth rule).
"""
import dataclasses
import json
from pathlib import Path

import pytest

from sketchbound.dnn.experiments.config import HASH_V1_FIELDS, RunConfig

RESULTS = Path(__file__).resolve().parents[2] / "dnn" / "results"
RUN_DIRS = sorted(p for p in RESULTS.glob("*_runs/*") if (p / "config.json").is_file())


def test_there_are_recorded_runs():
    assert len(RUN_DIRS) >= 250  # 144 (Table I) + 108 (Table II) recorded on the GPU


@pytest.mark.parametrize("run_dir", RUN_DIRS, ids=[p.name for p in RUN_DIRS])
def test_every_recorded_run_keeps_its_name(run_dir):
    cfg = RunConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    assert cfg.run_name() == run_dir.name


def _with_new_field(default):
    return dataclasses.make_dataclass("RunConfigPlus", [("brand_new", type(default), dataclasses.field(
        default=default, metadata={"help": "x", "hash": True, "choices": None}))], bases=(RunConfig,), frozen=True)


@pytest.mark.parametrize("default", [0, 1.5, "a"])
def test_adding_a_defaulted_field_changes_no_hash(default):
    plus = _with_new_field(default)
    for kw in ({}, {"method": "snip", "density": 0.02, "seed": 3}, {"model": "vgg19", "epochs": 5}):
        assert plus(**kw).config_hash() == RunConfig(**kw).config_hash()
        other = "z" if isinstance(default, str) else default + 1
        assert plus(**kw, brand_new=other).config_hash() != RunConfig(**kw).config_hash()


def test_fields_added_after_v1_are_hashed_only_off_default():
    new = [f for f in dataclasses.fields(RunConfig) if f.metadata.get("hash", True) and f.name not in HASH_V1_FIELDS]
    assert new, "min_per_layer at least was added after the first runs"
    base = RunConfig(method="snip")
    for f in new:
        assert f.name not in base.hashed_dict()
    assert "min_per_layer" in RunConfig(method="snip", min_per_layer=0).hashed_dict()
    assert RunConfig(method="snip", min_per_layer=0).config_hash() != base.config_hash()


def test_unhashed_fields_never_enter_the_hash():
    assert RunConfig(data_root="/x").config_hash() == RunConfig().config_hash()
    assert RunConfig(eval_every=3).config_hash() == RunConfig().config_hash()
