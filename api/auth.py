"""Token authentication and the browser's roles (annotate.roles) for the API.

No token, a wrong or revoked one: 401. A token whose owner's role lacks the permission an
endpoint needs: 403. What a user may see (an annotator's own benchmarks) is the browser's
selectors' business, so the API shows exactly what the pages show.
"""

from django.http import HttpRequest
from ninja.security import HttpBearer

from .errors import ApiError
from .models import ApiToken
from .services.tokens import token_authenticate


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        found = token_authenticate(secret=token.strip())
        if found is not None:
            request.user = found.user  # the selectors read request.user, as for a page
        return found


def user_of(request: HttpRequest):
    return request.auth.user  # type: ignore[attr-defined]  # set by TokenAuth


def token_of(request: HttpRequest) -> ApiToken:
    return request.auth  # type: ignore[attr-defined]


def require(request: HttpRequest, *permissions: str) -> None:
    """403 unless the token's owner has every one of these permissions (their role's)."""
    user = user_of(request)
    if not (user.is_active and user.has_perms(permissions)):
        raise ApiError(403, "forbidden", f"your role does not allow this (needs {', '.join(permissions)})")
