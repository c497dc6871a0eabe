from django import template

from annotate.text import DOCUMENT_TEXT_LIMIT, highlight, markdown_safe

register = template.Library()


@register.filter
def highlight_terms(text: str, query: str):
    """{{ document.text|highlight_terms:query.text }}: escaped, the query's terms in <mark>."""
    return highlight(text, query, limit=DOCUMENT_TEXT_LIMIT)


@register.filter
def markdown(text: str):
    """{{ benchmark.guidelines|markdown }}: Markdown with any raw HTML shown as text."""
    return markdown_safe(text)
