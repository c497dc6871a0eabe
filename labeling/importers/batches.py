"""Batched, idempotent writes shared by the importers, and the summary they return."""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import models

from labeling.models import Corpus

T = TypeVar("T")
M = TypeVar("M", bound=models.Model)

BATCH_SIZE = 1000


@dataclass
class ImportSummary:
    what: str  # "documents", "queries", "judgments by nist", ...
    corpus: str
    read: int = 0  # records read from the file, duplicates included
    new: int = 0  # rows created (the rest were updated in place or unchanged)
    new_pairs: int | None = None  # qrels only
    grades: list[tuple[int, int]] | None = field(default=None, repr=False)  # (pair_id, grade) when asked

    def __str__(self) -> str:
        pairs = f", {self.new_pairs} new pairs" if self.new_pairs is not None else ""
        return f"{self.read} {self.what} read, {self.new} new{pairs} (corpus {self.corpus})"


def batched(items: Iterable[T], size: int = BATCH_SIZE) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def valid_slug(kind: str, name: str) -> str:
    try:
        validate_slug(name)
    except ValidationError:
        raise ValueError(f"{kind} name {name!r} must be a slug (letters, digits, '-' and '_')") from None
    return name


def corpus_get_or_create(*, name: str) -> Corpus:
    return Corpus.objects.get_or_create(name=valid_slug("corpus", name))[0]


def corpus_get(*, name: str) -> Corpus:
    try:
        return Corpus.objects.get(name=name)
    except Corpus.DoesNotExist:
        raise ValueError(f"no corpus named {name!r}; import its documents and queries first") from None


def upsert_by_external_id(model: type[M], *, corpus: Corpus, rows: Mapping[str, M], update_fields: list[str]) -> int:
    """Insert or update one batch keyed by external id; returns how many were new.

    `rows` is keyed by external id, so a batch never touches a row twice (PostgreSQL
    refuses ON CONFLICT DO UPDATE affecting one row twice in a statement).
    """
    existing = set(
        model._default_manager.filter(corpus=corpus, external_id__in=list(rows)).values_list("external_id", flat=True)
    )
    model._default_manager.bulk_create(
        list(rows.values()),
        update_conflicts=True,
        unique_fields=["corpus", "external_id"],
        update_fields=update_fields,
    )
    return len(rows) - len(existing)
