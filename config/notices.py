"""Notices a page shows after it started a background job."""

from django.contrib import messages
from django.http import HttpRequest

from labeling.enqueue import QUEUE_UNREACHABLE
from labeling.models import LeasedJob
from labeling.workers import job_unsent


def unsent_warn(request: HttpRequest, job: LeasedJob) -> None:
    """Say so when the broker could not take the job (it stays queued, and a resumer sends it later)."""
    if job_unsent(type(job), job.pk):
        messages.warning(request, QUEUE_UNREACHABLE)
