"""Read a TREC run file (`qid Q0 docid rank score tag`): each query's top k documents by
score (rank breaks ties), as a benchmark's pool takes them; bad lines are located errors."""

import heapq
import math
from collections.abc import Iterator
from pathlib import Path

from .errors import ImportFileError
from .fields import Located, identifier
from .limits import MAX_RUN_DEPTH
from .readers import lines

COLUMNS = ("qid", "iteration", "docid", "rank", "score", "tag")


def _rows(path: Path) -> Iterator[tuple[str, str, int, float]]:
    for line, text in lines(path):
        at = Located(path, line)
        columns = text.split()
        if len(columns) != len(COLUMNS):
            missing = COLUMNS[len(columns)] if len(columns) < len(COLUMNS) else None
            raise at.error(missing, f"expected 6 whitespace-separated columns (qid Q0 docid rank score tag), "
                                    f"found {len(columns)}")
        qid, _, docid, rank, score, _ = columns
        try:
            rank_value = int(rank)
        except ValueError:
            raise at.error("rank", f"not a whole number: {rank[:50]!r}") from None
        try:
            score_value = float(score)
        except ValueError:
            raise at.error("score", f"not a number: {score[:50]!r}") from None
        if not math.isfinite(score_value):
            raise at.error("score", "not a finite number")
        yield identifier(at, "qid", qid), identifier(at, "docid", docid), rank_value, score_value


def run_top_k(*, path: Path | str, k: int) -> dict[str, list[str]]:
    """qid -> its top k docids, best first (a document listed twice for a query counts once,
    at its best place). Memory holds k entries per query, whatever the file's depth."""
    if not 1 <= k <= MAX_RUN_DEPTH:
        raise ValueError(f"k must be between 1 and {MAX_RUN_DEPTH}")
    path = Path(path)
    best: dict[str, list[tuple[float, int, str]]] = {}  # a min-heap of (score, -rank, docid) per query
    for qid, docid, rank, score in _rows(path):
        heap = best.setdefault(qid, [])
        entry = (score, -rank, docid)
        if len(heap) < 2 * k:  # room for duplicates of a docid before they are folded
            heapq.heappush(heap, entry)
        elif entry > heap[0]:
            heapq.heapreplace(heap, entry)
    if not best:
        raise ImportFileError(path, None, None, "no run lines in the file")
    top: dict[str, list[str]] = {}
    for qid, heap in best.items():
        seen: dict[str, None] = {}
        for _, _, docid in sorted(heap, reverse=True):
            seen.setdefault(docid)
            if len(seen) == k:
                break
        top[qid] = list(seen)
    return top
