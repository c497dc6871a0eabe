import pytest

from annotate.roles import ADMIN, user_role_set
from config.celery import app
from tests.factories import UserFactory


@pytest.fixture
def staff_client(client):
    admin = UserFactory(username="boss")
    user_role_set(user=admin, role=ADMIN)
    client.force_login(admin)
    return client


@pytest.mark.django_db
def test_health_without_login_says_only_ok(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() in ({"ok": True}, {"ok": False})  # no vendor, transport, worker names or errors


@pytest.mark.django_db
def test_health_reports_database_and_broker_to_an_admin(staff_client):
    response = staff_client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert set(body) == {"database", "broker", "worker", "ok"}


@pytest.fixture
def broker_down(monkeypatch):
    """The broker on a closed port (nothing listens on port 1): /health's connection goes there."""
    connect = app.connection_for_write
    monkeypatch.setattr(app, "connection_for_write", lambda *args, **kwargs: connect("redis://127.0.0.1:1/0"))


@pytest.mark.django_db
def test_health_is_503_when_the_broker_is_down_and_says_why_only_to_an_admin(client, broker_down):
    response = client.get("/health")
    assert response.status_code == 503 and response.json() == {"ok": False}
    admin = UserFactory(username="boss")
    user_role_set(user=admin, role=ADMIN)
    client.force_login(admin)
    response = client.get("/health")
    assert response.status_code == 503
    broker = response.json()["broker"]
    assert broker["ok"] is False and broker["transport"] and "refused" in broker["error"].lower()


@pytest.mark.worker
def test_health_lists_a_running_worker(celery_worker_process, staff_client):
    client = staff_client
    worker = celery_worker_process()
    body = client.get("/health").json()
    assert body["worker"]["ok"] is True
    assert worker.name in body["worker"]["workers"], body
    assert body["ok"] is True
    worker.stop()
    # The ping is broadcast, so a stopped worker is simply absent.
    assert worker.name not in client.get("/health").json()["worker"]["workers"]


def test_pages_need_a_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]
