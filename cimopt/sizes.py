"""Tile buffer sizes as users write them: elements (activation values) per tile unless they carry a byte unit:
`65536`, `64k` (k = 1024 elements), `1M`, `inf` / `unlimited`; `64KB`, `64KiB`, `1MB`, `4096B` are bytes
(KB = KiB = 1024 bytes), converted with the hardware's bits per activation element (`chip.bits`, default 8;
rounded down to whole elements)."""

from __future__ import annotations

import re

from cimopt.errors import InputError
from cimopt.hardware import FIELDS, Hardware

UNLIMITED_WORDS = ("inf", "unlimited", "none")
_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


def parse_capacity(text: str, hw: Hardware, flag: str = "--buffer") -> int | None:
    """One size (module docstring) in elements per tile; None for unlimited."""
    s = str(text).strip().lower().replace("_", "")
    if s in UNLIMITED_WORDS:
        return None
    m = re.fullmatch(r"(\d+)\s*([kmg]?)(i?b)?", s)
    if not m:
        raise InputError(f"{flag}: {text!r} is not a buffer size (elements: 65536, 64k, 1M; bytes: 64KB, 64KiB, "
                         "4096B; or inf)")
    value = int(m[1]) * _UNITS[m[2]]
    if m[3]:
        value = value * 8 // hw.bits
    if value <= 0:
        raise InputError(f"{flag}: {text!r} is {value} elements per tile; a buffer needs at least 1 (or inf)")
    high = next(f.high for f in FIELDS if f.attr == "buffer_elements")
    if value > high:
        raise InputError(f"{flag}: {text!r} is {value:,} elements per tile, more than {high:,} (use inf for unlimited)")
    return value


def parse_capacities(text: str, hw: Hardware, flag: str = "--buffer") -> tuple[int | None, ...]:
    """A comma-separated list of sizes, in the given order without repeats."""
    out: list[int | None] = []
    for item in (t for t in str(text).split(",") if t.strip()):
        c = parse_capacity(item, hw, flag)
        if c not in out:
            out.append(c)
    if not out:
        raise InputError(f"{flag}: empty list {text!r}")
    return tuple(out)
