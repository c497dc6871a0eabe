"""A person's API tokens page: create one (shown once), see and revoke their own."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from .models import ApiToken
from .services.tokens import token_create, token_revoke


@require_http_methods(["GET", "POST"])
def tokens(request):
    created = None
    if request.method == "POST":
        try:
            created = token_create(user=request.user, name=request.POST.get("name", ""))
        except ValueError as exc:
            messages.error(request, str(exc))
            return redirect("api_tokens")
    # The secret is in this one response only; never stored, never shown again.
    response = render(request, "api/tokens.html", {
        "tokens": ApiToken.objects.filter(user=request.user)[:100],
        "created": created,
    })
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def token_revoke_view(request, token_id: int):
    if token_revoke(user=request.user, token_id=token_id):
        messages.info(request, "Token revoked: it no longer opens the API.")
    else:
        messages.warning(request, "No such active token of yours.")
    return redirect("api_tokens")
