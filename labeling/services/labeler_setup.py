"""Making and changing a labeler, and testing that it grades (the browser's test button, the API's)."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ..importers.batches import valid_slug
from ..judge import JudgeFailed, JudgeUnavailable, pairs_judge
from ..labelers.base import PairInput
from ..models import Labeler

# Three pairs a working judge grades apart: an answer, a pair on the topic only, an unrelated one.
TEST_PAIRS = [
    PairInput(query="how long does a passport renewal take", title="Passport renewal",
              text="A passport renewal by mail usually takes six to eight weeks; expedited service takes two to "
                   "three weeks.", query_id="test", document_id="test"),
    PairInput(query="how long does a passport renewal take", title="Passport photos",
              text="Passport photos must be two by two inches, in colour, taken in the last six months, with a "
                   "plain white background.", query_id="test", document_id="test-2"),
    PairInput(query="how long does a passport renewal take", title="Sourdough starter",
              text="Feed the starter equal weights of flour and water every twelve hours until it doubles.",
              query_id="test", document_id="test-3"),
]
TEST_PAIR = TEST_PAIRS[0]
# A test sends its pairs one at a time, waits at most this long for each and never retries: an
# endpoint that is down says so at once, a stalled one within a minute, not after a job's backoff.
TEST_TIMEOUT_S = 60.0


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


def labeler_update(*, labeler: Labeler, role: str, model_ref: str = "", prompt_version: str = "",
                   params: dict | None = None) -> Labeler:
    """Change what a labeler is built from (its name and backend stay: labels carry them)."""
    if role not in Labeler.Role.values:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(Labeler.Role.values)})")
    labeler.role, labeler.model_ref, labeler.prompt_version = role, model_ref, prompt_version
    labeler.params = params or {}
    try:
        labeler.full_clean()
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise ValueError(f"{field}: {' '.join(messages)}") from None
    labeler.save(update_fields=["role", "model_ref", "prompt_version", "params"])
    return labeler


def _bounded(labeler: Labeler) -> Labeler:
    """An unsaved copy whose HTTP calls go one by one and give up after TEST_TIMEOUT_S, without retries."""
    if labeler.backend != Labeler.Backend.OPENAI:
        return labeler
    timeout = min(float(labeler.params.get("timeout_s") or TEST_TIMEOUT_S), TEST_TIMEOUT_S)
    return Labeler(id=labeler.id, name=labeler.name, role=labeler.role, backend=labeler.backend,
                   model_ref=labeler.model_ref, prompt_version=labeler.prompt_version,
                   params={**labeler.params, "timeout_s": timeout, "max_retries": 0, "max_concurrency": 1})


def labeler_test(*, labeler: Labeler, pairs: int = 1) -> dict:
    """Grade the first `pairs` of TEST_PAIRS: {"ok", "error", "seconds", "grade", "distribution",
    "pairs": [{"title", "grade", "distribution", "latency_ms", "tokens_in", "tokens_out"}]}
    (grade and distribution: the first pair's), or ok False and the error in words."""
    try:
        judged = pairs_judge(labeler=_bounded(labeler), pairs=TEST_PAIRS[:pairs])
    except (JudgeUnavailable, JudgeFailed) as exc:
        return {"ok": False, "error": str(exc), "seconds": None, "grade": None, "distribution": None, "pairs": []}
    rows = [{"title": pair.title, "grade": label.grade, "distribution": label.distribution,
             "latency_ms": label.latency_ms, "tokens_in": label.tokens_in, "tokens_out": label.tokens_out}
            for pair, label in zip(TEST_PAIRS, judged.labels, strict=False)]
    label = judged.labels[0]
    return {"ok": True, "error": "", "seconds": judged.seconds, "grade": label.grade,
            "distribution": label.distribution, "pairs": rows}
