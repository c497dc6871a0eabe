import pytest


@pytest.mark.django_db
def test_health_reports_database_and_broker_without_login(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert set(body) == {"database", "broker", "worker", "ok"}


@pytest.mark.worker
def test_health_lists_a_running_worker(client, celery_worker_process):
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
