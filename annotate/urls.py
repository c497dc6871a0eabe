from django.urls import path

from . import review_views, views

app_name = "annotate"

urlpatterns = [
    path("benchmarks/", views.benchmark_list, name="benchmark_list"),
    path("preferences/highlight/", views.highlight_toggle, name="highlight_toggle"),
    path("benchmarks/<slug:name>/grade/", views.grade, name="grade"),
    path("benchmarks/<slug:name>/guidelines/", views.guidelines, name="guidelines"),
    path("benchmarks/<slug:name>/undo/", views.undo, name="undo"),
    path("benchmarks/<slug:name>/judgments/<int:judgment_id>/", views.regrade, name="regrade"),
    path("benchmarks/<slug:name>/lease/", views.lease_renew, name="lease_renew"),
    # The agreement dashboard: figures from annotate.selectors.dashboard, stored by a worker.
    path("benchmarks/<slug:name>/agreement/", views.agreement, name="agreement"),
    # Review: student-vs-human disagreements, decisions and their audit log (reviewers, admins).
    path("benchmarks/<slug:name>/review/", review_views.review, name="review"),
    path("benchmarks/<slug:name>/review/undo/", review_views.review_undo, name="review_undo"),
    path("benchmarks/<slug:name>/review/log/", review_views.review_log_page, name="review_log"),
    path("benchmarks/<slug:name>/review/spot-checks/", review_views.review_spot_draw, name="review_spot_draw"),
]
