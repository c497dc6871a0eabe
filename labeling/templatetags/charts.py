"""Server-side SVG charts of grades: confusion matrices and grade distributions (no JS)."""

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from labeling.grades import GRADES

register = template.Library()
CELL = 34


@register.simple_tag
def confusion_svg(matrix: list[list[int]], rows: str = "human", cols: str = "model") -> SafeString:
    """A 4x4 heat map, rows = reference grade, columns = predicted grade; shade by row share."""
    size = CELL * len(GRADES)
    cells = []
    for r, row in enumerate(matrix):
        total = sum(row) or 1
        for c, count in enumerate(row):
            share = count / total
            cells.append((
                60 + c * CELL, 24 + r * CELL, CELL - 2, CELL - 2, f"{0.08 + 0.85 * share:.2f}",
                60 + c * CELL + CELL / 2 - 1, 24 + r * CELL + CELL / 2 + 4, "#fff" if share > 0.5 else "#1d2430", count,
            ))
    body = format_html_join(
        "", '<rect x="{}" y="{}" width="{}" height="{}" fill="#1f6feb" fill-opacity="{}"/>'
            '<text x="{}" y="{}" fill="{}" text-anchor="middle" font-size="11">{}</text>', cells,
    )
    labels = format_html_join("", '<text x="{}" y="16" text-anchor="middle" font-size="11">{}</text>',
                              [(60 + g * CELL + CELL / 2, g) for g in GRADES])
    labels += format_html_join("", '<text x="50" y="{}" text-anchor="end" font-size="11">{}</text>',
                               [(24 + g * CELL + CELL / 2 + 4, g) for g in GRADES])
    return format_html(
        '<svg class="chart" role="img" viewBox="0 0 {w} {h}" width="{w}" height="{h}">'
        '<title>Confusion: rows {rows}, columns {cols}</title>{labels}{body}'
        '<text x="{mid}" y="{h2}" text-anchor="middle" font-size="11">{cols} grade</text>'
        '<text x="12" y="{midy}" font-size="11" transform="rotate(-90 12 {midy})" text-anchor="middle">{rows}</text>'
        '</svg>',
        w=size + 70, h=size + 46, rows=rows, cols=cols, labels=labels, body=body,
        mid=60 + size / 2, h2=size + 42, midy=24 + size / 2,
    )


@register.simple_tag
def distribution_svg(counts: list[int], label: str = "") -> SafeString:
    """Bars of how often each grade was given."""
    top = max(counts) or 1
    bars = format_html_join(
        "", '<rect x="{}" y="{}" width="26" height="{}" fill="#1f6feb" fill-opacity=".7"/>'
            '<text x="{}" y="{}" text-anchor="middle" font-size="10">{}</text>'
            '<text x="{}" y="96" text-anchor="middle" font-size="11">{}</text>',
        [(10 + g * 36, 82 - 66 * n / top, 66 * n / top, 23 + g * 36, 78 - 66 * n / top, n, 23 + g * 36, g)
         for g, n in zip(GRADES, counts, strict=True)],
    )
    return format_html('<svg class="chart" role="img" viewBox="0 0 160 100" width="160" height="100">'
                       '<title>{}</title>{}</svg>', label or "grade distribution", bars)


@register.simple_tag
def probability_bars(distribution: list[float], label: str = "") -> SafeString:
    """Four small bars: a labeler's probability of each grade, the most likely one darker."""
    if not distribution:
        return format_html('<span class="muted">no distribution</span>')
    top = max(range(len(distribution)), key=distribution.__getitem__)
    bars = format_html_join(
        "", '<rect x="{}" y="{}" width="18" height="{}" fill="#1f6feb" fill-opacity="{}"><title>{}: {}%</title></rect>'
            '<text x="{}" y="44" text-anchor="middle" font-size="10">{}</text>',
        [(2 + g * 22, 32 - 30 * p, max(30 * p, 0.5), ".9" if g == top else ".35", g, round(100 * p), 11 + g * 22, g)
         for g, p in zip(GRADES, distribution, strict=True)],
    )
    return format_html('<svg class="chart bars" role="img" viewBox="0 0 90 46" width="90" height="46">'
                       '<title>{}</title>{}</svg>', label or "grade probabilities", bars)


@register.filter
def column_sums(matrix: list[list[int]]) -> list[int]:
    return [sum(row[c] for row in matrix) for c in range(len(GRADES))]


@register.filter
def row_sums(matrix: list[list[int]]) -> list[int]:
    return [sum(row) for row in matrix]


@register.filter
def key(mapping: dict, name: str):
    """mapping[name], for keys templates cannot spell (\"ndcg@10\")."""
    return mapping.get(name) if isinstance(mapping, dict) else None
