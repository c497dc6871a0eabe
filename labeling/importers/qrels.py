"""Import TREC qrels (`qid Q0 docid grade`) as pairs, and as a person's judgments or a
recorded run's labels."""

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models, transaction

from labeling.grades import GRADES, MAX_GRADE, MIN_GRADE
from labeling.models import Corpus, Document, Judgment, Labeler, ModelLabel, Pair, Query

from .batches import ImportSummary, batched, corpus_get, valid_slug
from .errors import ImportFileError, printable
from .fields import Located, grade_value, identifier
from .readers import lines

if TYPE_CHECKING:
    from django.contrib.auth.models import User  # settings.AUTH_USER_MODEL

BATCH_SIZE = 2000  # qrels rows are small
COLUMNS = ("qid", "iteration", "docid", "grade")

Row = tuple[int, str, str, int]  # (line, qid, docid, grade)
PairKey = tuple[int, int]  # (query id, document id)


def qrels_import(
    *,
    path: Path | str,
    corpus_name: str,
    annotator: str | None = None,
    labeler: str | None = None,
    return_grades: bool = False,
    batch_size: int = BATCH_SIZE,
) -> ImportSummary:
    """Create the file's pairs (origin imported) where missing, in one transaction.

    With `annotator`, the grades become that person's judgments; with `labeler`, a recorded
    run's labels (one-hot distribution). With neither, only pairs are made; `return_grades`
    then hands back (pair_id, grade) so a caller (the demo loader) can use them as gold grades.
    Queries and documents must already be in the corpus.
    """
    if annotator and labeler:
        raise ValueError("give an annotator or a labeler, not both")
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    summary = ImportSummary(what="pairs", corpus=corpus_name, grades=[] if return_grades else None)
    seen: set[PairKey] = set()  # the (query, document) pairs read so far, to count duplicates
    with transaction.atomic():
        corpus = corpus_get(name=corpus_name)
        user = _annotator(annotator) if annotator else None
        run = _recorded_labeler(labeler) if labeler else None
        if user or run:
            summary.what = f"judgments by {annotator}" if user else f"labels by {labeler}"
            summary.new_pairs = 0
        for batch in batched(_rows(path), batch_size):
            summary.read += len(batch)
            grades = _resolve(path, corpus, batch, seen, summary)  # {(query id, document id): grade}, last wins
            pair_ids, new_pairs = _pairs_get_or_create(set(grades))
            by_pair = {pair_ids[key]: grade for key, grade in grades.items()}
            if user:
                summary.new += _judgments_upsert(user, by_pair)
            elif run:
                summary.new += _labels_upsert(run, by_pair)
            if summary.new_pairs is None:
                summary.new += new_pairs
            else:
                summary.new_pairs += new_pairs
            if summary.grades is not None:
                summary.grades.extend(by_pair.items())
        if not summary.read:  # inside the transaction: the annotator or labeler it made goes too
            raise ImportFileError(path, None, None, "no qrels lines in the file")
    return summary


def _rows(path: Path) -> Iterator[Row]:
    for line, text in lines(path):
        at = Located(path, line)
        columns = text.split()
        if len(columns) != len(COLUMNS):
            missing = COLUMNS[len(columns)] if len(columns) < len(COLUMNS) else None
            found = len(columns)
            raise at.error(missing, f"expected 4 whitespace-separated columns (qid Q0 docid grade), found {found}")
        qid, _, docid, grade = columns
        yield line, identifier(at, "qid", qid), identifier(at, "docid", docid), grade_value(
            at, "grade", grade, low=MIN_GRADE, high=MAX_GRADE
        )


def _resolve(
    path: Path, corpus: Corpus, batch: list[Row], seen: set[PairKey], summary: ImportSummary
) -> dict[PairKey, int]:
    """External ids to database ids, two queries per batch; an unknown id is an error, and a
    pair graded twice in the file (across batches too) is counted as a warning."""
    queries = dict(
        Query.objects.filter(corpus=corpus, external_id__in={r[1] for r in batch}).values_list("external_id", "id")
    )
    documents = dict(
        Document.objects.filter(corpus=corpus, external_id__in={r[2] for r in batch}).values_list("external_id", "id")
    )
    grades: dict[PairKey, int] = {}
    for line, qid, docid, grade in batch:
        if qid not in queries:
            raise Located(path, line).error("qid", f"unknown query id {qid!r} in corpus {corpus.name}")
        if docid not in documents:
            raise Located(path, line).error("docid", f"unknown document id {docid!r} in corpus {corpus.name}")
        key = queries[qid], documents[docid]
        if key in seen:
            summary.warn("duplicate pairs (the last grade of each kept)", f"{qid} {docid} (line {line})")
        seen.add(key)
        grades[key] = grade
    return grades


def _pairs_get_or_create(keys: set[PairKey]) -> tuple[dict[PairKey, int], int]:
    """Pair ids for (query, document) keys, creating the missing ones; (ids, how many new).

    Existing pairs keep their origin: a mined BM25 negative that a qrels file also grades
    stays a BM25 negative.
    """
    found = _pair_ids(keys)
    missing = keys - found.keys()
    if missing:
        Pair.objects.bulk_create(
            [Pair(query_id=q, document_id=d, origin=Pair.Origin.IMPORTED) for q, d in missing], ignore_conflicts=True
        )
        found |= _pair_ids(missing)
    return found, len(missing)


def _pair_ids(keys: set[PairKey]) -> dict[PairKey, int]:
    # Both id lists bound the rows fetched; filter the (rare) extra combinations here.
    rows = Pair.objects.filter(
        query_id__in={q for q, _ in keys}, document_id__in={d for _, d in keys}
    ).values_list("query_id", "document_id", "id")
    return {(q, d): pk for q, d, pk in rows if (q, d) in keys}


def _annotator(username: str) -> "User":
    model = get_user_model()
    field = model._meta.get_field(model.USERNAME_FIELD)
    assert isinstance(field, models.Field)
    try:  # the username column's own checks: its length (PostgreSQL refuses a longer one) and characters
        field.clean(username, None)
    except ValidationError as exc:
        raise ValueError(printable(f"annotator name {username[:40]!r}: {' '.join(exc.messages)}")) from None
    user, created = model.objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()  # an imported assessor signs in only once given a password
        user.save(update_fields=["password"])
    return user


def _recorded_labeler(name: str) -> Labeler:
    labeler, _ = Labeler.objects.get_or_create(
        name=valid_slug("labeler", name), defaults={"role": Labeler.Role.RECORDED, "backend": Labeler.Backend.RECORDED}
    )
    if labeler.role != Labeler.Role.RECORDED:
        raise ValueError(
            f"labeler {name!r} exists with role {labeler.role!r}; a recorded run needs a labeler of its own "
            "(role 'recorded'): choose another name"
        )
    return labeler


def _judgments_upsert(user: "User", grades: dict[int, int]) -> int:
    """Write changed grades only (a re-import leaves rows and updated_at alone); returns how many new."""
    judgments = Judgment.objects.filter(annotator=user, pair_id__in=list(grades))
    existing = dict(judgments.values_list("pair_id", "grade"))
    Judgment.objects.bulk_create(
        [
            Judgment(pair_id=pair_id, annotator=user, grade=grade, input_method=Judgment.InputMethod.IMPORT)
            for pair_id, grade in grades.items()
            if existing.get(pair_id) != grade
        ],
        update_conflicts=True,
        unique_fields=["pair", "annotator"],
        update_fields=["grade", "input_method", "updated_at"],
    )
    return len(grades.keys() - existing.keys())


def _labels_upsert(labeler: Labeler, grades: dict[int, int]) -> int:
    labels = ModelLabel.objects.filter(labeler=labeler, pair_id__in=list(grades))
    existing = dict(labels.values_list("pair_id", "grade"))
    ModelLabel.objects.bulk_create(
        [
            ModelLabel(
                pair_id=pair_id,
                labeler=labeler,
                grade=grade,
                distribution=[float(g == grade) for g in GRADES],  # a recorded run gives one grade: one-hot
                expected_grade=float(grade),
            )
            for pair_id, grade in grades.items()
            if existing.get(pair_id) != grade
        ],
        update_conflicts=True,
        unique_fields=["labeler", "pair"],
        update_fields=["grade", "distribution", "expected_grade"],
    )
    return len(grades.keys() - existing.keys())
