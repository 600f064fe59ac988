"""Command-line values every command shares: number types for argparse and output-path checks.

The number types reject what a user can type but no run can use (23-digit counts, `inf`, `nan`, negative
counts) with argparse's own one-line usage error (exit 2). The path checks run before anything is computed, so
a result is never lost to an output path that cannot be written.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from cimopt.errors import InputError
from cimopt.schedulers.registry import SCHEDULERS

MAX_COUNT = 10**9  # PEs, tiles, workers, ...: far beyond any chip, far below int64 overflow in the arrays they size
MAX_SEED = 2**31 - 1  # CP-SAT's random_seed is an int32
MAX_SECONDS = 10**7  # about four months
MAX_CYCLES = 2**40  # a cycle count given on the command line (schedules stay far inside int64)
#: Registered schedulers that plan one inference only (`SchedulerSpec.one_inference`): their own refusal of a
#: stream, made by the CLI (schedule, compare, sweep) before any work.
ONE_INFERENCE = tuple(s.name for s in SCHEDULERS if s.one_inference)


def _int_type(lo: int, hi: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip().replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {value}")
        if value > hi:
            raise argparse.ArgumentTypeError(f"must be at most {hi:,}, got {text.strip()[:40]}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


positive_int = _int_type(1, MAX_COUNT, "a positive integer")
count = _int_type(0, MAX_COUNT, "an integer >= 0")
seed = _int_type(0, MAX_SEED, "an integer seed")
cycles = _int_type(0, MAX_CYCLES, "a number of cycles >= 0")


def seconds(text: str) -> float:
    """A finite time limit > 0 in seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds, got {text!r}")
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"must be > 0 and at most {MAX_SECONDS:,} seconds, got {value:g}")
    return value


def _existing_ancestor(p: Path) -> Path:
    a = p
    while not a.exists() and a != a.parent:
        a = a.parent
    return a


def _probe_dir(folder: Path, where: str) -> None:
    """Create and delete a scratch file in `folder`: the one test of writability that also holds for root and
    read-only file systems."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".cimopt-probe-")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise InputError(f"{where}: folder {folder} is not writable ({exc.strerror or exc})") from None


def check_output_file(path: str | Path, flag: str, label: str | None = None) -> Path:
    """`path` as a file the run can write (its folder exists and is writable), or an InputError saying why;
    `label` replaces `flag path` at the start of the message."""
    p = Path(path)
    where = label or f"{flag} {path}"
    if p.is_dir() or str(path).endswith(("/", os.sep)):
        raise InputError(f"{where}: is a folder; give a file name inside it")
    parent = p.parent
    if not parent.exists():
        anc = _existing_ancestor(parent)
        if not anc.is_dir():
            raise InputError(f"{where}: {anc} is a file, not a folder")
        raise InputError(f"{where}: folder {parent} does not exist")
    if not parent.is_dir():
        raise InputError(f"{where}: {parent} is a file, not a folder")
    if p.exists():
        try:
            with open(p, "r+b"):
                pass
        except OSError as exc:
            raise InputError(f"{where}: file is not writable ({exc.strerror or exc})") from None
    else:
        _probe_dir(parent, where)
    return p


def check_output_dir(path: str | Path, flag: str) -> Path:
    """`path` as a folder the run can create (with its parents) or write into, or an InputError saying why."""
    p = Path(path)
    where = f"{flag} {path}"
    if p.exists() and not p.is_dir():
        raise InputError(f"{where}: exists and is not a folder")
    anc = _existing_ancestor(p)
    if not anc.is_dir():
        raise InputError(f"{where}: {anc} is a file, not a folder")
    _probe_dir(anc, where)
    return p
