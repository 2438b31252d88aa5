"""What one check found: each tracked trial sorted into new, changed, unchanged, failed."""

from __future__ import annotations

from dataclasses import dataclass, field

from notifiers.courier import DeliveryReport
from snapshots.events import ChangeEvent


@dataclass
class CheckResult:
    """How each tracked trial was sorted in one check."""

    trials: int = 0
    requests: int = 0
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    loaded: int = 0  # versions loaded from the registry's history (backfill)
    backfill_failed: dict[str, str] = field(default_factory=dict)
    backfill_stopped: str | None = None  # why backfill stopped before the trials due
    watch_new: dict[str, int] = field(default_factory=dict)  # watch -> trials newly matching
    watch_failed: dict[str, str] = field(default_factory=dict)
    deadlines: list[ChangeEvent] = field(default_factory=list)  # results deadline events raised
    since: str | None = None  # an incremental check: trials updated since this day
    at_risk: int = 0  # trials asked for in full as the registry may change them by itself
    fresh: bool = False
    interrupted: bool = False
    error: str | None = None
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    @property
    def outcome(self) -> str:
        """failed, interrupted, partial (some trials failed), fresh or ok."""
        if self.error:
            return "failed"
        if self.interrupted:
            return "interrupted"
        return "partial" if self.failed else "fresh" if self.fresh else "ok"
