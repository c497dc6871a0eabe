"""Login throttling with django-axes: failed logins are counted in the database (every gunicorn
process and web host shares the count; a cache-based limit would need a shared cache the
embedded default does not have), per account and per client address.

After LOGIN_FAILURE_LIMIT failures within LOGIN_LOCKOUT_MINUTES, for one account from any
address or from one address on any account, logins there are refused (429, the login page
saying why) until that many minutes pass without another failure.
"""

import ipaddress

from axes.backends import AxesStandaloneBackend
from django.conf import settings


class LoginThrottleBackend(AxesStandaloneBackend):
    """Axes' check, for logins that come with a request (the login pages). Code that
    authenticates without one (a shell, a command) has no address to count and is not throttled."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def _address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_address(request) -> str | None:
    """The client's address: REMOTE_ADDR, or behind TRUSTED_PROXIES proxies the address the
    outermost one saw (each appends who connected to it to X-Forwarded-For, so it is the
    TRUSTED_PROXIES-th entry from the right; entries left of it are the client's to invent)."""
    remote = _address(request.META.get("REMOTE_ADDR", ""))
    proxies = settings.TRUSTED_PROXIES
    if not proxies:
        return remote
    forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < proxies:
        return remote
    return _address(forwarded[-proxies]) or remote
