"""Reads of the labeling core."""

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from .labelers.base import PairInput
from .labelers.prompting import GRADE_PROMPT
from .models import Corpus, Document, ImportJob, Judgment, Labeler, LabelingJob, ModelLabel, Pair, Query, SetAsidePair
from .prompts import Prompt, prompt_load


def pairs_in_scope(*, scope: dict) -> QuerySet[Pair]:
    return Pair.objects.filter(**scope)


def pairs_unlabeled(*, scope: dict, labeler: Labeler) -> QuerySet[Pair]:
    return pairs_in_scope(scope=scope).exclude(model_labels__labeler=labeler)


def pair_ids_in_scope(*, scope: dict) -> array:
    """Every pair id of the scope in id order, 8 bytes each (8 MB a million): a job reads them
    once, where a query per batch for "the next unlabeled pairs" passes over all the labeled ones
    (an anti-join, or on SQLite a sort of the whole scope), quadratic over a million pairs."""
    ids = pairs_in_scope(scope=scope).order_by("id").values_list("id", flat=True).iterator(chunk_size=20_000)
    return array("q", ids)


def pair_ids_unlabeled(*, job: LabelingJob, pair_ids: Sequence[int]) -> list[int]:
    """Those of `pair_ids` that the job's labeler has not labeled and the job has not set aside."""
    labeled = ModelLabel.objects.filter(labeler_id=job.labeler_id, pair_id__in=pair_ids)
    done = {*labeled.values_list("pair_id", flat=True),
            *SetAsidePair.objects.filter(job=job, pair_id__in=pair_ids).values_list("pair_id", flat=True)}
    return [i for i in pair_ids if i not in done]


def pair_inputs(*, pair_ids: Sequence[int]) -> list[PairInput]:
    """What a labeler sees of these pairs, in the order of `pair_ids`. Read as plain values: three
    model instances a pair were a third of a student job's own time (benchmarks/labeling_scale.py)."""
    rows = Pair.objects.filter(id__in=pair_ids).values_list(
        "id", "query__text", "document__text", "document__title", "document__path", "document__author",
        "document__modified_at", "document__url", "document__source", "document__external_id", "query__external_id")
    by_id = {row[0]: row for row in rows}
    inputs = []
    for pair_id in pair_ids:
        _, query, text, title, path, author, modified, url, source, doc_id, query_id = by_id[pair_id]
        inputs.append(
            PairInput(
                query=query, text=text, title=title, path=path, author=author,
                modified=modified.date().isoformat() if modified else "",
                url=url, source=source, pair_id=pair_id, document_id=doc_id, query_id=query_id,
            )
        )
    return inputs


def grades_by_pair(*, annotator=None, labeler: Labeler | None = None, scope: dict | None = None,
                   prompt_version: str | None = None) -> dict[int, tuple]:
    """pair id -> (query external id, grade, expected grade) for one annotator or one labeler
    (only its labels made with `prompt_version`, when given)."""
    rows: QuerySet[Any, tuple[int, str, int, float]]
    if annotator is not None:
        rows = Judgment.objects.filter(annotator=annotator).values_list(
            "pair_id", "pair__query__external_id", "grade", "grade"
        )
    else:
        labels = ModelLabel.objects.filter(labeler=labeler)
        if prompt_version is not None:
            labels = labels.filter(prompt_version=prompt_version)
        rows = labels.values_list("pair_id", "pair__query__external_id", "grade", "expected_grade")
    if scope:
        rows = rows.filter(**{f"pair__{key}": value for key, value in scope.items()})
    return {pair_id: (qid, grade, float(expected)) for pair_id, qid, grade, expected in rows.iterator(chunk_size=5000)}


def set_aside_reasons(*, job: LabelingJob) -> dict[str, int]:
    """How many pairs the job set aside, by reason, the most common first."""
    rows = SetAsidePair.objects.filter(job=job).values_list("reason").annotate(n=Count("id")).order_by("-n", "reason")
    return dict(rows)


def set_aside_rows(*, job_ids: Sequence[int], limit: int = 50) -> list[SetAsidePair]:
    """The first pairs these jobs set aside, with their query and document, for a page."""
    return list(SetAsidePair.objects.filter(job_id__in=job_ids).select_related("pair__query", "pair__document")
                .order_by("id")[:limit])


def labeler_prompt_versions(*, labeler: Labeler) -> dict[str, int]:
    """The prompt versions the labeler's labels were made with, and how many labels each."""
    rows = ModelLabel.objects.filter(labeler=labeler).values_list("prompt_version").annotate(n=Count("id"))
    return dict(rows.order_by("prompt_version"))


def labeler_prompt(*, labeler: Labeler) -> Prompt | None:
    """The prompt a generative labeler grades with now (its params' "prompt", else the default);
    None for labelers without one (a cross-encoder, a recorded run, an ensemble)."""
    if labeler.backend not in (Labeler.Backend.LOCAL_LM, Labeler.Backend.OPENAI, Labeler.Backend.VLLM):
        return None
    return prompt_load(labeler.params.get("prompt", GRADE_PROMPT))


@dataclass(frozen=True)
class Throughput:
    """What some labeling jobs did: pairs graded, time spent labeling, their cost at the labelers'
    prices (LabelingJob.cost); the rates from those, None before any time was spent."""

    pairs: int
    seconds: float
    cost: float

    @property
    def pairs_per_second(self) -> float | None:
        return self.pairs / self.seconds if self.seconds else None

    @property
    def cost_per_1000(self) -> float | None:
        return 1000 * self.cost / self.pairs if self.pairs else None


def jobs_throughput(*, jobs: Iterable[LabelingJob]) -> Throughput:
    jobs = list(jobs)
    return Throughput(pairs=sum(j.done for j in jobs), seconds=sum(j.seconds for j in jobs),
                      cost=sum(j.cost for j in jobs))


MAX_SEARCH_CHARS = 200  # a document search's text: a few words, never a document


def corpus_counts(*, corpus: Corpus) -> dict[str, int]:
    """What a corpus holds: documents, queries, pairs, people's judgments, models' labels."""
    return {
        "documents": Document.objects.filter(corpus=corpus).count(),
        "queries": corpus.queries.count(),
        "pairs": Pair.objects.filter(query__corpus=corpus).count(),
        "judgments": Judgment.objects.filter(pair__query__corpus=corpus).count(),
        "labels": ModelLabel.objects.filter(pair__query__corpus=corpus).count(),
    }


def corpora_with_counts() -> QuerySet[Corpus]:
    """Every corpus with its numbers of documents and queries (two subqueries, not a join of both)."""
    def count(model: Any) -> Coalesce:
        rows = model.objects.filter(corpus=OuterRef("pk")).order_by().values("corpus").annotate(n=Count("pk"))
        return Coalesce(Subquery(rows.values("n")), 0)

    return Corpus.objects.annotate(document_count=count(Document), query_count=count(Query)).order_by("name")


def documents_search(*, corpus: Corpus, text: str = "") -> QuerySet[Document]:
    """The corpus's documents whose id or title holds `text` (or whose text does), by id;
    `text` is cut to MAX_SEARCH_CHARS. Deferred text: a page of results reads no bodies."""
    documents = Document.objects.filter(corpus=corpus).defer("text", "extra").order_by("external_id")
    text = text.strip()[:MAX_SEARCH_CHARS]
    if text:
        documents = documents.filter(Q(external_id__icontains=text) | Q(title__icontains=text)
                                     | Q(text__icontains=text))
    return documents


def graders_of_corpus(*, corpus: Corpus, limit: int = 100) -> tuple[list[str], list[str]]:
    """(usernames of the people, names of the labelers) who graded pairs of the corpus: its
    downloads. One probe per user or labeler (tens), not a scan of the grades."""
    people = (get_user_model().objects.filter(Exists(Judgment.objects.filter(annotator=OuterRef("pk"),
                                                                             pair__query__corpus=corpus)))
              .order_by("username").values_list("username", flat=True)[:limit])
    labelers = (Labeler.objects.filter(Exists(ModelLabel.objects.filter(labeler=OuterRef("pk"),
                                                                        pair__query__corpus=corpus)))
                .order_by("name").values_list("name", flat=True)[:limit])
    return list(people), list(labelers)


def import_jobs_of_corpus(*, corpus_name: str, limit: int = 20) -> list[ImportJob]:
    return list(ImportJob.objects.filter(corpus_name=corpus_name).order_by("-created_at")[:limit])
