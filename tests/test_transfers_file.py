"""The schedule file's transfers table: round trip, absent when empty (files stay byte-identical), checked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cimopt import api
from cimopt.errors import InputError
from cimopt.schedule import TIER, Schedule, Transfers


def _schedule() -> Schedule:
    return api.run(api.prepare("mini-cnn", sets="row"), "clsa").schedule


def test_no_transfers_no_field():
    s = _schedule()
    assert len(s.transfers) == 0 and "transfers" not in s.to_json()


def test_round_trip(tmp_path):
    s = _schedule()
    t = Transfers.of(kind=[1, 2], layer=[0, 0], set=[3, 3], inference=[0, 0], src=[0, TIER], dst=[TIER, 0],
                     start=[10, 40], end=[12, 45])
    s2 = Schedule(**{**{f: getattr(s, f) for f in s.__dataclass_fields__}, "transfers": t})
    s2.save(tmp_path / "s.json")
    back = Schedule.load(tmp_path / "s.json")
    for c in ("kind", "src", "dst", "start", "end"):
        assert np.array_equal(getattr(back.transfers, c), getattr(t, c))


@pytest.mark.parametrize("column,value,message", [
    ("kind", [7], "transfers.kind: value 7 is out of range"),
    ("dst", [99], "transfers.dst: value 99 is out of range"),
    ("start", [1.5], "transfers.start must be a flat list of integers"),
])
def test_bad_transfer_fields(column, value, message):
    d = _schedule().to_json()
    d["transfers"] = {c: [0] for c in ("kind", "layer", "set", "inference", "src", "dst", "start", "end")}
    d["transfers"][column] = value
    with pytest.raises(InputError, match=message):
        Schedule.from_json(json.loads(json.dumps(d)), "f.json")
