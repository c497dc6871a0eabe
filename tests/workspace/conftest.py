import pytest

from annotate.roles import ADMIN, user_role_set
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def as_role(client, db):
    """`as_role(ADMIN)`: the test client logged in as a fresh user with that role."""

    def login(role: str):
        user = UserFactory(username=f"{role}-user")
        user_role_set(user=user, role=role)
        client.force_login(user)
        return client

    return login


@pytest.fixture
def admin_client(as_role):
    return as_role(ADMIN)


