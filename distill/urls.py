from django.urls import path

from . import views

app_name = "distill"
urlpatterns = [
    path("runs/", views.run_list, name="run_list"),
    path("runs/new/", views.run_new, name="run_new"),
    path("runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("runs/<int:run_id>/cancel/", views.run_cancel_view, name="run_cancel"),
    path("runs/<int:run_id>/retry/", views.run_retry_view, name="run_retry"),
    path("runs/<int:run_id>/next-round/", views.run_next_round_view, name="run_next_round"),
]
