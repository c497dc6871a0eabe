"""A labeler's agreement with a person (or another labeler) on the pairs both graded."""

from django.contrib.auth import get_user_model

from ..metrics import agreement_report
from ..models import Labeler
from ..selectors import grades_by_pair


def agreement_compute(*, labeler: Labeler, annotator=None, reference_labeler: Labeler | None = None,
                      scope: dict | None = None, prompt_version: str | None = None) -> dict:
    """`prompt_version`: only the labeler's labels made with that prompt."""
    if (annotator is None) == (reference_labeler is None):
        raise ValueError("compare with an annotator or with another labeler")
    reference = grades_by_pair(annotator=annotator, labeler=reference_labeler, scope=scope)
    predicted = grades_by_pair(labeler=labeler, scope=scope, prompt_version=prompt_version)
    common = sorted(reference.keys() & predicted.keys())
    if not common:
        with_version = f" with prompt version {prompt_version!r}" if prompt_version is not None else ""
        raise ValueError(f"no pair was graded by both{with_version}")
    report = agreement_report(
        query_ids=[reference[p][0] for p in common],
        reference=[reference[p][1] for p in common],
        predicted=[predicted[p][1] for p in common],
        expected=[predicted[p][2] for p in common],
    )
    report["labeler"] = labeler.name
    report["prompt_version"] = prompt_version
    report["reference"] = reference_labeler.name if reference_labeler is not None else annotator.username
    return report


def annotator_get(*, username: str):
    try:
        return get_user_model().objects.get(username=username)
    except get_user_model().DoesNotExist:
        raise ValueError(f"no annotator named {username!r}") from None


def labeler_get(*, name: str) -> Labeler:
    try:
        return Labeler.objects.get(name=name)
    except Labeler.DoesNotExist:
        raise ValueError(f"no labeler named {name!r}") from None
