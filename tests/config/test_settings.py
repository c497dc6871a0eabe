"""Settings read from the environment, checked the way a deployment would: a fresh process."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

DEPLOY_WARNINGS = ("security.W004", "security.W008", "security.W012", "security.W016")


def check_deploy(tmp_path, **env) -> str:
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process: no deployment has it.
    unset = ("HTTPS", "HSTS_", "TRUSTED_PROXIES", "DJANGO_ALLOW_ASYNC_UNSAFE")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(unset)}
    environment.update(ASSESSOR_VAR_DIR=str(tmp_path), DEBUG="false", **env)
    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=settings.BASE_DIR,
                          env=environment, capture_output=True, text=True, timeout=120)
    return done.stdout + done.stderr


def test_check_deploy_is_clean_with_https_on(tmp_path):
    output = check_deploy(tmp_path, HTTPS="true")
    assert not [w for w in DEPLOY_WARNINGS if w in output], output


def test_hsts_for_subdomains_and_preload_follow_their_settings(tmp_path):
    output = check_deploy(tmp_path, HTTPS="true", HSTS_INCLUDE_SUBDOMAINS="true", HSTS_PRELOAD="true")
    assert "System check identified no issues" in output, output


def test_https_is_off_by_default_for_the_local_http_run(tmp_path):
    output = check_deploy(tmp_path)
    assert all(w in output for w in DEPLOY_WARNINGS), output  # the honest warnings, off by default


@pytest.mark.django_db
def test_with_https_http_is_redirected_but_health_is_not(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/login/")
    assert response.status_code == 301 and response["Location"].startswith("https://")
    assert client.get("/health").status_code == 200
