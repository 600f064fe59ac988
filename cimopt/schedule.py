"""The schedule every scheduler returns: the mapping plus one job per set, with a JSON round trip.

A stream of `inferences` inputs (input k available at cycle `k * arrival_interval`) has one job per set and
inference; the `inference` column says whose. Files without it (and single-inference schedules, which are
written without it, byte for byte as before streams existed) are one inference.
"""

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
                     "energy_noc_pj", "energy_static_pj", "energy_gpeu_pj", "mvm_ns")
JOB_COLUMNS = ("layer", "set", "copy", "start", "end", "y0", "y1", "x0", "x1")
STREAM_COLUMNS = JOB_COLUMNS + ("inference",)  # every job column, the stream's one included


@dataclass(frozen=True, eq=False)
class Schedule:
    """Jobs as parallel integer arrays (one entry per set; `set` is the index within its layer).

    `model` names the model as the user gave it (zoo name or path) and `fingerprint` ties the schedule to
    that model's structure; `info` carries scheduler facts (solver status, bound, time, ...). `inference`
    (default all 0) is each job's inference in a stream of `inferences` inputs, input k arriving at cycle
    `k * arrival_interval`.
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
    inference: np.ndarray | None = None
    inferences: int = 1
    arrival_interval: int = 0

    def __post_init__(self) -> None:
        if self.inference is None:
            object.__setattr__(self, "inference", np.zeros(len(self.start), dtype=np.int64))

    @property
    def is_stream(self) -> bool:
        """More than one inference, or a delayed arrival: written with the stream fields."""
        return self.inferences != 1 or self.arrival_interval != 0 or bool(np.any(self.inference))

    def arrival(self, k: int) -> int:
        """Cycle at which inference k's input is available."""
        return k * self.arrival_interval

    def __len__(self) -> int:
        return len(self.start)

    @property
    def makespan(self) -> int:
        return int(self.end.max()) if len(self.end) else 0

    def with_jobs(self, **columns: np.ndarray) -> Schedule:
        """A copy with some job columns replaced (for tests that break a rule on purpose)."""
        d = {c: getattr(self, c) for c in STREAM_COLUMNS} | columns
        if "inference" not in columns and not np.any(self.inference) and len(d["start"]) != len(self.start):
            d["inference"] = None  # a single-inference schedule cut or grown by a test stays one
        return Schedule(self.scheduler, self.model, self.fingerprint, self.hardware, self.mapping, self.granularity,
                        **d, info=dict(self.info), inferences=self.inferences, arrival_interval=self.arrival_interval)

    def to_json(self) -> dict:
        hw = asdict(self.hardware)
        hw.pop("source")
        for key in OPTIONAL_HARDWARE:  # left out at their defaults: files stay as they were before these fields
            if hw[key] == getattr(DEFAULT_HW, key):
                hw.pop(key)
        d = {
            "format": FORMAT, "version": VERSION, "scheduler": self.scheduler, "model": self.model,
            "fingerprint": self.fingerprint, "granularity": self.granularity, "hardware": hw,
            "mapping": self.mapping.to_json(), "info": self.info,
            "jobs": {c: np.asarray(getattr(self, c)).tolist() for c in JOB_COLUMNS},
        }
        if self.is_stream:  # single inferences keep the pre-stream file, byte for byte
            d["inferences"], d["arrival_interval"] = self.inferences, self.arrival_interval
            d["jobs"]["inference"] = np.asarray(self.inference).tolist()
        return d

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
            cols = {c: np.asarray(jobs[c], dtype=np.int64) for c in STREAM_COLUMNS if c in jobs or c in JOB_COLUMNS}
            if len({len(v) for v in cols.values()}) != 1:
                raise ValueError("job columns differ in length")
            n, c = d.get("inferences", 1), d.get("arrival_interval", 0)
            for key, v, low in (("inferences", n, 1), ("arrival_interval", c, 0)):
                if isinstance(v, bool) or not isinstance(v, int) or v < low:
                    raise InputError(f"{source}: field {key} must be an integer >= {low}, got {v!r}")
            return Schedule(d["scheduler"], d["model"], d["fingerprint"], hw, Mapping.from_json(d["mapping"]),
                            d["granularity"], **cols, info=d.get("info", {}), inferences=n, arrival_interval=c)
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
