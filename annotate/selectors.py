"""Reads for the human workflow."""

from collections.abc import Iterator
from itertools import groupby
from operator import itemgetter
from statistics import median_low

from labeling.exports import CHUNK_SIZE, ORDER, QrelRow
from labeling.models import Judgment

from .models import Benchmark


def benchmark_consensus_rows(*, benchmark: Benchmark, chunk_size: int = CHUNK_SIZE) -> Iterator[QrelRow]:
    """Each judged benchmark pair's consensus grade and its number of judgments, streamed.

    Consensus is the median, ties between the two middle grades going to the lower one
    (median_low): conservative, a pair counts as relevant only if half the judges say at
    least that much, and the result is always a grade someone actually gave.
    Pairs without judgments are skipped.
    TODO: an adjudicated grade (review queue) will take precedence over the median.
    """
    judgments = (
        Judgment.objects.filter(pair__benchmark_items__benchmark=benchmark)
        .order_by(*ORDER)
        .values_list("pair_id", "pair__query__external_id", "pair__document__external_id", "grade")
        .iterator(chunk_size=chunk_size)
    )
    for _, group in groupby(judgments, key=itemgetter(0)):
        rows = list(group)  # one pair's judgments: a handful
        grades = [grade for *_, grade in rows]
        yield {"qid": rows[0][1], "docid": rows[0][2], "grade": median_low(grades), "judgments": len(grades)}
