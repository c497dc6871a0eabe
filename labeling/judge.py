"""Grading a small batch of pairs synchronously (the API's /judge, a labeler's test): the
labeler's backend on text given in the request, nothing written.

Loading a model takes seconds, so this process keeps the last few backends it loaded, keyed by
everything the backend is built from (a changed labeler gets a fresh one). A recorded run is
read fresh each time: its grades change as runs are imported.
"""

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from .labelers import BACKENDS, backend_for
from .labelers.base import Label, LabelerBackend, PairInput
from .models import Labeler

MAX_JUDGE_PAIRS = 32
KEPT_BACKENDS = 2
_backends: OrderedDict[tuple, LabelerBackend] = OrderedDict()
_lock = threading.Lock()


class JudgeUnavailable(ValueError):
    """The labeler cannot judge here: its backend is not one that grades a batch on its own."""


class JudgeFailed(RuntimeError):
    """The labeler's backend failed to load or to grade (a missing model, an endpoint down, a
    recorded run without the pair); the message says why."""


@dataclass(frozen=True)
class Judged:
    labels: list[Label]
    seconds: float


def _backend(labeler: Labeler) -> LabelerBackend:
    if labeler.backend not in BACKENDS:
        raise JudgeUnavailable(f"a {labeler.backend} labeler labels through jobs only (it works query by query)")
    if labeler.backend == Labeler.Backend.RECORDED:
        return backend_for(labeler)
    key = (labeler.id, labeler.backend, labeler.model_ref, labeler.prompt_version,
           json.dumps(labeler.params, sort_keys=True, default=str))
    with _lock:
        if key in _backends:
            _backends.move_to_end(key)
            return _backends[key]
        backend = backend_for(labeler)
        _backends[key] = backend
        while len(_backends) > KEPT_BACKENDS:
            _backends.popitem(last=False)
        return backend


def pairs_judge(*, labeler: Labeler, pairs: Sequence[PairInput]) -> Judged:
    if not 1 <= len(pairs) <= MAX_JUDGE_PAIRS:
        raise ValueError(f"judge 1 to {MAX_JUDGE_PAIRS} pairs at a time")
    started = time.perf_counter()
    try:
        labels = _backend(labeler).label(list(pairs))
    except JudgeUnavailable:
        raise
    except Exception as exc:  # a model that does not load, an endpoint that is down, a run without the pair
        raise JudgeFailed(f"{labeler.name} could not grade: {type(exc).__name__}: {exc}") from exc
    return Judged(labels=labels, seconds=time.perf_counter() - started)
