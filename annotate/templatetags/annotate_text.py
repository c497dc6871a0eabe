from django import template
from django.utils.safestring import SafeString

from annotate.text import (
    DOCUMENT_TEXT_LIMIT,
    QUERY_TEXT_LIMIT,
    TITLE_LIMIT,
    Shown,
    document_format,
    document_shown,
    highlight,
    http_url,
    markdown_safe,
)
from annotate.text import text_shown as _text_shown

register = template.Library()


@register.filter
def highlight_terms(text: str, query: str):
    """{{ document.title|highlight_terms:query.text }}: escaped, the query's terms in <mark>
    (a title: at most TITLE_LIMIT characters of it)."""
    html = highlight(text, (query or "")[:QUERY_TEXT_LIMIT], limit=TITLE_LIMIT)
    return html + SafeString("…") if len(text or "") > TITLE_LIMIT else html


@register.simple_tag
def document_text(document, query: str, highlight_terms: bool = True) -> Shown:
    """{% document_text document query.text highlight as shown %}: the first DOCUMENT_TEXT_LIMIT
    characters as written (Markdown and HTML rendered safely), the query's terms highlighted
    unless `highlight_terms` is off; {{ shown.html }}, and {{ shown.note }} when it was cut."""
    fmt = document_format(path=document.path, extra=document.extra, text=document.text)
    return document_shown(document.text, format=fmt, query=query, limit=DOCUMENT_TEXT_LIMIT,
                          highlight_terms=highlight_terms)


@register.simple_tag
def document_format_of(document) -> str:
    """{% document_format_of document as fmt %}: markdown, html or text."""
    return document_format(path=document.path, extra=document.extra, text=document.text)


@register.simple_tag
def query_text(text: str) -> Shown:
    """{% query_text query.text as shown %}: the first QUERY_TEXT_LIMIT characters, escaped."""
    return _text_shown(text, limit=QUERY_TEXT_LIMIT)


@register.filter
def http_link(url: str) -> str | None:
    """{% with href=document.url|http_link %}: the URL if it is http(s), else None (shown as text)."""
    return http_url(url)


@register.filter
def markdown(text: str):
    """{{ benchmark.guidelines|markdown }}: Markdown with any raw HTML shown as text."""
    return markdown_safe(text)
