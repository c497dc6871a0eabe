"""The promotion gate's verdict on a student: whether it may label at scale.

A student (a distilled cross-encoder, or an anchored labeler) is promoted when an evaluation
against the people found it not worse than its teacher by more than a set margin (distill.frontier
decides; this module keeps and reads the verdict). Labeling jobs refuse an unpromoted student
unless forced; evaluations, which decide the gate, are not gated.
"""

from django.utils import timezone

from ..models import Labeler


class NotPromoted(ValueError):
    """A student that has not passed its promotion gate was asked to label."""


def promotion_record(*, labeler: Labeler, passed: bool, reason: str, by: str, evidence: dict | None = None) -> None:
    Labeler.objects.filter(id=labeler.id).update(promotion={
        "passed": passed, "reason": reason, "by": by, "decided_at": timezone.now().isoformat(),
        **({"evidence": evidence} if evidence else {}),
    })
    labeler.refresh_from_db(fields=["promotion"])


def promotion_refusal(labeler: Labeler) -> str | None:
    """Why this labeler may not label at scale, or None if it may (only students are gated)."""
    if labeler.role != Labeler.Role.STUDENT:
        return None
    verdict = labeler.promotion or {}
    if verdict.get("passed"):
        return None
    if not verdict:
        return (f"{labeler.name} is a student that no evaluation has promoted yet: run the evaluation "
                f"(a run's evaluate stage or dl19_distill) or label anyway with --force")
    return (f"{labeler.name} did not pass its promotion gate ({verdict['by']}): {verdict['reason']}; "
            f"--force labels anyway")
