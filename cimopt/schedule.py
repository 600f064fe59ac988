"""The schedule every scheduler returns: the mapping plus one job per set, with a JSON round trip.

A stream of `inferences` inputs (input k available at cycle `k * arrival_interval`) has one job per set and
inference; the `inference` column says whose. Files without it (and single-inference schedules, which are
written without it, byte for byte as before streams existed) are one inference.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cimopt.errors import InputError
from cimopt.granularity import Granularity
from cimopt.hardware import CHIP_TOTAL_ATTRS, Hardware, hardware_from_json
from cimopt.mapping import Budget, Mapping

FORMAT = "cimopt-schedule"
VERSION = 1
DEFAULT_HW = Hardware()
# hardware fields added after format version 1: written only when set, so older files and their bytes stay valid
OPTIONAL_HARDWARE = ("tiles_per_chip", "cell_bits", "weight_bits", "bits", "link_bytes_per_cycle", "energy_mvm_pj", "energy_buffer_pj",
                     "energy_noc_pj", "energy_static_pj", "energy_gpeu_pj", "mvm_ns", "tier_bytes_per_cycle",
                     "tier_capacity_bytes", "tier_latency_cycles", "tier_pj_per_byte", "noc_contention") + CHIP_TOTAL_ATTRS
JOB_COLUMNS = ("layer", "set", "copy", "start", "end", "y0", "y1", "x0", "x1")
STREAM_COLUMNS = JOB_COLUMNS + ("inference",)  # every job column, the stream's one included
MAX_JOB_VALUE = 2**53  # cycles and pixel indices; far beyond any schedule, and sums of two never overflow int64
MAX_MAPPING_VALUE = 2**31  # PEs, tiles, copies, crossbars
TRANSFER_KINDS = ("noc", "spill", "fill")  # codes 0, 1, 2 of `Transfers.kind`
TRANSFER_COLUMNS = ("kind", "layer", "set", "inference", "src", "dst", "start", "end")
TIER = -1  # the memory tier below the tiles, as a transfer's end point (`Transfers.src` / `dst`)


@dataclass(frozen=True, eq=False)
class Transfers:
    """Timed data movements a schedule commits to beside its jobs (docs/model.md, "Memory tier"): the outputs
    of job (`layer`, `set`, `inference`) move from tile `src` to tile `dst` over [`start`, `end`); `TIER`
    (-1) as an end point is the memory tier. `kind` codes `TRANSFER_KINDS`: 0 a NoC message, 1 a spill (tile
    -> tier), 2 a fill (tier -> tile). Parallel int64 arrays, like the jobs."""

    kind: np.ndarray
    layer: np.ndarray
    set: np.ndarray
    inference: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    @staticmethod
    def empty() -> Transfers:
        return Transfers(*(np.zeros(0, np.int64) for _ in TRANSFER_COLUMNS))

    @staticmethod
    def of(**columns) -> Transfers:
        """From columns (lists or arrays, every one of `TRANSFER_COLUMNS`), as int64 arrays."""
        return Transfers(*(np.asarray(columns[c], dtype=np.int64) for c in TRANSFER_COLUMNS))

    def select(self, mask: np.ndarray) -> Transfers:
        return Transfers(*(getattr(self, c)[mask] for c in TRANSFER_COLUMNS))

    def to_json(self) -> dict:
        return {c: np.asarray(getattr(self, c)).tolist() for c in TRANSFER_COLUMNS}

    @staticmethod
    def from_json(d: object, source: str, tiles: int, inferences: int) -> Transfers:
        """Every column checked as job columns are, and the codes: a known kind, tiles on the chip or TIER,
        an inference of the schedule. Whether the transfers obey the rules is the simulator's verdict."""
        if not isinstance(d, dict):
            raise InputError(f"{source}: field transfers must be an object of columns ({', '.join(TRANSFER_COLUMNS)})")
        if unknown := sorted(set(d) - set(TRANSFER_COLUMNS)):
            raise InputError(f"{source}: unknown field transfers.{unknown[0]} (known: {', '.join(TRANSFER_COLUMNS)})")
        cols = {c: _int_column(d, c, source, "transfers") for c in TRANSFER_COLUMNS}
        if len({len(v) for v in cols.values()}) != 1:
            raise InputError(f"{source}: transfer columns differ in length ("
                             + ", ".join(f"{c} {len(v)}" for c, v in cols.items()) + ")")
        for c, low, high in (("kind", 0, len(TRANSFER_KINDS) - 1), ("src", TIER, tiles - 1), ("dst", TIER, tiles - 1),
                             ("inference", 0, inferences - 1)):
            v = cols[c]
            if len(v) and not (low <= v.min() and v.max() <= high):
                bad = int(v[(v < low) | (v > high)][0])
                raise InputError(f"{source}: field transfers.{c}: value {bad} is out of range ({low}..{high})")
        return Transfers.of(**cols)


@dataclass(frozen=True, eq=False)
class Schedule:
    """Jobs as parallel integer arrays (one entry per set; `set` is the index within its layer).

    `model` names the model as the user gave it (zoo name or path) and `fingerprint` ties the schedule to
    that model's structure; `info` carries scheduler facts (solver status, bound, time, ...). `inference`
    (default all 0) is each job's inference in a stream of `inferences` inputs, input k arriving at cycle
    `k * arrival_interval`. `transfers` are the timed data movements the schedule commits to (spills and
    fills of a memory tier; NoC messages under link contention); None or empty: none.
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
    transfers: Transfers | None = None

    def __post_init__(self) -> None:
        if self.inference is None:
            object.__setattr__(self, "inference", np.zeros(len(self.start), dtype=np.int64))
        if self.transfers is None:
            object.__setattr__(self, "transfers", Transfers.empty())

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
                        **d, info=dict(self.info), inferences=self.inferences, arrival_interval=self.arrival_interval,
                        transfers=self.transfers)

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
        if len(self.transfers):  # written only when there are any: files without them stay as they were
            d["transfers"] = self.transfers.to_json()
        return d

    def save(self, path: str | Path) -> None:
        try:
            Path(path).write_text(json.dumps(self.to_json(), separators=(",", ":")))
        except OSError as exc:
            raise InputError(f"{path}: cannot write the schedule: {exc.strerror or exc}") from None

    @staticmethod
    def from_json(d: dict, source: str = "<json>", schedulers: Collection[str] | None = None) -> Schedule:
        """A schedule from its JSON form; every field is checked for type and range first (an InputError
        naming `source` and the field), the scheduler's name against `schedulers` when given (the registry's
        names: `api.load_schedule`). Whether the jobs obey the model's rules is the simulator's verdict."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise InputError(f"{source}: not a cimopt schedule (no \"format\": \"{FORMAT}\")")
        if type(d.get("version")) is not int or d["version"] != VERSION:
            raise InputError(f"{source}: schedule format version {d.get('version')!r}, this cimopt reads {VERSION}")
        known = {"format", "version", "scheduler", "model", "fingerprint", "granularity", "hardware", "mapping",
                 "info", "jobs", "inferences", "arrival_interval", "transfers"}
        if unknown := sorted(set(d) - known):
            raise InputError(f"{source}: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
        scheduler = _text(d, "scheduler", source)
        if schedulers is not None and scheduler not in schedulers:
            raise InputError(f"{source}: field scheduler: unknown scheduler {scheduler!r} "
                             f"(known: {', '.join(schedulers)})")
        try:
            granularity = Granularity.parse(_text(d, "granularity", source)).spec
        except InputError as exc:
            raise InputError(f"{source}: field granularity: {exc}") from None
        if "hardware" not in d:
            raise InputError(f"{source}: missing field hardware")
        hw = hardware_from_json(d["hardware"], source)
        mapping = _mapping(d.get("mapping"), source)
        info = d.get("info", {})
        if not isinstance(info, dict):
            raise InputError(f"{source}: field info must be an object, got {type(info).__name__}")
        jobs = d.get("jobs")
        if not isinstance(jobs, dict):
            raise InputError(f"{source}: field jobs must be an object of columns ({', '.join(JOB_COLUMNS)})")
        cols = {c: _int_column(jobs, c, source) for c in STREAM_COLUMNS if c in jobs or c in JOB_COLUMNS}
        if unknown := sorted(set(jobs) - set(STREAM_COLUMNS)):
            raise InputError(f"{source}: unknown field jobs.{unknown[0]} (known: {', '.join(STREAM_COLUMNS)})")
        lengths = {c: len(v) for c, v in cols.items()}
        if len(set(lengths.values())) != 1:
            raise InputError(f"{source}: job columns differ in length ("
                             + ", ".join(f"{c} {n}" for c, n in lengths.items()) + ")")
        n, c = d.get("inferences", 1), d.get("arrival_interval", 0)
        for key, v, low in (("inferences", n, 1), ("arrival_interval", c, 0)):
            if type(v) is not int or not low <= v <= MAX_JOB_VALUE:
                raise InputError(f"{source}: field {key} must be an integer >= {low}, got {str(v)[:60]}")
        if "inference" in cols and len(cols["inference"]) and not (
                0 <= cols["inference"].min() and cols["inference"].max() < n):
            raise InputError(f"{source}: field jobs.inference: values must be in 0..{n - 1} (inferences = {n})")
        transfers = (Transfers.from_json(d["transfers"], source, mapping.budget.tiles, n) if "transfers" in d
                     else None)
        return Schedule(scheduler, _text(d, "model", source), _text(d, "fingerprint", source), hw, mapping,
                        granularity, **cols, info=info, inferences=n, arrival_interval=c, transfers=transfers)

    @staticmethod
    def load(path: str | Path, schedulers: Collection[str] | None = None) -> Schedule:
        """`from_json` of a file: unreadable, non-UTF-8 and non-JSON files are InputErrors naming the file."""
        p = Path(path)
        try:
            d = json.loads(p.read_bytes().decode("utf-8"))
        except OSError as exc:
            raise InputError(f"{p}: cannot read: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise InputError(f"{p}: not a text file (byte {exc.start} is not UTF-8)") from None
        except (json.JSONDecodeError, RecursionError) as exc:
            raise InputError(f"{p}: not JSON ({str(exc)[:200]})") from None
        return Schedule.from_json(d, str(p), schedulers)


def _text(d: dict, key: str, source: str) -> str:
    if key not in d:
        raise InputError(f"{source}: missing field {key}")
    v = d[key]
    if not isinstance(v, str) or not v:
        raise InputError(f"{source}: field {key} must be a non-empty string, got {str(v)[:60]!r}")
    return v


def _int_column(jobs: dict, c: str, source: str, table: str = "jobs") -> np.ndarray:
    """One job column: a flat list of integers within +-MAX_JOB_VALUE (a float such as 96.5 is an error, not
    96; so are nested lists, booleans and integers beyond int64)."""
    where = f"{source}: field {table}.{c}"
    if c not in jobs:
        raise InputError(f"{source}: missing field {table}.{c}")
    v = jobs[c]
    if not isinstance(v, list):
        raise InputError(f"{where} must be a list of integers, got {type(v).__name__}")
    if not v:
        return np.zeros(0, np.int64)
    if set(map(type, v)) != {int}:  # fast: one C-level pass; bool is not int here
        bad = next(x for x in v if type(x) is not int)
        raise InputError(f"{where} must be a flat list of integers, got {str(bad)[:60]}")
    if min(v) < -MAX_JOB_VALUE or max(v) > MAX_JOB_VALUE:
        bad = next(x for x in v if abs(x) > MAX_JOB_VALUE)
        raise InputError(f"{where}: value {bad} is out of range (at most {MAX_JOB_VALUE:,} in magnitude)")
    return np.asarray(v, dtype=np.int64)


def _ints(v: object, where: str, low: int, high: int = MAX_MAPPING_VALUE) -> list[int]:
    if not isinstance(v, list):
        raise InputError(f"{where} must be a list of integers, got {type(v).__name__}")
    for x in v:
        if type(x) is not int:
            raise InputError(f"{where} must be a flat list of integers, got {str(x)[:60]}")
        if not low <= x <= high:
            raise InputError(f"{where}: value {x} is out of range ({low}..{high:,})")
    return v


def _mapping(m: object, source: str) -> Mapping:
    """The schedule's mapping, with every count and tile index checked and the placement shaped like the copies
    and crossbars (one tile per crossbar of every copy)."""
    where = f"{source}: field mapping"
    if not isinstance(m, dict):
        raise InputError(f"{where} must be an object, got {type(m).__name__}")
    for key in ("pes", "tiles", "crossbars", "copies", "placement"):
        if key not in m:
            raise InputError(f"{source}: missing field mapping.{key}")
    pes, tiles = (_ints([m[k]], f"{where}.{k}", 1)[0] for k in ("pes", "tiles"))
    xb = _ints(m["crossbars"], f"{where}.crossbars", 1)
    copies = _ints(m["copies"], f"{where}.copies", 1)
    if len(xb) != len(copies):
        raise InputError(f"{where}: {len(copies)} copy counts for {len(xb)} layers (mapping.crossbars)")
    strategy = m.get("strategy", "none")
    if not isinstance(strategy, str):
        raise InputError(f"{where}.strategy must be a string, got {strategy!r}")
    place = m["placement"]
    if not isinstance(place, list) or len(place) != len(copies):
        raise InputError(f"{where}.placement must list the copies of each of the {len(copies)} layers")
    placement = []
    for li, (layer, d, x) in enumerate(zip(place, copies, xb, strict=True)):
        if not isinstance(layer, list) or len(layer) != d:
            raise InputError(f"{where}.placement[{li}] must list {d} copies (mapping.copies[{li}])")
        for ci, c in enumerate(layer):
            if not isinstance(c, list) or len(c) != x:
                raise InputError(f"{where}.placement[{li}][{ci}] must list {x} tiles, one per crossbar")
            _ints(c, f"{where}.placement[{li}][{ci}]", 0, tiles - 1)
        placement.append(tuple(tuple(c) for c in layer))
    storage = None
    if "storage" in m:
        st = m["storage"]
        if not isinstance(st, list) or len(st) != len(copies):
            raise InputError(f"{where}.storage must list the copies of each of the {len(copies)} layers")
        storage = []
        for li, (layer, d) in enumerate(zip(st, copies, strict=True)):
            if not isinstance(layer, list) or len(layer) != d:
                raise InputError(f"{where}.storage[{li}] must list {d} copies (mapping.copies[{li}])")
            for ci, c in enumerate(layer):
                if not _ints(c, f"{where}.storage[{li}][{ci}]", 0, tiles - 1):
                    raise InputError(f"{where}.storage[{li}][{ci}] must list at least one tile")
            storage.append(tuple(tuple(c) for c in layer))
        storage = tuple(storage)
    return Mapping(Budget(pes, tiles), tuple(xb), tuple(copies), tuple(placement), strategy, storage)
