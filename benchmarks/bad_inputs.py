"""The odd-input corpus of the tests (tests/corpus.py) through the fast path, with counts.

    .venv/bin/python benchmarks/bad_inputs.py              # probe every case
    .venv/bin/python benchmarks/bad_inputs.py --analyze    # and the fast analysis where the case asks for it

Prints, per command, how many inputs ended with each exit code and how many broke an evidence rule
(undocumented exit code, more than one line on stderr, traceback, control character on the terminal,
input changed, output left behind), naming each of those.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import corpus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analyze", action="store_true", help="also run the fast analysis on the cases marked for it")
    args = parser.parse_args()
    cases = corpus.cases()
    exits: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    broken = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as root:
        for number, case in enumerate(cases):
            inputs, work = Path(root) / f"in{number}", Path(root) / f"work{number}"
            inputs.mkdir()
            work.mkdir()
            path = case.make(inputs)
            for command in ("probe", "analyze") if case.analyze and args.analyze else ("probe",):
                outcome = corpus.run(path, command, work)
                exits[command][outcome.exit_code] += 1
                broken += [f"{command} {case.name}: {problem}" for problem in outcome.problems()]
    print(f"{len(cases)} odd inputs in {time.monotonic() - started:.0f} s")
    for command, counts in exits.items():
        print(f"{command}: {sum(counts.values())} runs; exit codes " + ", ".join(
            f"{code}: {count}" for code, count in sorted(counts.items())))
    print(f"{len(broken)} broke an evidence rule" + (":" if broken else ""))
    for line in broken:
        print(f"  {line}")


if __name__ == "__main__":
    main()
