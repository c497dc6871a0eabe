"""Reads for the run pages."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count
from django.utils import timezone

from labeling.models import SetAsidePair
from labeling.selectors import set_aside_rows

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
    # The pairs its labeling jobs set aside: how many by reason, and the first of them.
    set_aside: dict[str, int] = field(default_factory=dict)
    set_aside_rows: list[SetAsidePair] = field(default_factory=list)

    @property
    def set_aside_total(self) -> int:
        return sum(self.set_aside.values())


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
        job_ids = [v for k, v in entry.items() if (k == "job" or k.endswith("_job")) and isinstance(v, int)]
        _set_aside_add(rows[-1], job_ids)
    return rows


def _set_aside_add(row: StageRow, job_ids: list[int]) -> None:
    """A labeling stage's set-aside pairs (teach and evaluate keep their jobs' ids)."""
    if not job_ids:
        return
    counts = (SetAsidePair.objects.filter(job_id__in=job_ids).values_list("reason").annotate(n=Count("id"))
              .order_by("-n", "reason"))
    row.set_aside = dict(counts)
    if row.set_aside:
        row.set_aside_rows = set_aside_rows(job_ids=job_ids, limit=20)


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
