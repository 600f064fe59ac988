"""What `cimopt compare` proves with its own defaults: bound, best schedule, proven gap and CPU seconds.

    python bench/certify.py                       # the issue's table: row sets (10 zoo networks), pixel sets (5)
    python bench/certify.py --sets row --models resnet18,mini-yolo
    python bench/certify.py --dup search          # the duplication search instead of greedy
    python bench/certify.py --out results/certify.json

Each case runs `cimopt compare MODEL --sets S --dup D --extra-pes 64 --json` in a fresh process, with every
other option at the CLI's default (default schedulers, default time limit), through the CLI's own argument
parser and `cmd_compare`; `chain8x32` is `cimopt.builder.conv_chain(8, size=32)`, the 8-layer 32 x 32 conv
chain, given to the same command as a workload. CPU seconds are the child process's user + system time (all
threads; imports and model loading included), wall seconds its elapsed time; `fb CPU` is clsa-fb's own run
(schedule + simulation). Prints one row per case and asserts nothing (the targets are in the README).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ZOO = ("tiny-yolov3", "tiny-yolov4", "vgg16", "resnet18", "resnet50", "alexnet", "mobilenetv2", "squeezenet1_1",
       "mini-cnn", "mini-yolo")
PIXEL = ("tiny-yolov3", "resnet18", "vgg16", "mini-yolo", "chain8x32")

_CHILD = """
import contextlib, io, json, sys
from cimopt import cli
from cimopt.builder import conv_chain
argv = json.loads(sys.argv[1])
args = cli.build_parser().parse_args(["compare", *argv])
if args.model == "chain8x32":
    args.model = conv_chain(8, size=32)
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = cli.cmd_compare(args)
print(json.dumps({"code": code, "compare": json.loads(out.getvalue())}))
"""


def run_case(model: str, sets: str, dup: str, extra: list[str]) -> dict:
    """One `compare` in a fresh process: its JSON, CPU and wall seconds."""
    root = Path(__file__).resolve().parent.parent
    argv = [model, "--sets", sets, "--dup", dup, "--extra-pes", "64", "--json", "--quiet", *extra]
    env = dict(os.environ, PYTHONPATH=str(root))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(argv)], env=env, cwd=root, check=True,
                         capture_output=True, text=True).stdout
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    c = json.loads(out.splitlines()[-1])["compare"]
    return {"model": model, "sets": sets, "dup": dup, "bound": c["bound_cycles"], "rule": c["bound_rule"],
            "best": c["best_latency_cycles"], "best_scheduler": c["best_scheduler"], "gap": c["proven_gap"],
            "clsa": next((r["latency_cycles"] for r in c["results"] if r["scheduler"] == "clsa"), None),
            "runs": {r["scheduler"]: {"latency": r["latency_cycles"], "cpu_s": r.get("cpu_seconds"),
                                      "wall_s": r.get("wall_seconds")} for r in c["results"]},
            "copies": c["results"][0]["copies"], "cpu_s": cpu, "wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="row,pixel", help="granularities (default: row,pixel)")
    ap.add_argument("--models", help="comma-separated (default: the 10 zoo networks at row sets, the 5 pixel cases)")
    ap.add_argument("--dup", default="greedy")
    ap.add_argument("--out", help="also write the rows as JSON")
    ap.add_argument("extra", nargs="*", help="more compare options (after --)")
    a = ap.parse_args()
    rows = []
    print(f"{'model':<14} {'sets':<6} {'dup':<7} {'bound':>9} {'best':>9} {'by':<10} {'gap':>6} {'clsa':>9} "
          f"{'fb CPU':>7} {'CPU s':>7} {'wall s':>7}  rule")
    for sets in a.sets.split(","):
        models = a.models.split(",") if a.models else (ZOO if sets == "row" else PIXEL)
        for m in models:
            r = run_case(m, sets, a.dup, a.extra)
            rows.append(r)
            fb = (r["runs"].get("clsa-fb") or {}).get("cpu_s")
            print(f"{m:<14} {sets:<6} {a.dup:<7} {r['bound']:>9,} {r['best']:>9,} {r['best_scheduler']:<10} "
                  f"{r['gap']:>6.1%} {r['clsa']:>9,} {'' if fb is None else f'{fb:.1f}':>7} {r['cpu_s']:>7.1f} "
                  f"{r['wall_s']:>7.1f}  {r['rule']}", flush=True)
    if a.out:
        Path(a.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
