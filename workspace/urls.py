from django.urls import path

from .views import benchmarks, corpora, downloads, jobs, labelers

app_name = "workspace"

# One list per page family (corpora, benchmarks, labelers, jobs), each in its views module.
urlpatterns = [
    path("corpora/", corpora.corpus_list, name="corpus_list"),
    path("corpora/new/", corpora.corpus_new, name="corpus_new"),
    path("corpora/<slug:name>/", corpora.corpus_detail, name="corpus_detail"),
    path("corpora/<slug:name>/import/", corpora.corpus_import, name="corpus_import"),
    path("corpora/<slug:name>/documents/<int:document_id>/", corpora.document_detail, name="document_detail"),
    path("imports/<int:job_id>/", corpora.import_detail, name="import_detail"),
]
urlpatterns += [
    path("benchmarks/new/", benchmarks.benchmark_new, name="benchmark_new"),
    path("benchmarks/builds/<int:build_id>/", benchmarks.build_detail, name="build_detail"),
    path("benchmarks/<slug:name>/setup/", benchmarks.benchmark_setup, name="benchmark_setup"),
    path("benchmarks/<slug:name>/members/<int:user_id>/remove/", benchmarks.member_remove, name="member_remove"),
]
urlpatterns += [
    path("downloads/qrels/", downloads.qrels_download, name="qrels_download"),
]
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
