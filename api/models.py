"""API tokens: shown once to their owner, stored as a SHA-256 digest.

A token is 32 random bytes (url-safe base64), so a plain digest is enough: there is nothing to
guess, and a slow password hash would cost every request its milliseconds. The prefix (the
first characters after "asr_") is kept in clear so a person can tell their tokens apart.
"""

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for (\"nightly eval pipeline\").")
    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class RateWindow(models.Model):
    """Requests a token made in one fixed window of one limited scope ("judge", "import"):
    counted in the database so every web process shares the count."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+", db_index=False)
    scope = models.CharField(max_length=20)
    window = models.BigIntegerField(help_text="Start of the window, in seconds since the epoch.")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "scope", "window"], name="ratewindow_unique_token_scope_window"),
        ]
