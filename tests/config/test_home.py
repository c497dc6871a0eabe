import re

import pytest

from annotate.roles import ADMIN, ANNOTATOR, REVIEWER, user_role_set
from annotate.services import membership_add
from tests.factories import BenchmarkFactory, CorpusFactory, UserFactory


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "sees_benchmark", "sees_corpus"), [
    (None, False, False), (ANNOTATOR, True, False), (REVIEWER, True, True), (ADMIN, True, True)])
def test_the_home_page_lists_only_what_the_role_allows(client, role, sees_benchmark, sees_corpus):
    CorpusFactory(name="finance-secrets")
    bench = BenchmarkFactory(name="mine", title="Mine")
    BenchmarkFactory(name="not-mine", title="Not mine")
    user = UserFactory(username="someone")
    if role:
        user_role_set(user=user, role=role)
    membership_add(benchmark=bench, users=[user])  # a member, even without a role
    client.force_login(user)
    page = client.get("/").content.decode()
    assert ("finance-secrets" in page) == sees_corpus
    assert ("(mine)" in page) == sees_benchmark
    assert ("(not-mine)" in page) == (role in (REVIEWER, ADMIN))
    if role is None:
        assert "You have no role yet" in page


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "steps"), [
    (ANNOTATOR, ["Grade"]), (REVIEWER, ["Review", "Grade"]), (ADMIN, ["Set up", "Review", "Grade"])])
def test_the_home_page_says_what_each_role_can_do_next(client, role, steps):
    BenchmarkFactory(name="bench")
    user = UserFactory(username="someone")
    user_role_set(user=user, role=role)
    client.force_login(user)
    page = client.get("/").content.decode()
    section = page.split('id="next-steps"', 1)[1].split("</section>", 1)[0]
    assert re.findall(r"<li><strong>([^<]+)</strong>", section) == steps
    assert ('href="/labelers/new/"' in section) == (role == ADMIN)
    assert ('href="/benchmarks/bench/review/"' in section) == (role != ANNOTATOR)
