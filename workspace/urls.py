from django.urls import URLPattern

app_name = "workspace"

# One list per page family (corpora, benchmarks, labelers, jobs), each in its views module.
urlpatterns: list[URLPattern] = []
