"""What the fault suite counts across its cases, and its one summary line."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class Tally:
    cases: int = 0
    kills: int = 0
    lost: int = 0
    duplicated: int = 0
    repeats: int = 0  # an alert delivered again with the same Idempotency-Key
    tracebacks: int = 0
    hangs: int = 0

    def add(self, other: Tally) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def line(self) -> str:
        return (f"faults: {self.cases} cases, {self.kills} kills: {self.lost} lost, "
                f"{self.duplicated} duplicated, {self.repeats} same-key repeats, "
                f"{self.tracebacks} tracebacks, {self.hangs} hangs")


RESULTS = Tally()
