from django.db import models

from labeling.grades import Grade
from labeling.models import Pair


class Benchmark(models.Model):
    """A named set of pairs that people grade, several annotators per pair."""

    name = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200, blank=True)
    guidelines = models.TextField(blank=True, help_text="Markdown, shown before the first pair.")
    judgments_required = models.PositiveSmallIntegerField(default=3)
    pairs = models.ManyToManyField(Pair, through="BenchmarkItem", related_name="benchmarks")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.title or self.name


class BenchmarkItem(models.Model):
    benchmark = models.ForeignKey(Benchmark, on_delete=models.CASCADE, related_name="items", db_index=False)
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="benchmark_items")
    # Gold items carry a known grade and are mixed into annotators' queues to check them.
    gold_grade = models.PositiveSmallIntegerField(choices=Grade.choices, null=True, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["benchmark", "pair"], name="benchmarkitem_unique_pair"),
        ]
        ordering = ["position", "id"]
