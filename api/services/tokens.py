"""Creating, revoking and checking API tokens."""

import hashlib
import secrets
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from ..models import ApiToken

TOKEN_PREFIX = "asr_"
MAX_TOKENS_PER_USER = 20  # active ones: a bound on what one account can mint
MAX_TOKEN_CHARS = 200  # anything longer is not one of ours: refused before hashing


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # the whole token, shown once, never stored


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def token_create(*, user, name: str) -> NewToken:
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("a token needs a name of 1 to 100 characters")
    if ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_TOKENS_PER_USER:
        raise ValueError(f"at most {MAX_TOKENS_PER_USER} active tokens per person: revoke one first")
    body = secrets.token_urlsafe(32)
    secret = TOKEN_PREFIX + body
    token = ApiToken.objects.create(user=user, name=name, prefix=body[:8], digest=token_digest(secret))
    return NewToken(token=token, secret=secret)


def token_revoke(*, user, token_id: int) -> bool:
    """Revoke one of `user`'s own tokens; False if it is not theirs or already revoked."""
    return bool(ApiToken.objects.filter(id=token_id, user=user, revoked_at__isnull=True)
                .update(revoked_at=timezone.now()))


def token_authenticate(*, secret: str) -> ApiToken | None:
    """The active token with this secret, of an active user; None otherwise. Marks it used
    (at most once a minute, so a busy pipeline does not write a row per request)."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > MAX_TOKEN_CHARS:
        return None
    token = (ApiToken.objects.select_related("user")
             .filter(digest=token_digest(secret), revoked_at__isnull=True, user__is_active=True).first())
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=now), id=token.id).update(
            last_used_at=now)
        token.last_used_at = now
    return token
