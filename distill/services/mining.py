"""Stage 2: BM25 hard negatives. Per query: the seed document is the positive, the top BM25
hits other than the seed are hard negatives, plus a few random negatives."""

import random
from collections.abc import Iterator

from django.conf import settings
from django.db import transaction

from labeling.models import Corpus, Document, Pair, Query

from ..bm25 import BM25Index, index_cached, texts_fingerprint
from ..config import run_batch
from ..models import Run
from .runs import run_cancelled_check, stage_progress

QUERY_BATCH = 256
# One: a second thread gained nothing in benchmarks/results/bm25_mining.md (numpy's scatter-add
# holds the GIL), and a batch of 10,000 queries over a million documents takes 20 s on one.
SEARCH_THREADS = 1


def corpus_index_get(*, corpus: Corpus) -> tuple[BM25Index, list[int]]:
    """The corpus's BM25 index, with the document id of each of its rows. Saved under
    ARTIFACT_DIR keyed by a digest of the documents' text, so the next run reuses it and an
    edited, added or removed document rebuilds it."""
    docs = Document.objects.filter(corpus=corpus).order_by("id").values_list("id", "title", "text")
    doc_ids: list[int] = []

    def texts(ids: list[int] | None = None) -> Iterator[str]:
        for doc_id, title, text in docs.iterator(chunk_size=2000):
            if ids is not None:
                ids.append(doc_id)
            yield f"{title}\n{text}"

    fingerprint = texts_fingerprint(texts(doc_ids))
    index, _ = index_cached(directory=settings.ARTIFACT_DIR / "bm25" / f"corpus-{corpus.id}",
                            fingerprint=fingerprint, texts=texts)
    if index.size != len(doc_ids):  # documents added between the two reads: the digest is stale
        raise RuntimeError(f"corpus {corpus.id} changed while it was indexed; mine again")
    return index, doc_ids


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
    index, doc_ids = corpus_index_get(corpus=run.corpus)
    done = total - len(todo)
    for start in range(0, len(todo), QUERY_BATCH):
        chunk = todo[start : start + QUERY_BATCH]
        hits, scores = index.search([text for _, text, _ in chunk], k=n_bm25 + 1, threads=SEARCH_THREADS)
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
