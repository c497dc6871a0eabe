"""Imports as jobs on a worker: a file uploaded (kept under the upload folder until imported) or
a server path inside the import root, imported by the same importers as the commands.

An import is one transaction and idempotent, so a redelivered or resumed job simply imports
again; the job row records the summary, or the located error of a refused file.
"""

import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from ..enqueue import job_enqueue, job_requeue
from ..importers import ImportFileError, documents_import, qrels_import, queries_import
from ..importers.archives import zip_unpack
from ..importers.batches import valid_slug
from ..models import ImportJob
from ..workers import job_claim, jobs_stranded, resumer

IMPORT_JOB_TASK = "labeling.import_job"
# The permissions an import of each kind needs (the admin role has them all); qrels also need
# add_judgment (as a person's) or add_modellabel (as a recorded run's).
IMPORT_PERMISSIONS = {"documents": ("labeling.add_document",), "queries": ("labeling.add_query",),
                      "qrels": ("labeling.add_pair",)}
MAX_UPLOAD_NAME = 100


def import_root() -> Path:
    return Path(settings.IMPORT_ROOT).resolve()


def import_path_resolve(*, path: str) -> Path:
    """A server path (relative to the import root, or absolute) that must lie inside the import
    root once links are resolved; ValueError otherwise, or if nothing is there."""
    root = import_root()
    if not path or "\x00" in path or len(path) > 1000:
        raise ValueError("a path of 1 to 1000 characters is required")
    try:
        resolved = (root / path).resolve()
        if not resolved.is_relative_to(root):
            raise ValueError(f"the path must be inside the import root ({root})")
        if not resolved.exists():
            raise ValueError(f"nothing at {path!r} in the import root")
    except OSError as exc:  # a name too long, a loop of links
        raise ValueError(f"not a usable path: {exc.strerror}") from None
    return resolved


def import_upload_save(*, name: str, chunks: Iterable[bytes]) -> Path:
    """Keep an uploaded file for its import job, under a fresh folder of the upload folder; the
    name's suffix is kept (it tells the importer the format), the rest made safe."""
    base = Path(name).name or "upload"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in base)[-MAX_UPLOAD_NAME:].lstrip(".") or "upload"
    folder = Path(settings.UPLOAD_DIR) / uuid.uuid4().hex
    folder.mkdir(parents=True)
    target = folder / safe
    with open(target, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
    return target


def import_job_create(*, kind: str, corpus_name: str, path: Path | str, uploaded: bool = False,
                      annotator: str = "", labeler: str = "", user=None) -> ImportJob:
    if kind not in ImportJob.Kind.values:
        raise ValueError(f"unknown import kind {kind!r} (one of {', '.join(ImportJob.Kind.values)})")
    valid_slug("corpus", corpus_name)
    if kind == ImportJob.Kind.QRELS and bool(annotator) == bool(labeler):
        raise ValueError("qrels need an annotator or a labeler (one of them)")
    job = ImportJob.objects.create(kind=kind, corpus_name=corpus_name, path=str(path), uploaded=uploaded,
                                   annotator=annotator, labeler=labeler, created_by=user)
    job_enqueue(model=ImportJob, pk=job.id, task=IMPORT_JOB_TASK, args=(job.id,), queue="default")
    return job


def import_job_run(*, job_id: int, owner: str = "") -> ImportJob:
    job = ImportJob.objects.get(id=job_id)
    if not job.is_active:
        return job
    if owner and not job_claim(ImportJob, job.id, me=owner):
        return job
    ImportJob.objects.filter(id=job.id).update(status=ImportJob.Status.RUNNING, started_at=timezone.now())
    try:
        if job.kind == ImportJob.Kind.DOCUMENTS:
            summary = documents_import(path=_unpacked(job), corpus_name=job.corpus_name)
        elif job.kind == ImportJob.Kind.QUERIES:
            summary = queries_import(path=job.path, corpus_name=job.corpus_name)
        else:
            summary = qrels_import(path=job.path, corpus_name=job.corpus_name, annotator=job.annotator or None,
                                   labeler=job.labeler or None)
    except ImportFileError as exc:
        _finish(job, ImportJob.Status.FAILED, error={"message": exc.detail, "file": Path(exc.path).name,
                                                     "line": exc.line, "field": exc.field})
    except ValueError as exc:
        _finish(job, ImportJob.Status.FAILED, error={"message": str(exc), "file": None, "line": None, "field": None})
    else:
        _finish(job, ImportJob.Status.SUCCEEDED, summary={
            "what": summary.what, "read": summary.read, "new": summary.new, "new_pairs": summary.new_pairs,
            "warnings": summary.warning_lines()})
    return ImportJob.objects.get(id=job.id)


def _unpack_dir(job: ImportJob) -> Path:
    return Path(settings.UPLOAD_DIR) / f"unpacked-{job.id}"


def _unpacked(job: ImportJob) -> Path:
    """The folder a zip of documents unpacks to (afresh: a resumed job may find half of it),
    or the job's path as it is."""
    path = Path(job.path)
    if path.suffix.lower() != ".zip" or not path.is_file():
        return path
    folder = _unpack_dir(job)
    shutil.rmtree(folder, ignore_errors=True)
    return zip_unpack(path=path, target=folder)


def _finish(job: ImportJob, status: str, *, summary: dict | None = None, error: dict | None = None) -> None:
    ImportJob.objects.filter(id=job.id).update(status=status, summary=summary or {}, error=error or {},
                                               finished_at=timezone.now())
    shutil.rmtree(_unpack_dir(job), ignore_errors=True)
    if job.uploaded:  # the upload's copy has served; a crash before here keeps it for the resume
        import_upload_discard(path=job.path)


def import_upload_discard(*, path: Path | str) -> None:
    """Remove an upload's copy (import_upload_save's) and its folder."""
    path = Path(path)
    if path.parent.parent == Path(settings.UPLOAD_DIR):
        shutil.rmtree(path.parent, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@resumer
def import_jobs_resume() -> None:
    """Send again the imports no worker holds (never sent, or their worker died)."""
    active = ImportJob.objects.filter(status__in=ImportJob.ACTIVE)
    for job in jobs_stranded(active):
        if job_requeue(model=ImportJob, job=job, task=IMPORT_JOB_TASK, args=(job.id,), queue="default") is False:
            return
