from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.decorators.csrf import csrf_exempt

from . import views
from .main import api


def _token_only(patterns: list) -> list:
    """The API authenticates by token, never by the session: LoginRequiredMiddleware's login
    redirect must not answer it (a missing token is a 401 in JSON)."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            _token_only(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            pattern.callback = login_not_required(pattern.callback)
    return patterns


@csrf_exempt  # token clients send no CSRF token: a POST here is a 404 too, not the CSRF page
@login_not_required
def _no_such_endpoint(request, rest: str):
    """Any other path under /api/v1/: a 404 in the API's error shape, not the site's page."""
    return JsonResponse({"code": "not_found", "message": f"no endpoint /api/v1/{rest}", "field": None,
                         "line": None}, status=404)


api_patterns, api_app, api_namespace = api.urls
urlpatterns = [
    path("api/v1/", include((_token_only(api_patterns), api_app), namespace=api_namespace)),
    re_path(r"^api/v1/(?P<rest>.*)$", _no_such_endpoint),
    path("account/tokens/", views.tokens, name="api_tokens"),
    path("account/tokens/<int:token_id>/revoke/", views.token_revoke_view, name="api_token_revoke"),
]
