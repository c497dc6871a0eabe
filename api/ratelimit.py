"""Per-token rate limits for the costly endpoints (judge, imports): a fixed window per token and
scope, counted in the database (RateWindow) so every web process shares the count."""

import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from .auth import token_of
from .errors import ApiError
from .models import RateWindow

SCOPES = {"judge": ("API_JUDGE_PER_MINUTE", 60, "a minute"), "import": ("API_IMPORTS_PER_HOUR", 3600, "an hour")}


def rate_limit(request, scope: str) -> None:
    """Count this request; 429 (with Retry-After in its message) past the token's limit."""
    setting, period, per = SCOPES[scope]
    limit = getattr(settings, setting)
    now = time.time()
    window = int(now // period * period)
    token = token_of(request)
    counted = RateWindow.objects.filter(token=token, scope=scope, window=window)
    if not counted.filter(count__lt=limit).update(count=F("count") + 1):
        if counted.exists():
            wait = int(window + period - now) + 1
            raise ApiError(429, "rate_limited", f"at most {limit} {scope} requests {per} for one token; "
                           f"try again in {wait} s", headers={"Retry-After": str(wait)})
        try:
            with transaction.atomic():
                RateWindow.objects.create(token=token, scope=scope, window=window, count=1)
        except IntegrityError:  # another process made it first: count there
            counted.update(count=F("count") + 1)
        RateWindow.objects.filter(token=token, scope=scope, window__lt=window).delete()
