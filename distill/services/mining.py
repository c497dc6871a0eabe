"""Stage 2: BM25 hard negatives. Per query: the seed document is the positive, the top BM25
hits other than the seed are hard negatives, plus a few random negatives."""

import random

from django.db import transaction

from labeling.models import Document, Pair, Query

from ..bm25 import BM25Index
from ..config import run_batch
from ..models import Run
from .runs import run_cancelled_check, stage_progress

QUERY_BATCH = 256


def pairs_mine(run: Run) -> None:
    cfg = run.config["mine"]
    n_bm25, n_random = cfg["bm25_negatives"], cfg["random_negatives"]
    queries = Query.objects.filter(batch=run_batch(run)).exclude(seed_document=None).order_by("id")
    total = queries.count()
    # A query's pairs are written in one transaction, so a query with a positive pair is done.
    todo = list(queries.exclude(pairs__origin=Pair.Origin.POSITIVE).values_list("id", "text", "seed_document_id"))
    run_cancelled_check(run_id=run.id)
    stage_progress(run_id=run.id, stage=Run.Stage.MINE, done=total - len(todo), total=total)
    if not todo:
        return
    docs = Document.objects.filter(corpus=run.corpus).order_by("id")
    doc_ids = list(docs.values_list("id", flat=True))
    index = BM25Index([f"{title}\n{text}"
                       for title, text in docs.values_list("title", "text").iterator(chunk_size=2000)])
    done = total - len(todo)
    for start in range(0, len(todo), QUERY_BATCH):
        chunk = todo[start : start + QUERY_BATCH]
        hits, scores = index.search([text for _, text, _ in chunk], k=n_bm25 + 1)
        pairs = []
        for (query_id, _, seed_id), row, row_scores in zip(chunk, hits, scores, strict=True):
            pairs.append(Pair(query_id=query_id, document_id=seed_id, origin=Pair.Origin.POSITIVE))
            negatives = [(doc_ids[i], rank, s) for rank, (i, s) in enumerate(zip(row, row_scores, strict=True), 1)
                         if doc_ids[i] != seed_id and s > 0][:n_bm25]
            pairs += [Pair(query_id=query_id, document_id=d, origin=Pair.Origin.BM25_NEGATIVE, bm25_rank=rank,
                           bm25_score=float(s)) for d, rank, s in negatives]
            # Seeded by the query, so a resumed stage draws the same random negatives.
            taken = {seed_id, *(d for d, _, _ in negatives)}
            pool = random.Random(run.config["seed"] * 1_000_003 + query_id)
            randoms = [d for d in pool.sample(doc_ids, min(len(doc_ids), n_random + len(taken))) if d not in taken]
            pairs += [Pair(query_id=query_id, document_id=d, origin=Pair.Origin.RANDOM_NEGATIVE)
                      for d in randoms[:n_random]]
        with transaction.atomic():
            Pair.objects.bulk_create(pairs, ignore_conflicts=True)
            done += len(chunk)
            run_cancelled_check(run_id=run.id)
            stage_progress(run_id=run.id, stage=Run.Stage.MINE, done=done, total=total)
