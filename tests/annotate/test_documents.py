"""Documents as written (annotate.text): Markdown and HTML rendered and sanitized by nh3 (no
scripts, no remote loads, only http(s) links), plain text escaped as before; the query's terms
marked only in text, never inside a tag or an entity; the highlight choice kept per person."""

import pytest
from django.urls import reverse

from annotate.selectors import highlight_preference
from annotate.text import HTML, MARKDOWN, TEXT, document_format, document_shown, highlight_html

from .conftest import make_annotators

HOSTILE = """# Budget review

Some **bold** words and `inline code`.

```
budget = 3
```

<script>alert(1)</script><img src="https://tracker.example/p.gif" onerror="alert(2)">
<a href="javascript:alert(3)">js</a> <a href="/admin/">local</a> <a href="https://ok.example/budget">ok</a>
<iframe src="https://evil.example"></iframe><style>body{display:none}</style>
<p onclick="alert(4)" style="background:url(https://x.example/y)">styled</p>
"""


def test_the_format_comes_from_metadata_then_the_suffix():
    assert document_format(path="finance/policy.md") == MARKDOWN
    assert document_format(path="a.txt") == TEXT
    assert document_format(path="x", extra={"format": "HTML"}) == HTML
    assert document_format(path="page.html", text="Plain text the importer kept") == TEXT
    assert document_format(path="page.html", text="<p>markup</p>") == HTML
    assert document_format(path="notes.md", extra={"content_type": "text/plain"}) == TEXT


def test_markdown_renders_and_nothing_hostile_survives():
    html = str(document_shown(HOSTILE, format=MARKDOWN, query="budget", limit=10_000).html)
    assert "<h1><mark>Budget</mark> review</h1>" in html
    assert "<strong>bold</strong>" in html and "<code>inline code</code>" in html and "<pre><code>" in html
    for bad in ("<script", "alert(1)", "<img", "onerror", "javascript:", "<iframe", "<style", "onclick", "style=",
                'href="/admin/"', "tracker.example"):
        assert bad not in html, bad
    assert '<a href="https://ok.example/budget" target="_blank" rel="noopener noreferrer nofollow">ok</a>' in html


def test_highlighting_touches_text_only():
    html = highlight_html('<a href="https://x.example/amp" title="amp">amp &amp; amplify</a>', "amp")
    assert html == '<a href="https://x.example/amp" title="amp"><mark>amp</mark> &amp; <mark>amplify</mark></a>'
    plain = document_shown("<b>budget</b>", format=TEXT, query="budget", limit=100, highlight_terms=False)
    assert str(plain.html) == "&lt;b&gt;budget&lt;/b&gt;"  # plain text as today, no mark when off


@pytest.mark.django_db
def test_the_highlight_toggle_is_kept_per_person_and_goes_back_only_to_this_site(client, bench_factory):
    bench = bench_factory(n=2, required=1)
    (person,) = make_annotators(1, benchmark=bench)
    client.force_login(person)
    grade_url = reverse("annotate:grade", args=[bench.name])
    assert 'aria-pressed="true"' in client.get(grade_url).content.decode()
    response = client.post(reverse("annotate:highlight_toggle"), {"highlight": "0", "next": grade_url})
    assert response["Location"] == grade_url and highlight_preference(user=person) is False
    page = client.get(grade_url).content.decode()
    assert "Highlight query terms: off" in page and "<mark>" not in page.split('id="doc-text"')[1]
    response = client.post(reverse("annotate:highlight_toggle"), {"highlight": "1", "next": "https://evil.example/"})
    assert response["Location"] == reverse("annotate:benchmark_list") and highlight_preference(user=person)
