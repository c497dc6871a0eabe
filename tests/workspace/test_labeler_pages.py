"""The labeler pages: the prompt a labeler grades with (text and version), the prompt versions
its labels carry, and its agreement with a benchmark's people filtered by prompt version."""

import html
import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from annotate.roles import ANNOTATOR, REVIEWER, user_role_set
from labeling.labelers.prompting import GRADE_PROMPT
from labeling.models import Labeler
from labeling.prompts import prompt_load
from tests.factories import (
    BenchmarkFactory,
    BenchmarkItemFactory,
    JudgmentFactory,
    LabelerFactory,
    ModelLabelFactory,
    PairFactory,
    QueryFactory,
    UserFactory,
)

OLD, NEW = "grade-v1@00000000", prompt_load(GRADE_PROMPT).version


@pytest.fixture
def judged(db):
    """A teacher whose labels of 8 benchmark pairs came from two prompt versions: the old one
    graded every pair 0, the new one agrees with the people on all four of its pairs."""
    bench = BenchmarkFactory(name="bench")
    people = UserFactory(username="person")
    teacher = LabelerFactory(name="judge", role=Labeler.Role.TEACHER, backend=Labeler.Backend.OPENAI,
                             model_ref="llama", params={"base_url": "http://127.0.0.1:9/v1"})
    for i in range(8):
        pair = PairFactory(query=QueryFactory(external_id=f"q{i % 2}") if i < 2 else QueryFactory())
        BenchmarkItemFactory(benchmark=bench, pair=pair)
        grade = i % 4
        JudgmentFactory(pair=pair, annotator=people, grade=grade)
        version, given = (OLD, 0) if i < 4 else (NEW, grade)
        ModelLabelFactory(pair=pair, labeler=teacher, grade=given, expected_grade=float(given),
                          distribution=[1.0 if g == given else 0.0 for g in range(4)], prompt_version=version)
    return teacher


@pytest.fixture
def reviewer(client, db):
    user = UserFactory(username="rev")
    user_role_set(user=user, role=REVIEWER)
    client.force_login(user)
    return user


def _page(client, name="judge", **query) -> str:
    response = client.get(reverse("workspace:labeler_detail", args=[name]), query)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def _rows(page: str) -> list[str]:
    table = page.split('id="agreement"', 1)[1].split("</table>", 1)[0]
    return [row.split("</th>")[0].split("<code>")[1].split("</code>")[0] for row in table.split("<tr>")[2:]]


def _cells(page: str, version: str) -> list[str]:
    row = page.split(f"<tr><th><code>{version}</code></th>", 1)[1].split("</tr>", 1)[0]
    return re.findall(r"<td>([^<]*)</td>", row)


def test_the_page_shows_the_prompt_text_and_version(client, judged, reviewer):
    page = _page(client)
    prompt = prompt_load(GRADE_PROMPT)
    assert f'<code id="prompt-version">{prompt.version}</code>' in page
    assert prompt.system in page and prompt.user in page
    assert "OpenAI-compatible HTTP" in page and "llama" in page
    assert f"<code>{NEW}</code> <small class=\"muted\">current</small>" in page
    assert judged.name in html.unescape(client.get(reverse("workspace:labeler_list")).content.decode())


def test_agreement_per_prompt_version_and_filtered_to_one(client, judged, reviewer):
    page = _page(client)
    assert _rows(page) == [OLD, NEW]
    assert _cells(page, NEW)[:2] == ["4", "1.000"]  # the new prompt agrees on its 4 pairs
    assert _cells(page, OLD)[:2] == ["4", "0.250"]  # the old one only on the grade-0 pair

    only_new = _page(client, prompt_version=NEW, benchmark="bench")
    assert _rows(only_new) == [NEW]
    assert f'<option value="{NEW}" selected>' in only_new


def test_a_version_or_benchmark_that_is_not_there_is_named_and_a_long_one_refused(client, judged, reviewer):
    page = _page(client, prompt_version="grade-v9@ffffffff", benchmark="nope")
    assert "This labeler has no labels with prompt version 'grade-v9@ffffffff'." in page
    assert "No benchmark named 'nope' that you can see." in page
    url = reverse("workspace:labeler_detail", args=["judge"])
    assert client.get(url, {"prompt_version": "x" * 101}).status_code == 400
    assert client.get(reverse("workspace:labeler_detail", args=["nobody"])).status_code == 404


def test_a_labeler_without_a_prompt_and_an_ensemble(client, judged, reviewer):
    LabelerFactory(name="student", role=Labeler.Role.STUDENT, backend=Labeler.Backend.CROSS_ENCODER)
    assert "No prompt: this backend (cross-encoder) grades without one." in _page(client, "student")
    LabelerFactory(name="both", role=Labeler.Role.TEACHER, backend=Labeler.Backend.ENSEMBLE,
                   params={"members": ["judge", "student", "../gone"]})
    page = _page(client, "both")
    assert 'href="/labelers/judge/">judge</a>, <a href="/labelers/student/">student</a> (mean' in page
    assert "No prompt of its own" in page
    LabelerFactory(name="broken", role=Labeler.Role.TEACHER, backend=Labeler.Backend.LOCAL_LM,
                   params={"prompt": "no-such-prompt"})
    assert "Its prompt cannot be read" in _page(client, "broken")


@pytest.mark.django_db
def test_an_annotator_may_not_see_labelers(client, judged):
    user = UserFactory(username="ann")
    user_role_set(user=user, role=ANNOTATOR)
    client.force_login(user)
    assert client.get(reverse("workspace:labeler_detail", args=["judge"])).status_code == 403
    assert client.get(reverse("workspace:labeler_list")).status_code == 403


def test_the_agreement_command_filters_by_prompt_version(judged, capsys):
    call_command("agreement", "--labeler", "judge", "--annotator", "person", "--prompt-version", NEW)
    out = capsys.readouterr().out
    assert "n_pairs  4" in out and "accuracy  1.000" in out
