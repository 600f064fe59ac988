"""Parameter sweeps: models x budget points x granularities x duplication x schedulers, resumable, in parallel.

A sweep folder holds
- `sweep.meta.json`: the sweep's parameters (a folder belongs to one sweep; another one there is an error),
- `points.jsonl`: one JSON line per finished point, appended and flushed as each point finishes, so an
  interrupted sweep loses no finished point and a rerun computes only the missing ones,
- `sweep.csv` / `sweep.json`: one tidy row per requested point, derived from `points.jsonl`,
- one PNG per model (latency, speedup, utilization against PEs or tiles).

Every point is scheduled and then checked on the simulator (`api.run`). Speedups need layer-by-layer without
duplication (and with the point's duplication) at the same budget and granularity: those reference points are
computed too, even when not requested, and kept in `points.jsonl` but not in the rows.

Points run in worker processes (a `ProcessPoolExecutor`, `spawn` start method), inline with `workers=1`, or on
a Dask distributed cluster; the outputs are the same in every case and independent of completion order.
"""

from __future__ import annotations

import csv
import json
import math
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from cimopt import api
from cimopt.arguments import MAX_COUNT, check_output_dir
from cimopt.duplication import NAMES as DUPLICATION_NAMES
from cimopt.errors import InputError
from cimopt.granularity import Granularity
from cimopt.hardware import CHIP_TOTAL_ATTRS, Hardware, load_hardware
from cimopt.mapping import min_pes, resolve_budget
from cimopt.record import COLUMNS, RunRecord, record_of, with_references
from cimopt.schedulers import registry
from cimopt.workload import Workload

FORMAT = "cimopt-sweep"
VERSION = 2  # 2: points hold run records
BUDGET_KINDS = ("pes", "tiles", "extra_pes", "default")
DUPLICATIONS = DUPLICATION_NAMES  # every duplication strategy the core knows
DASK_CONNECT_TIMEOUT = 5.0
MAX_AXIS_VALUES = 10_000  # budget values of one axis: a sweep beyond that is a typo in a range


# ---------------------------------------------------------------------------------------------------------------
# Parsing the grid


def parse_int_axis(text: str, flag: str) -> tuple[int, ...]:
    """`"0,16,32"`, `"0:64:16"` (inclusive of both ends) or a mix of both, as sorted unique integers."""
    values: list[int] = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        parts = item.split(":")
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            raise InputError(f"{flag}: {item!r} is not an integer or a range A:B:STEP") from None
        if len(nums) == 1:
            values.append(nums[0])
            continue
        if len(nums) not in (2, 3):
            raise InputError(f"{flag}: {item!r} is not a range A:B:STEP")
        a, b, step = nums[0], nums[1], nums[2] if len(nums) == 3 else 1
        if step <= 0:
            raise InputError(f"{flag}: range {item!r} needs a positive STEP, got {step}")
        if b < a:
            raise InputError(f"{flag}: range {item!r} reads backwards ({a} > {b}); write it as {b}:{a}:{step}")
        if len(range(a, b + 1, step)) > MAX_AXIS_VALUES:
            raise InputError(f"{flag}: range {item!r} has {len(range(a, b + 1, step)):,} values, more than "
                             f"{MAX_AXIS_VALUES:,}; use a larger STEP")
        values.extend(range(a, b + 1, step))
    if not values:
        raise InputError(f"{flag}: empty list {text!r}: the sweep grid would be empty")
    neg = [v for v in values if v < 0]
    if neg:
        raise InputError(f"{flag}: values must be >= 0, got {neg[0]}")
    big = [v for v in values if v > MAX_COUNT]
    if big:
        raise InputError(f"{flag}: values must be at most {MAX_COUNT:,}, got {big[0]}")
    return tuple(sorted(set(values)))


def parse_names(text: str, allowed: Sequence[str] | None, flag: str) -> tuple[str, ...]:
    """A comma-separated list, in the given order without repeats; each name checked against `allowed`."""
    names: list[str] = []
    for s in (s.strip() for s in text.split(",")):
        if not s or s in names:
            continue
        if allowed is not None and s not in allowed:
            raise InputError(f"{flag}: unknown value {s!r} (choose from {', '.join(allowed)})")
        names.append(s)
    if not names:
        raise InputError(f"{flag}: empty list {text!r}: the sweep grid would be empty")
    return tuple(names)


# ---------------------------------------------------------------------------------------------------------------
# The sweep and its points


@dataclass(frozen=True)
class SweepSpec:
    """A sweep's parameters: the grid is models x budgets x granularities x duplications x streams x schedulers.

    `models` holds zoo names, ONNX paths or Workloads (named by `Workload.name`). `budget_kind` says what the
    budget values are (`pes`, `tiles`, `extra_pes`, or `default`: the hardware file's chip, one point).
    CP-SAT runs with `time_limit` seconds, `cpsat_workers` threads and `seed` (one thread is deterministic
    when the solver proves optimality or finds the same solution within the limit).
    """

    models: tuple[str | Path | Workload, ...]
    budget_kind: str = "default"
    budgets: tuple[int | None, ...] = (None,)
    schedulers: tuple[str, ...] = (registry.BASELINE, registry.HEURISTIC)
    duplications: tuple[str, ...] = ("none",)
    granularities: tuple[str, ...] = ("pixel",)
    inferences: tuple[int, ...] = (1,)  # streams of N inferences (all arriving at cycle 0)
    hardware: str | Path | Hardware | None = None
    time_limit: float = 60.0
    cpsat_workers: int = 1
    seed: int = 0
    buffers: tuple[str | None, ...] = (None,)  # tile buffer capacities: "inf" or elements; None = the hardware's
    crossbars: tuple[int | None, ...] = (None,)  # square crossbar sizes (rows = cols); None = the hardware's
    links: tuple[int | None, ...] = (None,)  # NoC link bandwidths, bytes per cycle; None = the hardware's
    pareto: bool = False  # each point's steady state (periodic schedule) and area; Pareto-optimal points marked

    def validated(self) -> SweepSpec:
        """The same spec with normalized names; an InputError for an empty or malformed grid."""
        if not self.models:
            raise InputError("sweep: no model given: the sweep grid would be empty")
        if self.budget_kind not in BUDGET_KINDS:
            raise InputError(f"sweep: unknown budget kind {self.budget_kind!r} (choose from {', '.join(BUDGET_KINDS)})")
        budgets = (None,) if self.budget_kind == "default" else self.budgets
        if not budgets or (self.budget_kind != "default" and any(b is None for b in budgets)):
            raise InputError(f"sweep: no budget values for --{self.budget_kind.replace('_', '-')}: the grid would be empty")
        for name, values, allowed in (("--schedulers", self.schedulers, registry.NAMES),
                                      ("--dup", self.duplications, DUPLICATIONS),
                                      ("--sets", self.granularities, None)):
            if not values:
                raise InputError(f"sweep: {name} is empty: the sweep grid would be empty")
            if allowed is not None:
                parse_names(",".join(values), allowed, name)
        grans = tuple(dict.fromkeys(Granularity.parse(g).spec for g in self.granularities))
        if not self.inferences or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in self.inferences):
            raise InputError(f"--inferences: every value must be an integer >= 1, got {list(self.inferences)}")
        if not (self.time_limit > 0 and math.isfinite(self.time_limit)):
            raise InputError(f"--time-limit must be > 0 seconds, got {self.time_limit:g}")
        if self.cpsat_workers < 1:
            raise InputError(f"--cpsat-workers must be >= 1, got {self.cpsat_workers}")
        for flag, values, low in (("--crossbar", self.crossbars, 1), ("--link", self.links, 0)):
            if not values or any(v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < low)
                                 for v in values):
                raise InputError(f"{flag}: every value must be an integer >= {low}, got {list(values)}")
        return replace(self, budgets=tuple(budgets), granularities=grans,
                       schedulers=tuple(dict.fromkeys(self.schedulers)), inferences=tuple(dict.fromkeys(self.inferences)),
                       duplications=tuple(dict.fromkeys(self.duplications)),
                       crossbars=tuple(dict.fromkeys(self.crossbars)), links=tuple(dict.fromkeys(self.links)))


@dataclass(frozen=True)
class Point:
    """One run of the grid: everything that determines its result."""

    model: str
    hardware: str
    budget_kind: str
    budget: int | None
    granularity: str
    duplication: str
    scheduler: str
    time_limit: float | None = None  # CP-SAT only
    cpsat_workers: int | None = None
    seed: int | None = None
    buffer: str | None = None  # tile buffer capacity ("inf" or elements per tile); None: the hardware file's
    inferences: int = 1  # a stream of N inferences
    crossbar: int | None = None  # square crossbar size; None: the hardware file's
    link: int | None = None  # NoC link bytes per cycle; None: the hardware file's
    steady: bool = False  # also the steady state of CLSA-CIM's periodic schedule on the point's chip

    @property
    def key(self) -> str:
        """The point's identity in `points.jsonl`: all its parameters (no entry for an axis at its default, so
        the keys of sweeps made before these axes stay valid)."""
        d = asdict(self)
        for k, default in (("buffer", None), ("inferences", 1), ("crossbar", None), ("link", None),
                           ("steady", False)):
            if d[k] == default:
                d.pop(k)
        return json.dumps(d, sort_keys=True, separators=(",", ":"))

    def capacity(self) -> int | None:
        """The point's buffer capacity in elements per tile (None: unlimited)."""
        return None if self.buffer == "inf" else int(self.buffer)

    @property
    def problem_key(self) -> tuple:
        """Points with the same problem key share model, chip, budget and sets (not the duplication)."""
        return (self.model, self.hardware, self.budget_kind, self.budget, self.granularity, self.crossbar, self.link)

    def chip(self, hw: Hardware) -> Hardware:
        """The point's chip: `hw` with its crossbar size and link bandwidth (`cimopt.chip` variants)."""
        from cimopt.chip import with_crossbar, with_link

        if self.crossbar is not None:
            hw = with_crossbar(hw, self.crossbar, self.crossbar)
        return hw if self.link is None else with_link(hw, self.link)

    def budget_args(self) -> dict[str, int]:
        return {} if self.budget_kind == "default" else {self.budget_kind: int(self.budget)}


def make_point(model: str, hw_name: str, kind: str, budget: int | None, gran: str, dup: str, scheduler: str,
               spec: SweepSpec, buffer: str | None = None, inferences: int = 1, crossbar: int | None = None,
               link: int | None = None) -> Point:
    axes = {"buffer": buffer, "inferences": inferences, "crossbar": crossbar, "link": link, "steady": spec.pareto}
    if registry.get(scheduler).exact:
        return Point(model, hw_name, kind, budget, gran, dup, scheduler, float(spec.time_limit), spec.cpsat_workers,
                     spec.seed, **axes)
    return Point(model, hw_name, kind, budget, gran, dup, scheduler, **axes)


def model_name(m: str | Path | Workload) -> str:
    return m.name if isinstance(m, Workload) else str(m)


def grid(spec: SweepSpec, hw_name: str) -> list[Point]:
    """The requested points, in row order: model, budget, granularity, duplication, buffer, inferences,
    crossbar, link, scheduler."""
    return [make_point(model_name(m), hw_name, spec.budget_kind, b, g, d, s, spec, c, n, x, k)
            for m in spec.models for b in spec.budgets for g in spec.granularities
            for d in spec.duplications for c in spec.buffers for n in spec.inferences for x in spec.crossbars
            for k in spec.links for s in spec.schedulers]


def references(point: Point) -> tuple[Point, Point]:
    """Layer-by-layer without duplication, and with the point's duplication, at the same budget, sets and
    stream."""
    base = replace(point, scheduler=registry.BASELINE, time_limit=None, cpsat_workers=None, seed=None, buffer=None,
                   steady=False)
    return replace(base, duplication="none"), base


def all_points(requested: Sequence[Point]) -> list[Point]:
    """Requested points plus the reference points their speedups need, without repeats, requested first."""
    out = dict.fromkeys(requested)
    for p in requested:
        for r in references(p):
            out.setdefault(r)
    return list(out)


# ---------------------------------------------------------------------------------------------------------------
# Running one point (in a worker)


class _ProblemMemo:
    """Per-process memo of prepared problems (sets are the costly part), so points of one problem that land in
    the same worker build their sets once. It only saves time: results do not depend on it."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self.items: dict[tuple, api.Problem] = {}
        self.lock = threading.Lock()  # Dask workers may run points in threads

    def get(self, key: tuple, make: Callable[[], api.Problem]) -> api.Problem:
        with self.lock:
            hit = self.items.get(key)
        if hit is not None:
            return hit
        value = make()
        with self.lock:
            while len(self.items) >= self.size:
                self.items.pop(next(iter(self.items)))
            self.items[key] = value
        return value


_MEMO = _ProblemMemo()


def run_point(point: Point, workload: Workload, hw: Hardware) -> dict:
    """Schedule and simulate one point; a JSON-ready record `{"key", "point", "result", "seconds"}`, the result
    being the point's `RunRecord` (without references: `sweep_rows` adds them).

    An exact scheduler that finds no schedule in its time limit is a finished point with status NO_SOLUTION.
    """
    t0 = time.perf_counter()
    hw = point.chip(hw)
    key = (workload.fingerprint, hw) + point.problem_key
    base = _MEMO.get(key, lambda: replace(api.prepare(workload, hw, sets=point.granularity, placement="sequential",
                                                      **point.budget_args()), model=point.model))
    problem = api.with_stream(api.with_duplication(base, point.duplication), point.inferences)
    if point.buffer is not None:
        from cimopt.capacity import with_buffer

        problem = with_buffer(problem, point.capacity())
    spec = registry.get(point.scheduler)
    try:
        if spec.exact:
            run = api.run(problem, spec.name, time_limit=point.time_limit, workers=point.cpsat_workers,
                          seed=point.seed)
        else:
            run = api.run(problem, spec.name)
        rec = record_of(problem, run)
        if point.steady and spec.name == registry.HEURISTIC:  # CLSA-CIM's periodic schedule on the point's chip
            from cimopt.steady import steady_of

            rec = replace(rec, **steady_of(problem))
    except InputError as exc:
        if not spec.exact and point.buffer is None:  # a buffer the heuristic cannot meet is a result, not an error
            raise
        need = min_pes(problem.workload, problem.hardware)
        rec = RunRecord(point.model, hw.name, problem.budget.pes, problem.budget.tiles, spec.name, point.duplication,
                        problem.sets.granularity.spec, None, None, None, status="NO_SOLUTION", extra_pes=problem.budget.pes
                        - need, min_pes=need, pes_used=problem.mapping.pes_used, sets=problem.sets.num_sets,
                        error=str(exc), buffer_elements=problem.hardware.buffer_elements,
                        crossbar=f"{hw.xbar_rows}x{hw.xbar_cols}", link_bytes_per_cycle=hw.link_bytes_per_cycle or None,
                        area_mm2=_area_or_none(hw, problem.budget.tiles))
    return {"key": point.key, "point": asdict(point), "result": rec.to_json(),
            "seconds": round(time.perf_counter() - t0, 3)}


def _area_or_none(hw: Hardware, tiles: int) -> float | None:
    from cimopt.chip import chip_area_mm2

    return chip_area_mm2(hw, tiles) or None


# ---------------------------------------------------------------------------------------------------------------
# Executors: each yields finished records in completion order


Task = tuple[Point, Workload, Hardware]


def _run_inline(tasks: Sequence[Task]) -> Iterator[dict]:
    for t in tasks:
        yield run_point(*t)


def _run_pool(tasks: Sequence[Task], workers: int) -> Iterator[dict]:
    ctx = multiprocessing.get_context("spawn")
    ex = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx)
    try:
        futures = [ex.submit(run_point, *t) for t in tasks]
        for f in as_completed(futures):
            yield f.result()
    except BaseException:  # Ctrl-C, an error, or the consumer stopped: do not wait for the running points
        for proc in list((getattr(ex, "_processes", None) or {}).values()):
            proc.terminate()
        raise
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def connect_dask(address: str, timeout: float | None = None):
    """A `distributed.Client` on `address`, or an InputError if Dask is missing or the scheduler unreachable
    within `timeout` seconds (default `DASK_CONNECT_TIMEOUT`)."""
    timeout = DASK_CONNECT_TIMEOUT if timeout is None else timeout
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--dask needs the 'distributed' package: pip install 'cimopt[dask]'") from None
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise InputError(f"--dask: cannot reach the Dask scheduler at {address!r} within {timeout:g} s "
                         f"({type(exc).__name__}: {exc})") from None


def _run_dask(tasks: Sequence[Task], client) -> Iterator[dict]:
    from distributed import as_completed as dask_completed

    futures = client.map(run_point, *zip(*tasks, strict=True), pure=False)
    try:
        for f in dask_completed(futures, loop=client.loop):
            yield f.result()
    finally:
        client.cancel(futures)


# ---------------------------------------------------------------------------------------------------------------
# The sweep folder


def hardware_json(hw: Hardware) -> dict:
    """A chip as the sweep meta records it (figures at their defaults left out, as before they existed)."""
    d = asdict(hw)
    d.pop("source")
    if d.get("mvm_ns") is None:  # unset: as in sweeps made before the field existed
        d.pop("mvm_ns", None)
    default = asdict(Hardware())
    for key in ("noc_contention", "tier_bytes_per_cycle", "tier_capacity_bytes", "tier_latency_cycles",
                "tier_pj_per_byte", *CHIP_TOTAL_ATTRS):  # at their defaults: as in sweeps made before they existed
        if key in d and d[key] == default.get(key):
            d.pop(key)
    return json.loads(json.dumps(d))


def sweep_meta(spec: SweepSpec, workloads: Sequence[Workload], hw: Hardware) -> dict:
    """What identifies a sweep: a folder holding another sweep's meta is refused."""
    return {
        "format": FORMAT, "version": VERSION,
        "models": [{"name": model_name(m), "fingerprint": w.fingerprint} for m, w in zip(spec.models, workloads, strict=True)],
        "hardware": hardware_json(hw),
        "budget": {"kind": spec.budget_kind, "values": list(spec.budgets)},
        "granularities": list(spec.granularities), "duplications": list(spec.duplications),
        "schedulers": list(spec.schedulers),
        "exact": {"time_limit": spec.time_limit, "workers": spec.cpsat_workers, "seed": spec.seed}
        if any(registry.get(s).exact for s in spec.schedulers) else None,
    } | ({} if spec.buffers == (None,) else {"buffers": list(spec.buffers)}) | {
        k: v for k, v in (("crossbars", list(spec.crossbars)), ("links", list(spec.links)), ("pareto", spec.pareto))
        if v not in ([None], False)}


def check_meta(out: Path, meta: dict) -> None:
    """Refuse a folder that holds a different sweep (naming the first parameter that differs)."""
    path = out / "sweep.meta.json"
    if not path.exists():
        return
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: unreadable sweep meta ({exc}); use another --out folder") from None
    if old != meta:
        keys = [k for k in meta if old.get(k) != meta[k]] or sorted(set(old) - set(meta))
        k = keys[0] if keys else "format"
        raise InputError(f"{out}: holds a different sweep ({k}: {json.dumps(old.get(k))} there, "
                         f"{json.dumps(meta.get(k))} now); use another --out folder or delete it")


def load_points(path: Path) -> dict[str, dict]:
    """Finished records by key. A torn last line (a killed writer) is dropped and the file rewritten clean."""
    if not path.exists():
        return {}
    records: dict[str, dict] = {}
    good: list[str] = []
    text = path.read_text()
    for line in text.splitlines():
        try:
            rec = json.loads(line)
            records[rec["key"]] = rec
            good.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    clean = "".join(s + "\n" for s in good)
    if clean != text:
        path.write_text(clean)
    return records


@dataclass(frozen=True)
class SweepResult:
    """Rows (one per requested point), the sweep folder's files, and how much was computed now."""

    rows: list[dict]
    out: Path
    files: tuple[Path, ...]
    computed: int
    reused: int
    seconds: float
    records: dict[str, dict] = field(repr=False, default_factory=dict)


def run_sweep(spec: SweepSpec, out: str | Path, *, workers: int = 2, dask: str | None = None,
              progress: bool = True, plots: bool = True, label: str = "sweep") -> SweepResult:
    """Run the missing points of `spec` into folder `out` and write its CSV, JSON and plots."""
    t0 = time.perf_counter()
    spec = spec.validated()
    if workers < 1:
        raise InputError(f"--workers must be >= 1, got {workers}")
    out = check_output_dir(out, "--out")
    hw = spec.hardware if isinstance(spec.hardware, Hardware) else load_hardware(spec.hardware)
    workloads = [api.load_model(m) for m in spec.models]
    names = [model_name(m) for m in spec.models]
    if len(set(names)) != len(names):
        raise InputError(f"sweep: a model is named twice ({', '.join(names)})")
    for w in workloads:
        for b in spec.budgets:
            for x in spec.crossbars:
                chip = make_point("", hw.name, spec.budget_kind, b, "row", "none", registry.BASELINE, spec,
                                  crossbar=x).chip(hw)
                try:
                    resolve_budget(w, chip, **({} if spec.budget_kind == "default" else {spec.budget_kind: b}))
                except InputError as exc:
                    where = "" if b is None else f"--{spec.budget_kind.replace('_', '-')} {b}: "
                    size = "" if x is None else f"--crossbar {x}: "
                    raise InputError(f"sweep point {size}{where}{exc}") from None
    meta = sweep_meta(spec, workloads, hw)
    check_meta(out, meta)

    requested = grid(spec, hw.name)
    points = all_points(requested)
    path = out / "points.jsonl"
    done = load_points(path)
    first = {}
    for p in points:
        first.setdefault(p.problem_key, len(first))
    # points of one problem next to each other, so a worker's memo of prepared problems is reused
    todo = sorted((p for p in points if p.key not in done), key=lambda p: first[p.problem_key])
    by_model = dict(zip(names, workloads, strict=True))
    tasks = [(p, by_model[p.model], hw) for p in todo]

    client = connect_dask(dask) if dask is not None and tasks else None
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    records = dict(done)
    if tasks:
        if client is not None:
            stream = _run_dask(tasks, client)
        elif workers == 1 or len(tasks) == 1:
            stream = _run_inline(tasks)
        else:
            stream = _run_pool(tasks, workers)
        try:
            _collect(stream, path, records, len(points), len(points) - len(tasks), progress, label)
        finally:
            if client is not None:
                client.close()
    rows = sweep_rows(requested, records)
    if spec.pareto:
        from cimopt.experiments.pareto import mark_pareto

        rows = mark_pareto(rows)
    files = write_outputs(rows, out, plots=plots, x={"tiles": "tiles", "extra_pes": "extra_pes"}.get(spec.budget_kind, "pes"),
                          buffers=spec.buffers != (None,), pareto=spec.pareto)
    return SweepResult(rows, out, files, len(tasks), len(points) - len(tasks), time.perf_counter() - t0, records)


def _collect(stream: Iterable[dict], path: Path, records: dict[str, dict], total: int, initial: int,
             progress: bool, label: str) -> None:
    """Append each finished record to `points.jsonl` (flushed and synced) as it arrives. Ctrl-C stops the
    sweep (a point cut short by it is not saved) and says how to resume."""
    from tqdm import tqdm

    with open(path, "a") as f, tqdm(total=total, initial=initial, desc=label, unit="pt", file=sys.stderr,
                                    disable=not progress, dynamic_ncols=True) as bar:
        try:
            for rec in stream:
                if rec["result"].get("interrupted"):
                    raise KeyboardInterrupt
                _save(f, rec, records, bar)
        except KeyboardInterrupt:
            bar.close()
            print(f"{label}: interrupted: {len(records)} of {total} points saved in {path}; run the same command "
                  "again to resume", file=sys.stderr)
            raise


def _save(f, rec: dict, records: dict[str, dict], bar) -> None:
    """One finished point: appended to points.jsonl, flushed and synced, and counted on the progress bar."""
    f.write(json.dumps(rec, separators=(",", ":")) + "\n")
    f.flush()
    os.fsync(f.fileno())
    records[rec["key"]] = rec
    p = rec["point"]
    bar.set_postfix_str(f"{p['model']} {p['budget_kind']}={p['budget']} {p['scheduler']}/{p['duplication']}",
                        refresh=False)
    bar.update(1)


# ---------------------------------------------------------------------------------------------------------------
# Rows and outputs


def sweep_rows(requested: Sequence[Point], records: dict[str, dict]) -> list[dict]:
    """One row per requested point (in grid order): the scalar fields (`COLUMNS`) of its `RunRecord`, with
    speedups over the reference points
    and `gap` = latency / bound - 1, the bound being the best an exact scheduler proved for the same problem
    and duplication (empty when no exact scheduler ran there)."""
    bounds: dict[tuple, int] = {}
    for p in requested:
        if registry.get(p.scheduler).exact and p.key in records:
            b = records[p.key]["result"].get("bound_cycles")
            if b is not None:
                k = (p.problem_key, p.duplication, p.buffer, p.inferences)
                bounds[k] = max(bounds.get(k, 0), int(b))
    rows = []
    for p in requested:
        rec = RunRecord.from_json(records[p.key]["result"])
        lbl, same = (records[q.key]["result"].get("latency_cycles") for q in references(p))
        rec = with_references(rec, lbl=lbl, lbl_same=same, bound=bounds.get((p.problem_key, p.duplication, p.buffer, p.inferences)))
        d = rec.to_json()
        rows.append({c: d[c] for c in COLUMNS})
    return rows


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def write_outputs(rows: list[dict], out: Path, *, plots: bool = True, x: str = "pes",
                  buffers: bool = False, pareto: bool = False) -> tuple[Path, ...]:
    """`sweep.csv`, `sweep.json` and (optionally) one PNG per model, plotted against column `x`; with a buffer
    axis (`buffers`) also one latency-vs-buffer PNG per model; with `pareto` a `pareto` column and one
    latency-vs-energy PNG per model."""
    csv_path, json_path = out / "sweep.csv", out / "sweep.json"
    columns = COLUMNS + (("pareto",) if pareto else ())
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([_cell(r.get(c)) for c in columns])
    json_path.write_text(json.dumps(rows, indent=1) + "\n")
    files = [csv_path, json_path]
    if plots:
        from cimopt.experiments.plots import sweep_plots

        files += sweep_plots(rows, out, x)
        if buffers:
            from cimopt.experiments.plots import buffer_plots

            files += buffer_plots(rows, out)
        if pareto:
            from cimopt.experiments.plots import pareto_plots

            files += pareto_plots(rows, out)
    return tuple(files)


def read_csv(path: str | Path) -> list[dict]:
    """Rows of a `sweep.csv` with values parsed back by the record's field types (empty cells as None)."""
    types = {f.name: str(f.type) for f in fields(RunRecord)} | {"pareto": "bool | None"}
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            d: dict = {}
            for k, v in r.items():
                t = types.get(k, "str")
                if v == "":
                    d[k] = None if "None" in t or t != "str" else ""
                elif t.startswith("int"):
                    d[k] = int(v)
                elif t.startswith("float"):
                    d[k] = float(v)
                elif t.startswith("bool"):
                    d[k] = v == "True"
                else:
                    d[k] = v
            rows.append(d)
    return rows


def sweep_text(res: SweepResult) -> str:
    """The rows as a text table, and what was computed and written."""
    from cimopt.report import table

    def f(v, fmt):
        return "" if v is None else format(v, fmt)

    rows = [[r["model"], r["pes"], r["tiles"], r["granularity"], r["scheduler"], r["duplication"],
             "inf" if r["buffer_elements"] is None else r["buffer_elements"], r["peak_buffer_elements"],
             r["latency_cycles"], f(r["utilization"], ".2%"), f(r["speedup_vs_lbl"], ".2f"),
             f(r["speedup_vs_lbl_same_dup"], ".2f"), f(r["gap"], "+.1%"), r["status"],
             {True: "yes", False: "NO", None: ""}[r["valid"]]] for r in res.rows]
    heads = ["model", "PEs", "tiles", "sets", "scheduler", "dup", "buffer", "peak buf", "latency", "util",
             "speedup", "same-dup", "gap", "status", "valid"]
    align = "lrrllrrrrrrrrll"
    if any(r.get("energy_pj") for r in res.rows):  # a chip with energy figures: energy and EDP per point
        for row, r in zip(rows, res.rows, strict=True):
            row[-2:-2] = [f(r["energy_pj"] and r["energy_pj"] / 1e6, ",.1f"), f(r["edp"], ".4g")]
        heads[-2:-2] = ["energy uJ", "EDP pJ x cyc"]
        align = align[:-2] + "rr" + align[-2:]
    if any(r.get("inferences", 1) > 1 for r in res.rows):  # streams: N and the initiation interval
        for row, r in zip(rows, res.rows, strict=True):
            row[6:6] = [r.get("inferences", 1), f(r.get("interval_cycles"), ",.1f")]
        heads[6:6], align = ["N", "interval"], align[:6] + "rr" + align[6:]
    if len({r.get("crossbar") for r in res.rows}) > 1 or len({r.get("link_bytes_per_cycle") for r in res.rows}) > 1:
        for row, r in zip(rows, res.rows, strict=True):  # design axes: crossbar size and link bandwidth
            row[3:3] = [r.get("crossbar", ""), r.get("link_bytes_per_cycle")]
        heads[3:3], align = ["xbar", "link"], align[:3] + "lr" + align[3:]
    if any("pareto" in r for r in res.rows):  # a design sweep: steady state, area and the Pareto mark
        for row, r in zip(rows, res.rows, strict=True):
            row[-2:-2] = [f(r.get("steady_interval_cycles"), ",.0f"),
                          f(r.get("steady_energy_pj") and r["steady_energy_pj"] / 1e6, ",.1f"),
                          f(r.get("area_mm2"), ".4g"), {True: "*", False: "", None: "-"}[r["pareto"]]]
        heads[-2:-2] = ["steady II", "steady uJ", "area mm2", "pareto"]
        align = align[:-2] + "rrrl" + align[-2:]
    tab = table(heads, rows, align)
    lines = [tab, "", f"{res.computed} points computed, {res.reused} reused, {res.seconds:.1f} s; wrote:"]
    lines += [f"  {p}" for p in res.files]
    return "\n".join(lines)
