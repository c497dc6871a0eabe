from django.contrib import admin

from .models import Corpus, Document, Judgment, Labeler, ModelLabel, Pair, Query


@admin.register(Corpus)
class CorpusAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["external_id", "title", "author", "source", "modified_at", "corpus"]
    list_filter = ["corpus", "source"]
    search_fields = ["external_id", "title", "author", "path"]
    list_select_related = ["corpus"]
    show_full_result_count = False


@admin.register(Query)
class QueryAdmin(admin.ModelAdmin):
    list_display = ["external_id", "text", "kind", "origin", "corpus"]
    list_filter = ["corpus", "kind", "origin"]
    search_fields = ["external_id", "text"]
    list_select_related = ["corpus"]
    raw_id_fields = ["seed_document", "generator"]
    show_full_result_count = False


@admin.register(Pair)
class PairAdmin(admin.ModelAdmin):
    list_display = ["id", "query", "document", "origin", "bm25_rank"]
    list_filter = ["origin"]
    search_fields = ["query__external_id", "document__external_id"]
    list_select_related = ["query", "document"]
    raw_id_fields = ["query", "document"]
    show_full_result_count = False


@admin.register(Judgment)
class JudgmentAdmin(admin.ModelAdmin):
    list_display = ["pair", "annotator", "grade", "seconds", "input_method", "updated_at"]
    list_filter = ["grade", "input_method", "annotator"]
    list_select_related = ["pair__query", "pair__document", "annotator"]
    raw_id_fields = ["pair"]
    show_full_result_count = False


@admin.register(Labeler)
class LabelerAdmin(admin.ModelAdmin):
    list_display = ["name", "role", "backend", "model_ref", "prompt_version"]
    list_filter = ["role", "backend"]
    search_fields = ["name", "model_ref"]


@admin.register(ModelLabel)
class ModelLabelAdmin(admin.ModelAdmin):
    list_display = ["pair", "labeler", "grade", "expected_grade", "latency_ms"]
    list_filter = ["labeler", "grade"]
    list_select_related = ["pair__query", "pair__document", "labeler"]
    raw_id_fields = ["pair"]
    show_full_result_count = False
