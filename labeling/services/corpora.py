"""Creating corpora and adding pairs to them by external ids (a ranker's top-k)."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from ..importers.batches import valid_slug
from ..models import Corpus, Document, Pair, Query

MAX_PAIRS_PER_CALL = 10_000


class UnknownId(ValueError):
    """A (qid, docid) names a query or document the corpus does not have; `index` is its place."""

    def __init__(self, index: int, field: str, value: str):
        self.index, self.field = index, field
        super().__init__(f"no {'query' if field == 'qid' else 'document'} {value!r} in the corpus")


@dataclass(frozen=True)
class PairsAdded:
    pair_ids: list[int]  # in the order given (a pair given twice, once)
    new: int


def corpus_create(*, name: str, description: str = "") -> tuple[Corpus, bool]:
    """The corpus of this name (its description updated), and whether it is new."""
    corpus, created = Corpus.objects.get_or_create(name=valid_slug("corpus", name),
                                                   defaults={"description": description})
    if not created and description and corpus.description != description:
        Corpus.objects.filter(id=corpus.id).update(description=description)
        corpus.description = description
    return corpus, created


@transaction.atomic
def pairs_add(*, corpus: Corpus, keys: Sequence[tuple[str, str]]) -> PairsAdded:
    """Pairs (query external id, document external id) of the corpus, created where missing
    (origin imported); all or nothing: an unknown id raises UnknownId and nothing is written."""
    if len(keys) > MAX_PAIRS_PER_CALL:
        raise ValueError(f"at most {MAX_PAIRS_PER_CALL} pairs at a time")
    qids = dict(Query.objects.filter(corpus=corpus, external_id__in={q for q, _ in keys})
                .values_list("external_id", "id"))
    docids = dict(Document.objects.filter(corpus=corpus, external_id__in={d for _, d in keys})
                  .values_list("external_id", "id"))
    wanted: dict[tuple[int, int], None] = {}
    for index, (qid, docid) in enumerate(keys):
        if qid not in qids:
            raise UnknownId(index, "qid", qid)
        if docid not in docids:
            raise UnknownId(index, "docid", docid)
        wanted[qids[qid], docids[docid]] = None
    query_ids = {q for q, _ in wanted}
    existing = {(q, d): pid for pid, q, d in Pair.objects.filter(query_id__in=query_ids)
                .values_list("id", "query_id", "document_id") if (q, d) in wanted}
    missing = [key for key in wanted if key not in existing]
    Pair.objects.bulk_create([Pair(query_id=q, document_id=d) for q, d in missing], ignore_conflicts=True,
                             batch_size=1000)
    if missing:
        existing = {(q, d): pid for pid, q, d in Pair.objects.filter(query_id__in=query_ids)
                    .values_list("id", "query_id", "document_id") if (q, d) in wanted}
    return PairsAdded(pair_ids=[existing[key] for key in wanted], new=len(missing))
