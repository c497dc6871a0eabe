"""The frontier as a server-side SVG (no JS): agreement with the people against the teacher's
share of the grading, with 95% intervals, beside the teacher's own figure and interval."""

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()
WIDTH, HEIGHT = 420, 230
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 14, 40


@register.simple_tag
def frontier_svg(frontier: list[dict], figure: str = "alpha_ordinal", label: str = "α ordinal") -> SafeString:
    """Points at (teacher share, figure) with their intervals; the teacher's figure as a line in its band.
    Entries whose figure is undefined (null) are left out."""
    interval = "alpha_ci" if figure == "alpha_ordinal" else f"{figure}_ci"

    def defined(entry: dict) -> bool:
        return entry.get(figure) is not None and None not in (entry.get(interval) or [None])

    points = [e for e in frontier if defined(e)]
    if not points:
        return format_html('<p class="muted">No frontier to plot yet.</p>')
    teacher = points[0]["teacher"]
    shown = [*points, teacher] if defined(teacher) else points
    values = [v for e in shown for v in (*e[interval], e[figure])]
    low, high = min([*values, 0.0]), max(values)
    high = high + 0.05 * (high - low or 1)
    top_share = max(max(e["teacher_share"] for e in points), 0.05)

    def x(share: float) -> float:
        return LEFT + share / top_share * (WIDTH - LEFT - RIGHT)

    def y(value: float) -> float:
        return TOP + (high - value) / (high - low or 1) * (HEIGHT - TOP - BOTTOM)

    parts = []
    if defined(teacher):
        t_low, t_high = teacher[interval]
        parts.append(format_html(
            '<rect class="teacher-band" x="{}" y="{}" width="{}" height="{}" fill="#d9480f" fill-opacity=".12"/>'
            '<line class="teacher-line" x1="{}" x2="{}" y1="{}" y2="{}" stroke="#d9480f" stroke-dasharray="4 3"/>'
            '<text x="{}" y="{}" font-size="10" fill="#d9480f" text-anchor="end">teacher {}</text>',
            LEFT, y(t_high), WIDTH - LEFT - RIGHT, max(y(t_low) - y(t_high), 1),
            LEFT, WIDTH - RIGHT, y(teacher[figure]), y(teacher[figure]),
            WIDTH - RIGHT - 2, y(teacher[figure]) - 4, f"{teacher[figure]:.3f}"))
    ordered = sorted(points, key=lambda e: e["teacher_share"])
    path = " ".join(f"{x(e['teacher_share']):.1f},{y(e[figure]):.1f}" for e in ordered)
    parts.append(format_html('<polyline points="{}" fill="none" stroke="#1f6feb" stroke-width="1.5"/>', path))
    parts.append(format_html_join("", (
        '<g class="point {}"><line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#1f6feb"/>'
        '<circle cx="{}" cy="{}" r="4" fill="{}" stroke="#1f6feb"><title>{}: {} {}, 95% [{}, {}], '
        'teacher share {}{}</title></circle></g>'), [
        ("passed" if e["gate"]["passed"] else "failed", x(e["teacher_share"]), x(e["teacher_share"]),
         y(e[interval][0]), y(e[interval][1]), x(e["teacher_share"]), y(e[figure]),
         "#1f6feb" if e["gate"]["passed"] else "#fff", e.get("labeler", ""), label, f"{e[figure]:.3f}",
         f"{e[interval][0]:.3f}", f"{e[interval][1]:.3f}", f"{e['teacher_share']:.1%}",
         ", gate passed" if e["gate"]["passed"] else ", gate not passed")
        for e in ordered]))
    ticks = format_html_join("", '<text x="{}" y="{}" font-size="10" text-anchor="middle">{}</text>',
                             [(x(e["teacher_share"]), HEIGHT - BOTTOM + 14, f"{e['teacher_share']:.0%}")
                              for e in ordered])
    y_ticks = format_html_join("", '<text x="{}" y="{}" font-size="10" text-anchor="end">{}</text>',
                               [(LEFT - 6, y(v) + 3, f"{v:.2f}") for v in (low, (low + high) / 2, high)])
    return format_html(
        '<svg class="chart frontier" role="img" viewBox="0 0 {w} {h}" width="{w}" height="{h}">'
        '<title>{label} against the teacher share</title>'
        '<line x1="{l}" x2="{l}" y1="{t}" y2="{b}" stroke="#9aa4b2"/>'
        '<line x1="{l}" x2="{r}" y1="{b}" y2="{b}" stroke="#9aa4b2"/>'
        '{ticks}{y_ticks}{body}'
        '<text x="{mid}" y="{h1}" font-size="11" text-anchor="middle">teacher share of the grading</text>'
        '<text x="12" y="{midy}" font-size="11" transform="rotate(-90 12 {midy})" text-anchor="middle">{label}</text>'
        '</svg>',
        w=WIDTH, h=HEIGHT, label=label, l=LEFT, r=WIDTH - RIGHT, t=TOP, b=HEIGHT - BOTTOM, ticks=ticks,
        y_ticks=y_ticks, body=format_html_join("", "{}", [(part,) for part in parts]),
        mid=(LEFT + WIDTH - RIGHT) / 2, h1=HEIGHT - 8, midy=(TOP + HEIGHT - BOTTOM) / 2,
    )
