""""Can't judge": an annotator gives up on a pair with a reason; it leaves their queue for good
(not even when nothing else is left), is counted apart, and goes to the reviewers, who grade
it into the consensus even when nobody else graded it."""

import pytest
from django.urls import reverse

from annotate.models import Adjudication, Skip
from annotate.roles import REVIEWER, user_role_set
from annotate.selectors import benchmark_consensus_grades, cant_judge_reasons, progress_get
from annotate.selectors.review import CANT_JUDGE, cant_judge_pairs
from annotate.services import NotLeased, QueueError, pair_cant_judge, pair_next_for_annotator
from tests.factories import UserFactory

from .conftest import T0, make_annotators

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.mark.django_db
def test_a_pair_one_cannot_judge_never_comes_back_and_is_counted_apart(bench_factory):
    bench = bench_factory(n=2, required=1)
    (a,) = make_annotators(1, benchmark=bench)
    first = pair_next_for_annotator(benchmark=bench, annotator=a, now=T0).item
    with pytest.raises(QueueError):
        pair_cant_judge(benchmark=bench, annotator=a, item_id=first.pk, reason="nonsense")
    pair_cant_judge(benchmark=bench, annotator=a, item_id=first.pk, reason=Skip.Reason.LANGUAGE, note=" Finnish ")
    second = pair_next_for_annotator(benchmark=bench, annotator=a, now=T0).item
    assert second != first
    pair_cant_judge(benchmark=bench, annotator=a, item_id=second.pk, reason=Skip.Reason.BROKEN)
    # A plain skip comes back when nothing else is left; these never do.
    assert pair_next_for_annotator(benchmark=bench, annotator=a, now=T0) is None
    with pytest.raises(NotLeased):
        pair_cant_judge(benchmark=bench, annotator=a, item_id=first.pk, reason=Skip.Reason.BROKEN)
    progress = progress_get(benchmark=bench, annotator=a)
    assert (progress.mine, progress.cant_judge) == (0, 2)
    assert cant_judge_reasons(benchmark=bench) == {"broken": 1, "language": 1}
    assert Skip.objects.get(item=first).note == "Finnish"
    # Someone else still gets the pair.
    (b,) = make_annotators(1, benchmark=bench, prefix="other")
    assert pair_next_for_annotator(benchmark=bench, annotator=b, now=T0) is not None


@pytest.mark.django_db
def test_the_grading_page_takes_the_reason_and_reviewers_decide_the_pair(client, bench_factory):
    bench = bench_factory(n=2, required=1)
    (a,) = make_annotators(1, benchmark=bench)
    client.force_login(a)
    page = client.get(reverse("annotate:grade", args=[bench.name])).content.decode()
    assert 'data-key="c"' in page and "Needs expertise" in page
    item = pair_next_for_annotator(benchmark=bench, annotator=a).item
    url = reverse("annotate:grade", args=[bench.name])
    response = client.post(url, {"item": item.pk, "reason": "expertise", "comment": "tax law"}, **HTMX)
    assert "cannot judge that pair" in response.content.decode()
    assert 'id="cant-judge-count">1<' in response.content.decode()
    assert Skip.objects.get(item=item).reason == "expertise"
    # A reason that is not one is refused with a message, nothing stored.
    other = pair_next_for_annotator(benchmark=bench, annotator=a).item
    client.post(url, {"item": other.pk, "action": "cant_judge"}, **HTMX)
    assert not Skip.objects.filter(item=other).exists()

    reviewer = UserFactory(username="rev")
    user_role_set(user=reviewer, role=REVIEWER)
    client.force_login(reviewer)
    assert [d.pair_id for d in cant_judge_pairs(benchmark=bench)] == [item.pair_id]
    review_url = reverse("annotate:review", args=[bench.name]) + f"?mode={CANT_JUDGE}"
    page = client.get(review_url).content.decode()
    assert "Needs expertise" in page and "tax law" in page and "nobody graded it" in page
    assert 'data-key="h"' not in page  # no people's grade to keep
    client.post(review_url, {"pair": item.pair_id, "grade": 2}, **HTMX)
    assert Adjudication.objects.get(pair_id=item.pair_id).grade == 2
    assert benchmark_consensus_grades(benchmark=bench) == {item.pair_id: 2}
    assert cant_judge_pairs(benchmark=bench) == []
