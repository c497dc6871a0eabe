from typing import Any

import pytest
from django.test import Client

from annotate.roles import ADMIN, user_role_set
from tests.annotate.conftest import bench_factory  # noqa: F401 (a fixture)
from tests.factories import CorpusFactory, DocumentFactory, QueryFactory, UserFactory


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def as_role(db):
    """as_role("admin") -> a logged-in test client of a fresh user with that role (None: no role)."""

    def make(role: str | None, username: str | None = None) -> Client:
        user: Any = UserFactory(username=username or f"user-{role}")
        if role:
            user_role_set(user=user, role=role)
        client = Client()
        client.force_login(user)
        client.user = user  # type: ignore[attr-defined]
        return client

    return make


@pytest.fixture
def admin_client(as_role) -> Client:
    return as_role(ADMIN)


@pytest.fixture
def corpus(db):
    corpus = CorpusFactory(name="intranet")
    for i in range(3):
        QueryFactory(corpus=corpus, external_id=f"q{i}", text=f"travel policy {i}")
        DocumentFactory(corpus=corpus, external_id=f"d{i}", title=f"Travel {i}", text=f"The travel policy, part {i}.")
    return corpus
