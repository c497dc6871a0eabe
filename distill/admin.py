from django.contrib import admin

from .models import Run


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["name", "corpus", "status", "stage", "created_at", "finished_at"]
    list_filter = ["status", "stage"]
    readonly_fields = ["created_at", "started_at", "finished_at"]
