"""How the monitor judges primary-outcome changes, against trained raters.

    .venv/bin/python bench/outcome_figures.py [RATINGS.jsonl] [--list KLASS]

Reads the rated steps (default ../shared/ctgov/outcome-ratings/dev.jsonl; its README gives
the categories), compares each step's outcome lists with snapshots.outcomes, takes the most
severe primary-outcome change as the monitor's verdict, and prints:

- false alarms: steps rated no change, with different texts, found notable or critical;
- major found: steps rated major found critical;
- any change found: steps rated major or minor found notable or above;
- identical: steps whose primary texts are the same yet have a primary-outcome event.

--list KLASS prints the steps of that rated class (none, minor, major) with the verdict, to
read where the monitor and the raters part.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from snapshots.events import SEVERITIES, SEVERITY_RANK
from snapshots.outcomes import OutcomeChange, compare

RATINGS = Path(__file__).resolve().parents[2] / "shared" / "ctgov" / "outcome-ratings" / "dev.jsonl"
GOALS = {"false_alarms": 0.20, "major_found": 0.85, "any_found": 0.80}


@dataclass(frozen=True)
class Figures:
    false_alarms: tuple[int, int]  # (found, of)
    major_found: tuple[int, int]
    any_found: tuple[int, int]
    identical: tuple[int, int]

    def share(self, name: str) -> float:
        found, of = getattr(self, name)
        return found / of if of else 0.0

    def meets_goals(self) -> bool:
        return (self.share("false_alarms") <= GOALS["false_alarms"]
                and self.share("major_found") >= GOALS["major_found"]
                and self.share("any_found") >= GOALS["any_found"]
                and self.identical[0] == 0)

    def lines(self) -> list[str]:
        def line(name: str, text: str, goal: str) -> str:
            found, of = getattr(self, name)
            return f"{text:<44} {found:>4} of {of:<4} {self.share(name):6.1%}   goal {goal}"
        return [line("false_alarms", "false alarms (no change, found notable+)", "<= 20%"),
                line("major_found", "major changes found as critical", ">= 85%"),
                line("any_found", "any change found as notable or above", ">= 80%"),
                line("identical", "identical primary texts with an event", "0")]


def module(side: dict[str, list[dict[str, str]]]) -> dict[str, list[dict[str, str]]]:
    return {"primaryOutcomes": side.get("primary", []),
            "secondaryOutcomes": side.get("secondary", [])}


def primary_changes(step: dict) -> list[OutcomeChange]:
    return [c for c in compare(module(step["old"]), module(step["new"])) if c.kind == "primary"]


def verdict(changes: list[OutcomeChange]) -> int:
    """The most severe primary-outcome change's rank, -1 when there is none."""
    return max((SEVERITY_RANK[c.severity] for c in changes), default=-1)


def figures(steps: Iterable[dict]) -> Figures:
    notable, critical = SEVERITY_RANK["notable"], SEVERITY_RANK["critical"]
    counts = {name: [0, 0] for name in ("false_alarms", "major_found", "any_found", "identical")}
    for step in steps:
        rank = verdict(primary_changes(step))
        same = step["old"]["primary"] == step["new"]["primary"]
        if same:
            counts["identical"][1] += 1
            counts["identical"][0] += rank >= 0
        elif step["klass"] == "none":
            counts["false_alarms"][1] += 1
            counts["false_alarms"][0] += rank >= notable
        if step["klass"] == "major":
            counts["major_found"][1] += 1
            counts["major_found"][0] += rank >= critical
        if step["klass"] in ("major", "minor"):
            counts["any_found"][1] += 1
            counts["any_found"][0] += rank >= notable
    return Figures(**{name: (found, of) for name, (found, of) in counts.items()})


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ratings", nargs="?", type=Path, default=RATINGS)
    parser.add_argument("--list", choices=("none", "minor", "major"))
    args = parser.parse_args(argv)
    if not args.ratings.is_file():
        print(f"no rated steps at {args.ratings}", file=sys.stderr)
        return 2
    steps = read(args.ratings)
    started = time.process_time()
    result = figures(steps)
    spent = time.process_time() - started
    print(f"{len(steps)} rated steps from {args.ratings.name}, judged in {spent:.2f} s CPU "
          f"({1000 * spent / len(steps):.1f} ms a step)")
    print("\n".join(result.lines()))
    if args.list:
        for step in steps:
            if step["klass"] == args.list and step["old"]["primary"] != step["new"]["primary"]:
                changes = primary_changes(step)
                rank = verdict(changes)
                found = SEVERITIES[rank] if rank >= 0 else "-"
                print(f"\n{step['id']} {step['labels']} -> {found}")
                for c in changes:
                    print(f"   [{c.severity}/{c.change}] {c.summary}")
    return 0 if result.meets_goals() else 1


if __name__ == "__main__":
    raise SystemExit(main())
