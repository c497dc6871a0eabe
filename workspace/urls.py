from django.urls import URLPattern, path

from .views import jobs, labelers

app_name = "workspace"

# One list per page family (corpora, benchmarks, labelers, jobs), each in its views module.
urlpatterns: list[URLPattern] = []

urlpatterns += [
    path("labelers/", labelers.labeler_list, name="labeler_list"),
    path("labelers/new/", labelers.labeler_new, name="labeler_new"),
    path("labelers/<slug:name>/", labelers.labeler_detail, name="labeler_detail"),
    path("labelers/<slug:name>/edit/", labelers.labeler_edit, name="labeler_edit"),
    path("labelers/<slug:name>/test/", labelers.labeler_test_view, name="labeler_test"),
    path("labeling-jobs/", jobs.job_list, name="job_list"),
    path("labeling-jobs/new/", jobs.job_new, name="job_new"),
    path("labeling-jobs/<int:job_id>/", jobs.job_detail, name="job_detail"),
    path("labeling-jobs/<int:job_id>/cancel/", jobs.job_cancel, name="job_cancel"),
]
