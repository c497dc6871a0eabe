"""Bad replies do not fail jobs: a pair the teacher cannot grade is retried once with a repair
prompt, then set aside with its reason, and the job goes on; it fails only past the labeler's
max_error_share. The teacher is a real HTTP server on loopback (tests.labeling.test_labeler_openai's
scripted server) that injects the bad replies."""

import pytest
from django.urls import reverse

from annotate.roles import ADMIN, user_role_set
from distill.models import Run
from labeling.calibration import anchors_pick
from labeling.labelers.base import SET_ASIDE_REASONS, PairsSetAside
from labeling.labelers.prompting import REPAIR_MESSAGE
from labeling.models import AnchorSet, Labeler, LabelingJob, ModelLabel, SetAsidePair
from labeling.services.anchored import anchored_labeler_create
from labeling.services.grading import TooManySetAside
from labeling.services.labeling_jobs import labeling_job_create, labeling_job_run
from tests.factories import (
    DocumentFactory,
    LabelerFactory,
    ModelLabelFactory,
    PairFactory,
    QueryFactory,
    UserFactory,
)

from .test_labeler_openai import OK, backend_for, chat_reply, scripted


def _repairing(n, body) -> bool:
    return any(m["content"] == REPAIR_MESSAGE for m in body["messages"])


def test_a_reply_without_a_grade_is_repaired_once(dl19_sample_pairs):
    def script(n, body):
        return OK if _repairing(n, body) else (200, chat_reply("Hmm, let me think.", top={"Hmm": -0.1}), {}, 0)

    with scripted(script) as server:
        label = backend_for(server).label(dl19_sample_pairs[:1])[0]
    assert len(server.requests) == 2
    repair = server.requests[1]["body"]["messages"]
    assert repair[-3] == {"role": "assistant", "content": "Grade: Hmm, let me think."}  # what it said, continued
    assert repair[-1] == {"role": "assistant", "content": "Grade: "}
    assert label.grade == 2 and label.extra["repaired_from"] == "Hmm, let me think."
    assert label.tokens_in == 240  # both requests' cost


@pytest.mark.parametrize(("reply", "reason"), [
    (chat_reply("no idea", top={"no": -0.1}), "unparseable"),
    (chat_reply("I'm sorry, I cannot help with grading this.", top={"I": -0.1}), "refusal"),
    ({"choices": [{"index": 0, "message": {"role": "assistant", "content": None, "refusal": "Not allowed."},
                   "logprobs": None}]}, "refusal"),
    ({"choices": [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "content_filter",
                   "logprobs": None}]}, "content_filter"),
])
def test_a_pair_that_stays_ungraded_is_set_aside_and_the_rest_keep_their_labels(dl19_sample_pairs, reply, reason):
    pairs = dl19_sample_pairs[:3]

    def script(n, body):
        return (200, reply, {}, 0) if pairs[1].text in body["messages"][1]["content"] else OK

    with scripted(script) as server, pytest.raises(PairsSetAside) as caught:
        backend_for(server).label(pairs)
    assert [label is None for label in caught.value.labels] == [False, True, False]
    assert caught.value.labels[0].grade == 2
    assert list(caught.value.set_aside) == [1] and caught.value.set_aside[1].reason == reason
    tries = 1 if reason == "content_filter" else 2  # a filtered prompt is not sent again
    assert len(server.requests) == 2 + tries


def test_errors_after_the_retries_are_set_aside_but_a_rejected_request_fails(dl19_sample_pairs):
    cases = [((503, {"error": {"message": "down"}}, {}, 0), "server_error"),
             ((*OK[:3], 1.0), "timeout"),
             ((400, {"error": {"message": "The prompt was filtered", "code": "content_filter"}}, {}, 0),
              "content_filter")]
    for answer, reason in cases:
        with scripted(lambda n, body, answer=answer: answer) as server, pytest.raises(PairsSetAside) as caught:
            backend_for(server, max_retries=1, timeout_s=0.3).label(dl19_sample_pairs[:1])
        assert caught.value.set_aside[0].reason == reason, caught.value.set_aside
    with scripted(lambda n, body: (401, {"error": {"message": "bad key"}}, {}, 0)) as server:
        with pytest.raises(Exception, match="401: bad key") as caught:
            backend_for(server).label(dl19_sample_pairs[:1])
        assert not isinstance(caught.value, PairsSetAside)


def test_reasons_match_the_model():
    assert set(SET_ASIDE_REASONS) == set(SetAsidePair.Reason.values)


# --- a labeling job against the scripted teacher -------------------------------------------------


def _teacher_job(pairs_total: int, broken: set[int]):
    """A job of an OpenAI labeler over pairs of one query; documents in `broken` always get a reply
    with no grade."""
    query = QueryFactory(external_id="q-set-aside")
    docs = [DocumentFactory(text=f"Passage {i} {'BROKEN' if i in broken else 'fine'} about travel.")
            for i in range(pairs_total)]
    for doc in docs:
        PairFactory(query=query, document=doc)

    bad: tuple[int, dict, dict, float] = (200, chat_reply("The passage cannot be assessed.", top={"The": -0.1}), {}, 0)

    def script(n, body):
        return bad if "BROKEN" in body["messages"][1]["content"] else OK

    return query, script


@pytest.mark.django_db
def test_a_job_with_unparseable_replies_completes_with_those_pairs_set_aside_and_counted():
    query, script = _teacher_job(40, broken={3, 17})
    with scripted(script) as server:
        labeler = LabelerFactory(name="teacher", role=Labeler.Role.TEACHER, backend=Labeler.Backend.OPENAI,
                                 model_ref="judge", params={"base_url": server.base_url, "backoff_s": 0.01})
        job = labeling_job_create(labeler=labeler, scope={"query": query.id}, batch_size=16, enqueue=False)
        job = labeling_job_run(job_id=job.id)
    assert job.status == LabelingJob.Status.SUCCEEDED
    assert (job.done, job.total, job.set_aside) == (40, 40, 2)
    assert ModelLabel.objects.filter(labeler=labeler).count() == 38
    aside = list(SetAsidePair.objects.filter(job=job).select_related("pair__document"))
    assert sorted(a.pair.document.text.split()[1] for a in aside) == ["17", "3"]
    assert {a.reason for a in aside} == {"unparseable"}
    assert "after a repair prompt" in aside[0].detail
    assert len(server.requests) == 38 + 2 * 2  # each broken pair: its request and one repair

    # A rerun (a resumed job) does not ask again for the pairs it set aside.
    with scripted(script) as server:
        assert labeling_job_run(job_id=job.id).set_aside == 2
    assert server.requests == []


@pytest.mark.django_db
def test_a_job_fails_past_the_labelers_error_share():
    query, script = _teacher_job(40, broken={1, 2, 3})
    with scripted(script) as server:
        labeler = LabelerFactory(name="flaky", role=Labeler.Role.TEACHER, backend=Labeler.Backend.OPENAI,
                                 model_ref="judge",
                                 params={"base_url": server.base_url, "backoff_s": 0.01, "max_error_share": 0.05})
        job = labeling_job_create(labeler=labeler, scope={"query": query.id}, batch_size=8, enqueue=False)
        with pytest.raises(TooManySetAside):
            labeling_job_run(job_id=job.id)
        job.refresh_from_db()
        assert job.status == LabelingJob.Status.FAILED
        assert job.error == ("TooManySetAside: 3 of 40 pairs set aside (unparseable 3), "
                             "past the labeler's max_error_share of 5%")
        assert job.done == 8  # it stopped at the first batch past the share

        labeler.params["max_error_share"] = 0.1  # an operator allows more, and resumes it
        labeler.save()
        job = labeling_job_run(job_id=job.id)
    assert job.status == LabelingJob.Status.SUCCEEDED and (job.done, job.set_aside) == (40, 3)


@pytest.mark.django_db
def test_a_bad_error_share_is_refused_by_name():
    query, _ = _teacher_job(2, broken=set())
    labeler = LabelerFactory(name="bad-share", role=Labeler.Role.TEACHER, backend=Labeler.Backend.OPENAI,
                             model_ref="judge", params={"base_url": "http://127.0.0.1:9/v1", "max_error_share": "lots"})
    job = labeling_job_create(labeler=labeler, scope={"query": query.id}, enqueue=False)
    with pytest.raises(ValueError, match="max_error_share must be a number"):
        labeling_job_run(job_id=job.id)


@pytest.mark.django_db
def test_the_run_page_shows_the_teach_stages_set_aside_pairs(client):
    query, script = _teacher_job(10, broken={4})
    with scripted(script) as server:
        labeler = LabelerFactory(name="teacher", role=Labeler.Role.TEACHER, backend=Labeler.Backend.OPENAI,
                                 model_ref="judge",
                                 params={"base_url": server.base_url, "backoff_s": 0.01, "max_error_share": 0.2})
        job = labeling_job_create(labeler=labeler, scope={"query": query.id}, enqueue=False)
        labeling_job_run(job_id=job.id)
    run = Run.objects.create(name="r", corpus=query.corpus, status=Run.Status.RUNNING, stage=Run.Stage.TEACH,
                             progress={"teach": {"done": 10, "total": 10, "job": job.id}})
    admin = UserFactory(username="boss")
    user_role_set(user=admin, role=ADMIN)
    client.force_login(admin)
    page = client.get(reverse("distill:run_detail", args=[run.id])).content.decode()
    assert "1 pair set aside" in page and "(unparseable 1)" in page
    assert "no grade in the reply" in page and "The passage cannot be assessed." in page
    assert query.text in page


def test_an_ensemble_sets_aside_a_pair_any_member_set_aside(dl19_sample_pairs):
    from labeling.labelers.ensemble import EnsembleBackend

    pairs = dl19_sample_pairs[:2]
    bad = (200, chat_reply("no idea", top={"no": -0.1}), {}, 0)
    with scripted(lambda n, body: OK) as good, \
            scripted(lambda n, body: bad if pairs[0].text in body["messages"][1]["content"] else OK) as flaky:
        ensemble = EnsembleBackend({"good": backend_for(good), "flaky": backend_for(flaky)})
        with pytest.raises(PairsSetAside) as caught:
            ensemble.label(pairs)
    assert caught.value.labels[0] is None and caught.value.labels[1].grade == 2
    assert caught.value.set_aside[0].reason == "unparseable" and caught.value.set_aside[0].detail.startswith("flaky: ")


# --- an anchored job whose teacher sets anchors aside ----------------------------------------------


def _anchored_job(n: int, max_error_share: float):
    """Query "some": one of its 4 anchors always gets a reply with no grade; query "none": every
    pair does. The student's scores rise with i; the teacher grades document i as its text says."""
    student = LabelerFactory(name="student", role=Labeler.Role.STUDENT, backend=Labeler.Backend.CROSS_ENCODER)
    scores = [3 * i / (n - 1) for i in range(n)]
    broken = {"some": {anchors_pick(scores, 4)[1]}, "none": set(range(n))}
    pairs = {}
    for name in ("some", "none"):
        query = QueryFactory(external_id=name)
        docs = [DocumentFactory(text=f"Passage {i} grade={3 * i // n} {'BROKEN' if i in broken[name] else ''}")
                for i in range(n)]
        pairs[name] = [PairFactory(query=query, document=doc) for doc in docs]
        for pair, score in zip(pairs[name], scores, strict=True):
            ModelLabelFactory(pair=pair, labeler=student, grade=round(score), expected_grade=score)

    def script(n, body):
        text = body["messages"][1]["content"]
        if "BROKEN" in text:
            return (200, chat_reply("The passage cannot be assessed.", top={"The": -0.1}), {}, 0)
        grade = text.split("grade=")[1][0]
        return (200, chat_reply(grade, {grade: -0.05}), {}, 0)

    def run(server):
        teacher = LabelerFactory(name="teacher", role=Labeler.Role.TEACHER, backend=Labeler.Backend.OPENAI,
                                 model_ref="judge", params={"base_url": server.base_url, "backoff_s": 0.01,
                                                            "max_error_share": max_error_share})
        anchored = anchored_labeler_create(name="anchored", student=student, teacher=teacher, anchors_per_query=4,
                                           prior_weight=0)
        job = labeling_job_create(labeler=anchored, scope={"query__external_id__in": ["some", "none"]},
                                  enqueue=False, gated=False)
        return anchored, labeling_job_run(job_id=job.id)

    return pairs, broken, script, run


@pytest.mark.django_db
def test_an_anchored_job_goes_on_past_the_anchors_its_teacher_set_aside():
    n = 20
    pairs, broken, script, run = _anchored_job(n, max_error_share=0.6)
    with scripted(script) as server:
        anchored, job = run(server)
    assert job.status == LabelingJob.Status.SUCCEEDED, job.error
    assert (job.done, job.total, job.set_aside) == (2 * n, 2 * n, 1 + n)

    # "some" is scaled by its three graded anchors, and every pair of it is labeled.
    labels = {label.pair_id: label for label in ModelLabel.objects.filter(labeler=anchored)}
    assert set(labels) == {p.id for p in pairs["some"]}
    bad = pairs["some"][next(iter(broken["some"]))]
    anchor_set = AnchorSet.objects.get(labeler=anchored, query__external_id="some")
    assert len(anchor_set.anchors) == 3 and bad.id not in [row[0] for row in anchor_set.anchors]
    assert labels[bad.id].source == ModelLabel.Source.MODEL
    aside = SetAsidePair.objects.get(job=job, pair=bad)
    assert aside.reason == "unparseable" and aside.detail.startswith("teacher teacher: ")

    # "none" has no scale: its pairs are set aside, none labeled, no anchor set.
    assert not AnchorSet.objects.filter(labeler=anchored, query__external_id="none").exists()
    none_aside = SetAsidePair.objects.filter(job=job, pair__query__external_id="none")
    assert none_aside.count() == n and set(none_aside.values_list("reason", flat=True)) == {"unparseable"}
    assert none_aside.filter(detail="no anchor of its query was graded by the teacher").count() == n - 4

    # Resumed, it asks the teacher nothing again.
    with scripted(script) as server:
        assert labeling_job_run(job_id=job.id).set_aside == 1 + n
    assert server.requests == []


@pytest.mark.django_db
def test_an_anchored_job_fails_past_its_teachers_error_share():
    _, _, script, run = _anchored_job(20, max_error_share=0.05)
    with scripted(script) as server, pytest.raises(TooManySetAside, match="past the labeler's max_error_share of 5%"):
        run(server)
    assert LabelingJob.objects.get().status == LabelingJob.Status.FAILED
