"""Batched, idempotent writes shared by the importers, and the summary they return."""

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import models

from labeling.models import Corpus

from .errors import printable

T = TypeVar("T")
M = TypeVar("M", bound=models.Model)

BATCH_SIZE = 1000
EXAMPLES = 5  # a warning names this many of the records it counts


@dataclass
class WarningCount:
    """Something an import let pass but a person should know: counted, with the first examples."""

    count: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class ImportSummary:
    what: str  # "documents", "queries", "judgments by nist", ...
    corpus: str
    read: int = 0  # records read from the file, duplicates included
    new: int = 0  # rows created (the rest were updated in place or unchanged)
    new_pairs: int | None = None  # qrels only
    grades: list[tuple[int, int]] | None = field(default=None, repr=False)  # (pair_id, grade) when asked
    warnings: dict[str, WarningCount] = field(default_factory=dict)  # what happened -> how often, examples

    def __str__(self) -> str:
        pairs = f", {self.new_pairs} new pairs" if self.new_pairs is not None else ""
        return f"{self.read} {self.what} read, {self.new} new{pairs} (corpus {self.corpus})"

    def warn(self, what: str, example: str) -> None:
        warning = self.warnings.setdefault(what, WarningCount())
        warning.count += 1
        if len(warning.examples) < EXAMPLES:
            warning.examples.append(printable(example))

    def warning_lines(self) -> list[str]:
        """One line per kind of warning, as the commands print them: 'warning: 2 duplicate ids ...: a, b'."""
        return [
            f"warning: {w.count} {what}: {', '.join(w.examples)}{', ...' if w.count > len(w.examples) else ''}"
            for what, w in self.warnings.items()
        ]


def batched(
    items: Iterable[T], size: int = BATCH_SIZE, *, weight: Callable[[T], int] | None = None, max_weight: int = 0
) -> Iterator[list[T]]:
    """Lists of at most `size` items, and (with `weight`) of at most `max_weight` in all, so a
    batch of large documents is never held in memory at once (a single heavier item goes alone)."""
    batch: list[T] = []
    total = 0
    for item in items:
        w = weight(item) if weight else 0
        if batch and (len(batch) >= size or (weight and total + w > max_weight)):
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += w
    if batch:
        yield batch


def valid_slug(kind: str, name: str, *, max_length: int = 100) -> str:
    """A corpus or labeler name: a slug that fits its column (PostgreSQL refuses a longer one)."""
    try:
        validate_slug(name)
    except ValidationError:
        raise ValueError(printable(f"{kind} name {name!r} must be a slug (letters, digits, '-' and '_')")) from None
    if len(name) > max_length:
        raise ValueError(f"{kind} name is {len(name)} characters long, at most {max_length} allowed")
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
