from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.db.models import Q

from .models import Adjudication, Benchmark, BenchmarkItem, Lease, Membership, ReviewDecision, Skip
from .roles import roles_grantable
from .services import benchmark_counts_refresh

User = get_user_model()


class AssessorUserAdmin(UserAdmin):
    """Users, for the admin role too, without a way up: only a superuser sets superuser or staff
    status or single permissions, or changes a superuser (their password included); anyone
    else grants only their own role and those below it (roles_grantable)."""

    PRIVILEGED = ("is_staff", "is_superuser", "user_permissions")

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else fields + self.PRIVILEGED

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if not request.user.is_superuser and "groups" in form.base_fields:
            # The user's current groups stay choices (saving keeps them); only grantable ones are added.
            allowed = Q(name__in=roles_grantable(user=request.user))
            if obj is not None:
                allowed |= Q(pk__in=obj.groups.values("pk"))
            form.base_fields["groups"].queryset = Group.objects.filter(allowed)
        return form

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)


admin.site.unregister(User)
admin.site.register(User, AssessorUserAdmin)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]
    fields = ["user", "guidelines_seen_at", "judged_regular", "judged_gold", "judged_calibration"]
    readonly_fields = ["guidelines_seen_at", "judged_regular", "judged_gold", "judged_calibration"]


@admin.register(Benchmark)
class BenchmarkAdmin(admin.ModelAdmin):
    list_display = ["name", "title", "judgments_required", "gold_rate", "gold_min_accuracy", "exclude_gated",
                    "regular_count", "gold_count", "calibration_count", "created_at"]
    search_fields = ["name", "title"]
    readonly_fields = ["regular_count", "gold_count", "calibration_count"]
    inlines = [MembershipInline]
    actions = ["refresh_counts"]

    @admin.action(description="Recount items and judgments (after importing judgments or editing items)")
    def refresh_counts(self, request, queryset):
        for benchmark in queryset:
            benchmark_counts_refresh(benchmark=benchmark, judgment_counts=True)
        self.message_user(request, f"Recounted {queryset.count()} benchmark(s).", messages.SUCCESS)


@admin.register(BenchmarkItem)
class BenchmarkItemAdmin(admin.ModelAdmin):
    list_display = ["benchmark", "pair", "gold_grade", "is_calibration", "judgment_count", "position"]
    list_filter = ["benchmark", "is_calibration"]
    list_select_related = ["benchmark", "pair__query", "pair__document"]
    raw_id_fields = ["pair"]
    readonly_fields = ["judgment_count"]
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        benchmark_counts_refresh(benchmark=obj.benchmark)

    def delete_model(self, request, obj):
        benchmark = obj.benchmark
        super().delete_model(request, obj)
        benchmark_counts_refresh(benchmark=benchmark)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["benchmark", "user", "judged_regular", "judged_gold", "judged_calibration", "guidelines_seen_at"]
    list_filter = ["benchmark"]
    list_select_related = ["benchmark", "user"]
    raw_id_fields = ["user"]
    readonly_fields = ["judged_regular", "judged_gold", "judged_calibration"]


@admin.register(Lease)
class LeaseAdmin(admin.ModelAdmin):
    list_display = ["item", "annotator", "created_at", "expires_at"]
    list_select_related = ["item", "annotator"]
    raw_id_fields = ["item"]
    show_full_result_count = False


@admin.register(Skip)
class SkipAdmin(admin.ModelAdmin):
    list_display = ["item", "annotator", "created_at"]
    list_select_related = ["item", "annotator"]
    raw_id_fields = ["item"]
    show_full_result_count = False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Written only by the review service (annotate.services.review): shown, never changed here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(ReadOnlyAdmin):
    list_display = ["decided_at", "decided_by", "benchmark", "pair", "action", "before_label", "after_label", "comment"]
    list_filter = ["benchmark", "action"]
    list_select_related = ["decided_by", "benchmark", "pair__query", "pair__document"]
    show_full_result_count = False


@admin.register(Adjudication)
class AdjudicationAdmin(ReadOnlyAdmin):
    list_display = ["benchmark", "pair", "grade", "ambiguous", "decided_by", "decided_at"]
    list_filter = ["benchmark", "ambiguous"]
    list_select_related = ["decided_by", "benchmark", "pair__query", "pair__document"]
    show_full_result_count = False
