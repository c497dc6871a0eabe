"""htmx in views: the request type that carries `request.htmx` for mypy, and the page-or-fragment
answers every htmx view gives (a page and its fragments live in one template, `{% partialdef %}`)."""

from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's middleware (settings.MIDDLEWARE)."""

    htmx: HtmxDetails


def page_or_fragment(request: HtmxHttpRequest, *, template: str, fragment: str,
                     context: Mapping[str, Any]) -> HttpResponse:
    """The whole page, or only its `fragment` when htmx asks (a poll, a swap)."""
    return render(request, f"{template}#{fragment}" if request.htmx else template, context)


def fragment_or_redirect(request: HtmxHttpRequest, *, template: str, fragment: str,
                         context: Callable[[], Mapping[str, Any]], url: str) -> HttpResponse:
    """After a POST: the fragment for htmx, for a plain form a redirect to `url` (the page that
    shows the same). `context` is only built when the fragment is rendered."""
    if request.htmx:
        return render(request, f"{template}#{fragment}", context())
    return redirect(url)


def redirect_page(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """To another page: htmx loads it whole (HX-Redirect) instead of swapping it into a fragment."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
