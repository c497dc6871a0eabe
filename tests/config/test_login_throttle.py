"""Login throttling (django-axes, config.login_throttle) through the real login page."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import authenticate
from django.test import RequestFactory
from django.utils import timezone

from config.login_throttle import client_address
from tests.factories import UserFactory

LIMIT = 10


@pytest.fixture(autouse=True)
def throttle(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


@pytest.fixture
def people(db):
    users = {}
    for name in ("priya", "sam"):
        users[name] = UserFactory(username=name)
        users[name].set_password(f"{name}-right")
        users[name].save()
    return users


def log_in(client, username, password, address="10.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_sixty_wrong_passwords_then_the_right_one_is_refused_with_a_clear_message(client, people):
    for _ in range(60):
        assert log_in(client, "priya", "guess").status_code in (200, 429)
    response = log_in(client, "priya", "priya-right")
    assert response.status_code == 429 and not logged_in(client)
    page = response.content.decode()
    assert "There were 10 failed logins for this account or from this address" in page
    assert "until 15 minutes have passed without another" in page


def test_an_account_is_throttled_whatever_the_address(client, people):
    for i in range(LIMIT):
        log_in(client, "priya", "guess", address=f"10.0.1.{i}")
    assert log_in(client, "priya", "priya-right", address="10.0.2.1").status_code == 429
    assert not logged_in(client)
    log_in(client, "sam", "sam-right", address="10.0.2.1")  # another account from there: fine
    assert logged_in(client)


def test_an_address_is_throttled_whatever_the_account(client, people):
    for i in range(LIMIT):
        log_in(client, f"nobody{i}", "guess", address="10.0.3.3")
    assert log_in(client, "sam", "sam-right", address="10.0.3.3").status_code == 429
    assert not logged_in(client)
    log_in(client, "sam", "sam-right", address="10.0.3.4")
    assert logged_in(client)


def test_a_few_mistakes_do_not_lock_anyone_out_and_the_lock_lifts_after_the_wait(client, people):
    for _ in range(LIMIT - 1):
        assert log_in(client, "priya", "typo").status_code == 200
    log_in(client, "priya", "priya-right")
    assert logged_in(client)
    client.logout()
    log_in(client, "priya", "typo")  # the limit reached
    assert log_in(client, "priya", "priya-right").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    log_in(client, "priya", "priya-right")
    assert logged_in(client)


def test_authenticating_without_a_request_is_not_throttled(people):
    # A command or a shell: no address to count (the login pages always pass their request).
    assert authenticate(username="priya", password="priya-right") == people["priya"]


def test_the_client_address_behind_trusted_proxies(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    settings.TRUSTED_PROXIES = 0
    assert client_address(request) == "10.9.9.9"  # X-Forwarded-For is anyone's to write
    settings.TRUSTED_PROXIES = 1
    assert client_address(request) == "203.0.113.7"  # what our one proxy saw, not what the client wrote
    settings.TRUSTED_PROXIES = 3
    assert client_address(request) == "10.9.9.9"
    settings.TRUSTED_PROXIES = 1
    request.META["HTTP_X_FORWARDED_FOR"] = "not-an-address"
    assert client_address(request) == "10.9.9.9"
