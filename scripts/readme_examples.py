"""Check, or regenerate, the example outputs of README.md: every example marked `<!-- check ... -->` is run.

    python scripts/readme_examples.py            # run every checked example; exit 1 with a diff if one differs
    python scripts/readme_examples.py --quick    # only those marked `quick` (what the test suite runs)
    python scripts/readme_examples.py --update   # rewrite the examples with the real output
    python scripts/readme_examples.py --only sweep --update   # the examples whose commands contain "sweep"

A marker is an HTML comment on the line before the example (invisible on GitHub):

    <!-- check [quick] [slow] [exit=N] [setup: SHELL COMMAND] -->

followed by a fenced block of `$ COMMAND` lines, each followed by its output. `quick` examples run in the test
suite (a few seconds each); `slow` ones only with `--slow` (or `--update --slow`).
Commands run in document order in one fresh temporary folder (as a reader who follows the README in order: an
`--out` path written twice is an error there too); `setup:` runs before the block's first command (hidden from
the reader: files the example needs). `$ cimopt ...` runs this checkout's cimopt, `$ python X` this Python;
`VAR=value` prefixes set the environment, `# ...` is a comment. The output is stdout plus the `cimopt:` lines
of stderr (errors, warnings; not CP-SAT's progress or the progress bars), and the exit code must be N (default
0).

Comparison is by whitespace-separated tokens, so column widths do not matter; wall times (`6.4 s`) and table
rules (`-----`) match any value. A line `...` in an expected output stands for any lines: the next expected line
is matched to the output line that shares the most leading tokens with it (`--update` keeps the `...` and
refreshes the lines shown). On a mismatch the report names the README line, the expected and the actual line, and the numbers
that differ.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARKER = re.compile(r"^<!--\s*check\b(?P<opts>.*?)-->\s*$")
SECONDS = re.compile(r"\b\d+(?:\.\d+)? s\b")
NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?%?x?")
RULE = re.compile(r"^-{3,}$")


@dataclass
class Command:
    """One command of an example: its text, the README line of its first output line (0-based), its output."""

    text: str
    first: int
    expected: list[str] = field(default_factory=list)


@dataclass
class Example:
    """One checked example: its options and commands."""

    line: int  # the marker's line (0-based)
    quick: bool
    slow: bool
    exit: int
    setup: str
    commands: list[Command]


def parse(lines: list[str]) -> list[Example]:
    """The checked examples of the README's lines."""
    out: list[Example] = []
    i = 0
    while i < len(lines):
        m = MARKER.match(lines[i])
        if not m:
            i += 1
            continue
        opts = m.group("opts").strip()
        setup = ""
        if "setup:" in opts:
            opts, _, setup = opts.partition("setup:")
        words = opts.split()
        code = next((int(w[5:]) for w in words if w.startswith("exit=")), 0)
        start = i + 1
        if start >= len(lines) or not lines[start].startswith("```"):
            raise SystemExit(f"README.md:{i + 1}: a check marker must be followed by a fenced block")
        end = start + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        cmds: list[Command] = []
        for k in range(start + 1, end):
            if lines[k].startswith("$ "):
                cmds.append(Command(lines[k][2:], k + 1))
            elif cmds:
                cmds[-1].expected.append(lines[k])
            elif lines[k].strip():
                raise SystemExit(f"README.md:{k + 1}: output before the first `$ ` command of a checked block")
        i = end + 1
        out.append(Example(start - 1, "quick" in words, "slow" in words, code, setup.strip(), cmds))
    return out


def argv_of(command: str) -> tuple[dict[str, str], list[str]]:
    """The environment additions and the argv of `$ command` (cimopt and python of this checkout)."""
    words = shlex.split(command, comments=True)
    env = {}
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        k, _, v = words.pop(0).partition("=")
        env[k] = v
    if words and words[0] == "cimopt":
        words = [sys.executable, "-m", "cimopt.cli", *words[1:]]
    elif words and words[0] == "python":
        words = [sys.executable, *words[1:]]
        if len(words) > 1 and (ROOT / words[1]).is_file():
            words[1] = str(ROOT / words[1])
    return env, words


def output(stdout: str, stderr: str) -> list[str]:
    """What an example shows: the `cimopt:` lines of stderr, then stdout."""
    return [ln.rstrip() for ln in stderr.splitlines() if ln.startswith("cimopt: ")] + [
        ln.rstrip() for ln in stdout.rstrip("\n").splitlines()]


def run(command: str, cwd: Path, in_process: bool = False) -> tuple[int, list[str]]:
    """Exit code and output lines of `$ command` run in `cwd`; `in_process`: a `cimopt` command runs through
    `cimopt.cli.main` in this process (no interpreter start-up: what the test suite uses)."""
    env_add, argv = argv_of(command)
    if in_process and argv[1:3] == ["-m", "cimopt.cli"]:
        import contextlib
        import io

        from cimopt.cli import main

        out, err = io.StringIO(), io.StringIO()
        old_env, old_cwd = dict(os.environ), Path.cwd()
        try:
            os.environ.update(env_add)
            os.chdir(cwd)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(argv[3:])
        finally:
            os.chdir(old_cwd)
            os.environ.clear()
            os.environ.update(old_env)
        return code, output(out.getvalue(), err.getvalue())
    env = os.environ | env_add | {"PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return p.returncode, output(p.stdout, p.stderr)


def tokens(line: str) -> list[str]:
    """What is compared of a line: its tokens, wall times and table rules as wildcards."""
    return ["-" if RULE.match(t) else t for t in SECONDS.sub("<seconds> s", line).split()]


def common_prefix(a: str, b: str) -> int:
    """How many leading tokens two lines share."""
    n = 0
    for x, y in zip(tokens(a), tokens(b), strict=False):
        if x != y:
            break
        n += 1
    return n


def align(expected: list[str], actual: list[str]) -> tuple[list[tuple[int | None, int | None]], list[str]]:
    """Pairs (expected index, actual index) in order, None for a line on one side only; and the refreshed
    expected lines (the actual ones, with `...` kept where the README elides)."""
    pairs: list[tuple[int | None, int | None]] = []
    fresh: list[str] = []
    j = 0
    skip = False
    for i, e in enumerate(expected):
        if e.strip() == "...":
            skip = True
            fresh.append(e)
            continue
        if skip:  # the output line (from j on) sharing the most leading tokens with e, the first on ties
            best = max(range(j, len(actual)), key=lambda k: (common_prefix(actual[k], e), -k), default=None)
            k = best if best is not None and common_prefix(actual[best], e) > 0 else None
            if k is None:
                pairs.append((i, None))
                fresh.append(e)
                continue
            j, skip = k, False
        if j < len(actual):
            pairs.append((i, j))
            fresh.append(actual[j])
            j += 1
        else:
            pairs.append((i, None))
    if not skip:
        pairs += [(None, k) for k in range(j, len(actual))]
        fresh += actual[j:]
    return pairs, fresh


def numbers_differ(e: str, a: str) -> str:
    ne, na = NUMBER.findall(SECONDS.sub("", e)), NUMBER.findall(SECONDS.sub("", a))
    diffs = [f"{x} -> {y}" for x, y in zip(ne, na, strict=False) if x != y]
    if len(ne) != len(na):
        diffs.append(f"{len(ne)} numbers -> {len(na)}")
    return ", ".join(diffs)


def compare(cmd: Command, code: int, want: int, actual: list[str]) -> tuple[list[str], list[str]]:
    """Mismatch messages, and the refreshed output lines."""
    msgs = []
    if code != want:
        msgs.append(f"README.md:{cmd.first}: `{cmd.text}` exited {code}, expected {want}")
    pairs, fresh = align(cmd.expected, actual)
    for i, j in pairs:
        e = None if i is None else cmd.expected[i]
        a = None if j is None else actual[j]
        if e is not None and a is not None and tokens(e) == tokens(a):
            continue
        where = cmd.first + 1 + (i if i is not None else len(cmd.expected))
        if a is None:
            msgs.append(f"README.md:{where}: missing from the output:\n    expected: {e}")
        elif e is None:
            msgs.append(f"README.md:{where}: not in the README:\n    actual:   {a}")
        else:
            nums = numbers_differ(e, a)
            msgs.append(f"README.md:{where}:" + (f" numbers differ ({nums})" if nums else " text differs")
                        + f"\n    expected: {e}\n    actual:   {a}")
    return msgs, fresh


def check(readme: Path = README, *, quick: bool = False, slow: bool = False, update: bool = False,
          only: str | None = None, in_process: bool = False, log=print) -> list[str]:
    """Run the selected examples of `readme`; the mismatches (rewriting the file with the real output when
    `update`). Quick: only `quick` examples; slow examples run only with `slow`; `in_process`: see `run`."""
    lines = readme.read_text().splitlines()
    examples = parse(lines)
    problems: list[str] = []
    edits: list[tuple[int, int, list[str]]] = []
    with tempfile.TemporaryDirectory(prefix="cimopt-readme-") as tmp:
        cwd = Path(tmp)
        for ex in examples:
            if (quick and not ex.quick) or (ex.slow and not slow) or (
                    only and not any(only in c.text for c in ex.commands)):
                continue
            if ex.setup:  # `python` there is this Python (its folder first on PATH)
                subprocess.run(["bash", "-c", ex.setup], cwd=cwd, check=True, env=os.environ | {
                    "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                    "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")})
            for cmd in ex.commands:
                log(f"$ {cmd.text}")
                code, actual = run(cmd.text, cwd, in_process)
                msgs, fresh = compare(cmd, code, ex.exit, actual)
                problems += msgs
                if fresh != cmd.expected:
                    edits.append((cmd.first, cmd.first + len(cmd.expected), fresh))
    if update and edits:
        for first, last, fresh in sorted(edits, reverse=True):
            lines[first:last] = fresh
        readme.write_text("\n".join(lines) + "\n")
    if update:
        log(f"{readme}: {len(edits)} command output(s) rewritten")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readme", type=Path, default=README)
    ap.add_argument("--quick", action="store_true", help="only the examples marked quick")
    ap.add_argument("--slow", action="store_true", help="also the examples marked slow")
    ap.add_argument("--update", action="store_true", help="rewrite the examples with the real output")
    ap.add_argument("--only", metavar="TEXT", help="only the examples with a command containing TEXT")
    args = ap.parse_args(argv)
    problems = check(args.readme, quick=args.quick, slow=args.slow, update=args.update, only=args.only,
                     log=lambda s: print(s, file=sys.stderr))
    if args.update:
        codes = [p for p in problems if "exited" in p or "missing from the output" in p]
        for p in codes:  # what rewriting cannot fix: an exit code, a line the README shows that is not there
            print(p)
        return 1 if codes else 0
    for p in problems:
        print(p)
    print(f"{len(problems)} difference(s)" if problems else "README examples match")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
