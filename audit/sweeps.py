"""The custody sweep as the auditor's integrity page shows it.

The sweep re-hashes every stored file; it lives with the files, in the
``cases`` app (``cases.custody_sweep``). The audit app imports no other app,
so the sweep registers here a function that describes its latest run, and
the page asks ``latest()``. Its starts and finishes are audit events as
well (``custody_sweep_started``, ``custody_sweep_finished``), and what it
finds is recorded as ``integrity_failed``, like any other failed check.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SweepSummary:
    """One run of the custody sweep: where it is, or how it ended."""

    status: str  # "running", "done" or "interrupted"
    status_label: str
    started_at: datetime.datetime
    updated_at: datetime.datetime  # when its progress was last saved
    finished_at: datetime.datetime | None
    files_checked: int
    files_total: int
    failures: int
    last_error: str = ""

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def percent(self) -> int:
        """How much of the files it has checked, 0 to 100."""
        if not self.files_total:
            return 100 if self.finished_at else 0
        return min(100, self.files_checked * 100 // self.files_total)


_latest: Callable[[], SweepSummary | None] | None = None


def register(latest: Callable[[], SweepSummary | None]) -> None:
    """Say how to find the latest sweep (the app that runs it calls this once, when it loads)."""
    global _latest
    _latest = latest


def latest() -> SweepSummary | None:
    """The latest custody sweep, running or finished; None if none ran (or no sweep is installed)."""
    return _latest() if _latest is not None else None
