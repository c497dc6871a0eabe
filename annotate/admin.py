from django.contrib import admin

from .models import Benchmark, BenchmarkItem


@admin.register(Benchmark)
class BenchmarkAdmin(admin.ModelAdmin):
    list_display = ["name", "title", "judgments_required", "created_at"]
    search_fields = ["name", "title"]


@admin.register(BenchmarkItem)
class BenchmarkItemAdmin(admin.ModelAdmin):
    list_display = ["benchmark", "pair", "gold_grade", "position"]
    list_filter = ["benchmark"]
    list_select_related = ["benchmark", "pair__query", "pair__document"]
    raw_id_fields = ["pair"]
    show_full_result_count = False
