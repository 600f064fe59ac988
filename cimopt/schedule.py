"""The schedule every scheduler returns: the mapping plus one job per set, with a JSON round trip."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cimopt.errors import InputError
from cimopt.hardware import Hardware
from cimopt.mapping import Mapping

FORMAT = "cimopt-schedule"
VERSION = 1
DEFAULT_HW = Hardware()
# hardware fields added after format version 1: written only when set, so older files and their bytes stay valid
OPTIONAL_HARDWARE = ("cell_bits", "weight_bits", "bits", "link_bytes_per_cycle", "energy_mvm_pj", "energy_buffer_pj",
                     "energy_noc_pj", "energy_static_pj", "energy_gpeu_pj")
JOB_COLUMNS = ("layer", "set", "copy", "start", "end", "y0", "y1", "x0", "x1")


@dataclass(frozen=True, eq=False)
class Schedule:
    """Jobs as parallel integer arrays (one entry per set; `set` is the index within its layer).

    `model` names the model as the user gave it (zoo name or path) and `fingerprint` ties the schedule to
    that model's structure; `info` carries scheduler facts (solver status, bound, time, ...).
    """

    scheduler: str
    model: str
    fingerprint: str
    hardware: Hardware
    mapping: Mapping
    granularity: str
    layer: np.ndarray
    set: np.ndarray
    copy: np.ndarray
    start: np.ndarray
    end: np.ndarray
    y0: np.ndarray
    y1: np.ndarray
    x0: np.ndarray
    x1: np.ndarray
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.start)

    @property
    def makespan(self) -> int:
        return int(self.end.max()) if len(self.end) else 0

    def with_jobs(self, **columns: np.ndarray) -> Schedule:
        """A copy with some job columns replaced (for tests that break a rule on purpose)."""
        d = {c: getattr(self, c) for c in JOB_COLUMNS} | columns
        return Schedule(self.scheduler, self.model, self.fingerprint, self.hardware, self.mapping, self.granularity,
                        **d, info=dict(self.info))

    def to_json(self) -> dict:
        hw = asdict(self.hardware)
        hw.pop("source")
        for key in OPTIONAL_HARDWARE:  # left out at their defaults: files stay as they were before these fields
            if hw[key] == getattr(DEFAULT_HW, key):
                hw.pop(key)
        return {
            "format": FORMAT, "version": VERSION, "scheduler": self.scheduler, "model": self.model,
            "fingerprint": self.fingerprint, "granularity": self.granularity, "hardware": hw,
            "mapping": self.mapping.to_json(), "info": self.info,
            "jobs": {c: getattr(self, c).tolist() for c in JOB_COLUMNS},
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), separators=(",", ":")))

    @staticmethod
    def from_json(d: dict, source: str = "<json>") -> Schedule:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise InputError(f"{source}: not a cimopt schedule (no \"format\": \"{FORMAT}\")")
        if d.get("version") != VERSION:
            raise InputError(f"{source}: schedule format version {d.get('version')!r}, this cimopt reads {VERSION}")
        try:
            hwd = dict(d["hardware"])
            hwd["gpeu_cycles"] = tuple(tuple(x) for x in hwd.get("gpeu_cycles", ()))
            hwd["energy_gpeu_pj"] = tuple(tuple(x) for x in hwd.get("energy_gpeu_pj", ()))
            if hwd.get("mesh") is not None:
                hwd["mesh"] = tuple(hwd["mesh"])
            hw = Hardware(**hwd, source=source)
            jobs = d["jobs"]
            cols = {c: np.asarray(jobs[c], dtype=np.int64) for c in JOB_COLUMNS}
            if len({len(v) for v in cols.values()}) != 1:
                raise ValueError("job columns differ in length")
            return Schedule(d["scheduler"], d["model"], d["fingerprint"], hw, Mapping.from_json(d["mapping"]),
                            d["granularity"], **cols, info=d.get("info", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{source}: malformed cimopt schedule ({type(exc).__name__}: {exc})") from None

    @staticmethod
    def load(path: str | Path) -> Schedule:
        p = Path(path)
        try:
            d = json.loads(p.read_text())
        except OSError as exc:
            raise InputError(f"{p}: cannot read: {exc.strerror}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{p}: not JSON ({exc})") from None
        return Schedule.from_json(d, str(p))
