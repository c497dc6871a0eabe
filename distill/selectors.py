"""Reads for the run pages."""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from .config import STAGES
from .models import Run

ACTIVE = (Run.Status.QUEUED, Run.Status.RUNNING)


@dataclass
class StageRow:
    name: str
    label: str
    state: str  # pending | running | done | failed | cancelled
    done: int
    total: int
    percent: int
    eta_seconds: float | None
    extra: dict


def run_stage_rows(run: Run) -> list[StageRow]:
    current = STAGES.index(run.stage) if run.stage in STAGES else 0
    rows = []
    for index, stage in enumerate(STAGES):
        entry = run.progress.get(stage, {})
        done, total = entry.get("done", 0), entry.get("total", 0)
        if "finished_at" in entry:
            state = "done"
        elif index == current:
            waiting = "running" if run.status == Run.Status.RUNNING else "pending"
            state = {"failed": "failed", "cancelled": "cancelled"}.get(run.status, waiting)
        else:
            state = "pending"
        percent = 100 if state == "done" else int(100 * done / total) if total else 0
        rows.append(StageRow(
            name=stage, label=Run.Stage(stage).label, state=state, done=done, total=total, percent=percent,
            eta_seconds=_eta(entry, done, total) if state == "running" else None,
            extra={k: v for k, v in entry.items() if k not in {"done", "total", "started_at", "finished_at"}},
        ))
    return rows


def _eta(entry: dict, done: int, total: int) -> float | None:
    """Seconds left at the stage's average rate so far."""
    if not entry.get("started_at") or not done or done >= total:
        return None
    elapsed = (timezone.now() - datetime.fromisoformat(entry["started_at"])).total_seconds()
    return elapsed / done * (total - done)


def run_is_active(run: Run) -> bool:
    return run.status in ACTIVE


def run_rounds_rows(run: Run) -> list[dict]:
    """A next round's report, before and after review, as table rows (evaluate's "rounds")."""
    rounds = run.metrics.get("evaluate", {}).get("rounds") or {}
    return [
        {"pairs": label, "side": side, "report": rounds[scope][side]}
        for scope, label in (("all", "all judged"), ("undecided", "not decided by reviewers"))
        if rounds.get(scope)
        for side in ("before", "after")
    ]
