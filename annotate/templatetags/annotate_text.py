from django import template
from django.utils.safestring import SafeString

from annotate.text import DOCUMENT_TEXT_LIMIT, QUERY_TEXT_LIMIT, TITLE_LIMIT, Shown, highlight, http_url, markdown_safe
from annotate.text import text_shown as _text_shown

register = template.Library()


@register.filter
def highlight_terms(text: str, query: str):
    """{{ document.title|highlight_terms:query.text }}: escaped, the query's terms in <mark>
    (a title: at most TITLE_LIMIT characters of it)."""
    html = highlight(text, (query or "")[:QUERY_TEXT_LIMIT], limit=TITLE_LIMIT)
    return html + SafeString("…") if len(text or "") > TITLE_LIMIT else html


@register.simple_tag
def document_text(text: str, query: str) -> Shown:
    """{% document_text document.text query.text as shown %}: the first DOCUMENT_TEXT_LIMIT
    characters, highlighted; {{ shown.html }}, and {{ shown.note }} when it was cut."""
    return _text_shown(text, query=query, limit=DOCUMENT_TEXT_LIMIT)


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
