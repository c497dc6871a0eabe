"""Creating, editing and testing labelers in the browser's forms (admins only)."""

import html

import pytest
from django.urls import reverse

from annotate.roles import ANNOTATOR, REVIEWER
from labeling.models import Labeler, LabelingJob
from tests.factories import LabelerFactory

NEW = reverse("workspace:labeler_new")
OPENAI = {"name": "big-judge", "role": "teacher", "model_ref": "llama-70b", "base_url": "http://127.0.0.1:9/v1",
          "api_key_env": "TEACHER_KEY", "api": "chat", "timeout_s": "30", "max_concurrency": "8",
          "price_per_million_input_tokens": "0.5", "price_per_million_output_tokens": "1.5"}


def _text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.mark.django_db
def test_an_admin_creates_an_openai_teacher_that_names_its_key_and_keeps_no_key(admin_client):
    response = admin_client.post(f"{NEW}?backend=openai", OPENAI)
    assert response.status_code == 302 and response.url == reverse("workspace:labeler_detail", args=["big-judge"])
    labeler = Labeler.objects.get(name="big-judge")
    assert (labeler.role, labeler.backend, labeler.model_ref) == ("teacher", "openai", "llama-70b")
    assert labeler.params == {"base_url": "http://127.0.0.1:9/v1", "api_key_env": "TEACHER_KEY", "api": "chat",
                              "timeout_s": 30.0, "max_concurrency": 8, "price_per_million_input_tokens": 0.5,
                              "price_per_million_output_tokens": 1.5}
    page = _text(admin_client.get(f"{NEW}?backend=openai"))
    assert "The NAME of the environment variable" in page and 'type="password"' not in page


@pytest.mark.django_db
@pytest.mark.parametrize(("backend", "changes", "field", "message"), [
    ("openai", {"base_url": "not a url"}, "base_url", "Enter a valid URL."),
    ("openai", {"api_key_env": "sk-live-1234"}, "api_key_env", "not the key itself"),
    ("openai", {"name": "no spaces here!"}, "name", "letters, numbers, underscores or hyphens"),
    ("openai", {"name": "new"}, "name", "'new' is taken"),
    ("openai", {"timeout_s": "100000"}, "timeout_s", "less than or equal to 600"),
    ("openai", {"price_per_million_input_tokens": "-1"}, "price_per_million_input_tokens", "greater than or equal"),
    ("cross_encoder", {"role": "generator", "runtime": "onnx"}, "role", "Only a language model"),
    ("cross_encoder", {"runtime": "tensorflow"}, "runtime", "Select a valid choice"),
    ("ensemble", {"members": ["solo"]}, "members", "two or more members"),
])
def test_bad_input_is_refused_with_a_message_by_its_field(admin_client, backend, changes, field, message):
    LabelerFactory(name="solo", role=Labeler.Role.TEACHER, backend=Labeler.Backend.OPENAI)
    response = admin_client.post(f"{NEW}?backend={backend}", {**OPENAI, **changes})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field])
    assert not Labeler.objects.filter(name__in=["big-judge", changes.get("name", "-")]).exists()


@pytest.mark.django_db
def test_a_name_taken_and_an_unknown_backend(admin_client):
    LabelerFactory(name="big-judge")
    response = admin_client.post(f"{NEW}?backend=openai", OPENAI)
    assert "Labeler with this Name already exists." in _text(response)
    assert admin_client.get(f"{NEW}?backend=anchored").status_code == 400
    assert admin_client.get(f"{NEW}?backend=<script>").status_code == 400


@pytest.mark.django_db
def test_an_ensemble_and_a_cross_encoder_student(admin_client):
    for name in ("t1", "t2"):
        LabelerFactory(name=name, role=Labeler.Role.TEACHER, backend=Labeler.Backend.OPENAI)
    response = admin_client.post(f"{NEW}?backend=ensemble", {"name": "both", "role": "teacher",
                                                              "members": ["t1", "t2"], "combine": "majority"})
    assert response.status_code == 302
    assert Labeler.objects.get(name="both").params == {"members": ["t1", "t2"], "combine": "majority"}
    response = admin_client.post(f"{NEW}?backend=cross_encoder", {
        "name": "fast", "role": "student", "model_ref": "minilm-l6", "runtime": "onnx-int8", "device": "cpu",
        "batch_size": "64", "price_per_gpu_hour": "2"})
    assert response.status_code == 302
    fast = Labeler.objects.get(name="fast")
    assert fast.params == {"runtime": "onnx-int8", "device": "cpu", "batch_size": 64, "price_per_gpu_hour": 2.0}


@pytest.mark.django_db
def test_editing_keeps_the_name_and_the_params_the_form_does_not_show(admin_client):
    labeler = LabelerFactory(name="judge", role=Labeler.Role.TEACHER, backend=Labeler.Backend.OPENAI,
                             model_ref="old", params={"base_url": "http://a.example/v1", "prompt": "grade-v1",
                                                      "price_per_gpu_hour": 9.0})
    url = reverse("workspace:labeler_edit", args=["judge"])
    page = _text(admin_client.get(url))
    assert 'value="http://a.example/v1"' in page and 'value="old"' in page
    response = admin_client.post(url, {**OPENAI, "name": "renamed", "role": "generator", "model_ref": "new"})
    assert response.status_code == 302
    labeler.refresh_from_db()
    assert (labeler.name, labeler.role, labeler.model_ref) == ("judge", "generator", "new")
    assert labeler.params["prompt"] == "grade-v1" and labeler.params["base_url"] == "http://127.0.0.1:9/v1"
    assert "price_per_gpu_hour" not in labeler.params  # blanked in the form: gone
    assert admin_client.get(reverse("workspace:labeler_edit", args=["nobody"])).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("role", [REVIEWER, ANNOTATOR])
def test_only_admins_create_edit_or_test(as_role, role):
    LabelerFactory(name="judge", role=Labeler.Role.TEACHER, backend=Labeler.Backend.OPENAI)
    client = as_role(role)
    assert client.get(NEW).status_code == 403
    assert client.post(f"{NEW}?backend=openai", OPENAI).status_code == 403
    assert client.post(reverse("workspace:labeler_edit", args=["judge"]), OPENAI).status_code == 403
    assert client.post(reverse("workspace:labeler_test", args=["judge"])).status_code == 403
    assert not Labeler.objects.filter(name="big-judge").exists()
    page = client.get(reverse("workspace:labeler_detail", args=["judge"]))
    assert page.status_code == (200 if role == REVIEWER else 403)
    assert "Test: grade three pairs" not in page.content.decode()


@pytest.mark.django_db
def test_the_test_of_an_unreachable_endpoint_says_so_without_a_traceback(admin_client):
    LabelerFactory(name="down", role=Labeler.Role.TEACHER, backend=Labeler.Backend.OPENAI, model_ref="m",
                   params={"base_url": "http://127.0.0.1:9/v1", "timeout_s": 600, "max_retries": 9})
    response = admin_client.post(reverse("workspace:labeler_test", args=["down"]))
    assert response.status_code == 200
    page = _text(response)
    assert "The test failed." in page and "down could not grade" in page
    assert "Traceback" not in page and 'id="test-grades"' not in page
    fragment = _text(admin_client.post(reverse("workspace:labeler_test", args=["down"]),
                                       headers={"HX-Request": "true"}))
    assert fragment.lstrip().startswith('<section id="test-result">') and "could not grade" in fragment


@pytest.mark.django_db
@pytest.mark.slow
def test_the_test_of_a_cross_encoder_grades_three_pairs(admin_client):
    LabelerFactory(name="mini", role=Labeler.Role.STUDENT, backend=Labeler.Backend.CROSS_ENCODER,
                   model_ref="minilm-l6", params={"device": "cpu"})
    page = _text(admin_client.post(reverse("workspace:labeler_test", args=["mini"])))
    assert "Graded 3 pairs in" in page
    table = page.split('id="test-grades"', 1)[1].split("</table>", 1)[0]
    assert table.count('<td class="grade">') == 3
    for title in ("Passport renewal", "Passport photos", "Sourdough starter"):
        assert title in table


@pytest.mark.django_db
def test_the_labeler_page_lists_its_jobs_and_the_rate_estimates_use(admin_client):
    judge = LabelerFactory(name="judge", role=Labeler.Role.TEACHER, backend=Labeler.Backend.OPENAI,
                           params={"price_per_gpu_hour": 3600.0})
    url = reverse("workspace:labeler_detail", args=["judge"])
    assert "Not measured yet" in _text(admin_client.get(url))
    job = LabelingJob.objects.create(labeler=judge, scope={}, description="benchmark b", total=30, done=30,
                                     seconds=12.0, status=LabelingJob.Status.SUCCEEDED)
    page = _text(admin_client.get(url))
    assert "Measured: 2.5 pairs/s over its last 1 finished job, about 400.0000 per 1,000 pairs;" in page
    assert f'href="{reverse("workspace:job_detail", args=[job.id])}"' in page and "30 / 30" in page
