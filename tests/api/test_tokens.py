"""Tokens: created on one's own page and shown once, stored hashed, revoked there; the API's
answers without one (401), with a wrong role (403), all in the one error shape."""

import pytest
from django.urls import reverse

from annotate.roles import ADMIN, ANNOTATOR, REVIEWER, user_role_set
from api.models import ApiToken
from api.services.tokens import token_create
from tests.api.conftest import ApiClient, assert_error
from tests.factories import CorpusFactory, UserFactory


@pytest.mark.django_db
def test_a_token_is_shown_once_stored_hashed_and_revoked_on_its_owners_page(client):
    user = UserFactory(username="pipeline")
    user_role_set(user=user, role=REVIEWER)
    client.force_login(user)
    page = client.post(reverse("api_tokens"), {"name": "nightly"})
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    secret = page.context["created"].secret
    assert secret.startswith("asr_") and secret in page.content.decode()
    token = ApiToken.objects.get(user=user)
    assert secret not in (token.digest, token.prefix) and len(token.digest) == 64
    assert secret not in client.get(reverse("api_tokens")).content.decode()  # never again

    api = ApiClient(secret)
    assert api.get("/api/v1/me").json() == {"username": "pipeline", "roles": [REVIEWER], "token": "nightly"}
    client.post(reverse("api_token_revoke", args=[token.id]))
    assert_error(api.get("/api/v1/me"), 401, "unauthenticated")


@pytest.mark.django_db
def test_nobody_revokes_anothers_token(client):
    owner, other = UserFactory(username="owner"), UserFactory(username="other")
    new = token_create(user=owner, name="mine")
    client.force_login(other)
    client.post(reverse("api_token_revoke", args=[new.token.id]))
    assert ApiToken.objects.get(id=new.token.id).active
    assert new.secret not in client.get(reverse("api_tokens")).content.decode()
    assert "mine" not in client.get(reverse("api_tokens")).content.decode()


@pytest.mark.django_db
def test_the_token_page_needs_a_login(client):
    response = client.get(reverse("api_tokens"))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nonsense", "Bearer asr_" + "x" * 43,
                                    "Basic dXNlcjpwdw==", "Bearer asr_" + "y" * 5000])
def test_no_or_a_wrong_token_is_401_in_json_never_the_login_page(client, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/corpora", headers=headers)
    body = assert_error(response, 401, "unauthenticated")
    assert "Bearer" in response["WWW-Authenticate"] and "token" in body["message"]


@pytest.mark.django_db
def test_a_session_is_not_a_token(client):
    admin = UserFactory(username="boss")
    user_role_set(user=admin, role=ADMIN)
    client.force_login(admin)
    assert_error(client.get("/api/v1/corpora"), 401)


@pytest.mark.django_db
def test_an_inactive_users_token_stops_working(api_as):
    api = api_as(ADMIN)
    assert api.get("/api/v1/corpora").status_code == 200
    api.user.is_active = False
    api.user.save()
    assert_error(api.get("/api/v1/corpora"), 401)


@pytest.mark.django_db
@pytest.mark.parametrize("role,status", [(ADMIN, 200), (REVIEWER, 200), (ANNOTATOR, 403), (None, 403)])
def test_the_browsers_roles_decide_as_on_the_pages(api_as, role, status):
    CorpusFactory(name="intranet")
    response = api_as(role).get("/api/v1/corpora")
    if status == 200:
        assert [c["name"] for c in response.json()["items"]] == ["intranet"]
    else:
        assert_error(response, 403, "forbidden")


@pytest.mark.django_db
def test_a_bad_parameter_is_422_naming_the_field(api_as):
    body = assert_error(api_as(ADMIN).get("/api/v1/corpora", limit=100000), 422, "invalid")
    assert body["field"] == "limit"


@pytest.mark.django_db
def test_an_unknown_path_is_404_in_the_shape(api_as):
    assert_error(api_as(ADMIN).get("/api/v1/nothing-here"), 404)


@pytest.mark.django_db
def test_the_schema_and_docs_are_served_without_a_token(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.") and "/api/v1/corpora" in schema["paths"]
    assert schema["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and b"cdn" not in docs.content.lower()


@pytest.mark.django_db
def test_what_schemathesis_found_is_refused_not_a_500(api_as, settings, tmp_path):
    settings.IMPORT_ROOT = tmp_path
    api = api_as(ADMIN)
    assert_error(api.get("/api/v1/corpora", ids=[9999999999999999999]), 422)  # past a bigint
    assert_error(api.get("/api/v1/corpora", ids=[-3]), 422)
    no_boundary = api.client.post("/api/v1/corpora/c/imports/documents", b"x", content_type="multipart/form-data",
                                  headers=api.headers)
    assert_error(no_boundary, 400)
    long_name = api.post("/api/v1/corpora/c/imports/documents/from-path", {"path": "0" * 1000})
    assert assert_error(long_name, 400)["field"] == "path"
    # A path no endpoint has, posted without a CSRF token (as every token client does): a JSON 404.
    assert_error(api.client.post("/api/v1/runs/null/cancel", headers=api.headers, enforce_csrf_checks=True), 404)


@pytest.mark.django_db
def test_every_operation_declares_the_front_servers_414(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert all("414" in op["responses"] for methods in schema["paths"].values() for op in methods.values())
