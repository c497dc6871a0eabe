from django.urls import path

from .views import benchmarks, corpora, downloads

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
