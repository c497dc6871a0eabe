"""Making a labeler and testing that it grades (the browser's test button, the API's)."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ..importers.batches import valid_slug
from ..judge import JudgeFailed, JudgeUnavailable, pairs_judge
from ..labelers.base import PairInput
from ..models import Labeler

TEST_PAIR = PairInput(
    query="how long does a passport renewal take",
    title="Passport renewal",
    text="A passport renewal by mail usually takes six to eight weeks; expedited service takes two to three weeks.",
    query_id="test", document_id="test",
)


def labeler_create(*, name: str, role: str, backend: str, model_ref: str = "", prompt_version: str = "",
                   params: dict | None = None) -> Labeler:
    valid_slug("labeler", name)
    if role not in Labeler.Role.values:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(Labeler.Role.values)})")
    if backend not in Labeler.Backend.values:
        raise ValueError(f"unknown backend {backend!r} (one of {', '.join(Labeler.Backend.values)})")
    labeler = Labeler(name=name, role=role, backend=backend, model_ref=model_ref, prompt_version=prompt_version,
                      params=params or {})
    try:
        labeler.full_clean()
        with transaction.atomic():
            labeler.save()
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise ValueError(f"{field}: {' '.join(messages)}") from None
    except IntegrityError:
        raise ValueError(f"a labeler named {name!r} exists already") from None
    return labeler


def labeler_test(*, labeler: Labeler) -> dict:
    """Grade one fixed pair: {"ok", "seconds", "grade", "distribution"} or {"ok": False, "error"}."""
    try:
        judged = pairs_judge(labeler=labeler, pairs=[TEST_PAIR])
    except (JudgeUnavailable, JudgeFailed) as exc:
        return {"ok": False, "error": str(exc), "seconds": None, "grade": None, "distribution": None}
    label = judged.labels[0]
    return {"ok": True, "error": "", "seconds": judged.seconds, "grade": label.grade,
            "distribution": label.distribution}
