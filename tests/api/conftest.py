import pytest
from django.test import Client

from annotate.roles import user_role_set
from api.services.tokens import token_create
from tests.factories import UserFactory


class ApiClient:
    """Django's test client with a bearer token on every request (no session)."""

    def __init__(self, secret: str | None):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    def get(self, path, **params):
        return self.client.get(path, params, headers=self.headers)

    def post(self, path, json=None, **kwargs):
        if json is not None:
            return self.client.post(path, json, content_type="application/json", headers=self.headers)
        return self.client.post(path, kwargs.get("data", {}), headers=self.headers)

    def delete(self, path):
        return self.client.delete(path, headers=self.headers)


@pytest.fixture
def api_as(db):
    """api_as("admin") -> an ApiClient with a fresh token of a user of that role (None: no role)."""

    def make(role: str | None, username: str | None = None) -> ApiClient:
        user = UserFactory(username=username or f"api-{role}")
        if role:
            user_role_set(user=user, role=role)
        client = ApiClient(token_create(user=user, name="test").secret)
        client.user = user  # type: ignore[attr-defined]
        return client

    return make


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "field", "line"}, body
    if code:
        assert body["code"] == code, body
    return body
