from pathlib import Path

import factory
from django.contrib.auth import get_user_model

from annotate.models import Benchmark, BenchmarkItem
from labeling.labelers.classifier import classifier_load
from labeling.model_registry import model_path
from labeling.models import Corpus, Document, Judgment, Labeler, ModelLabel, Pair, Query


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"annotator{n}")


class CorpusFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Corpus
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"corpus-{n}")


class DocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Document

    corpus = factory.SubFactory(CorpusFactory)
    external_id = factory.Sequence(lambda n: f"doc-{n}")
    title = factory.Sequence(lambda n: f"Document {n}")
    text = factory.Sequence(lambda n: f"Text of document {n} about expense reports and travel.")


class QueryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Query

    corpus = factory.SubFactory(CorpusFactory)
    external_id = factory.Sequence(lambda n: f"q-{n}")
    text = factory.Sequence(lambda n: f"query number {n}")


class PairFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pair

    query = factory.SubFactory(QueryFactory)
    document = factory.SubFactory(DocumentFactory, corpus=factory.SelfAttribute("..query.corpus"))


class JudgmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Judgment

    pair = factory.SubFactory(PairFactory)
    annotator = factory.SubFactory(UserFactory)
    grade = 2


class LabelerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Labeler
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"labeler-{n}")
    role = Labeler.Role.RECORDED
    backend = Labeler.Backend.RECORDED


class ModelLabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelLabel

    pair = factory.SubFactory(PairFactory)
    labeler = factory.SubFactory(LabelerFactory)
    grade = 1
    distribution = [0.0, 1.0, 0.0, 0.0]
    expected_grade = 1.0


class BenchmarkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Benchmark
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"bench-{n}")


class BenchmarkItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BenchmarkItem

    benchmark = factory.SubFactory(BenchmarkFactory)
    pair = factory.SubFactory(PairFactory)


def seeded_student_save(folder: Path) -> Path:
    """A small "fine-tuned" cross-encoder student saved in `folder`: MiniLM with its pooler and
    head drawn from a fixed seed, large enough that grades are decided by the pair, not by
    rounding (a fresh head's logits are all near 0)."""
    import torch  # only the tests that build a student pay for torch and transformers
    from transformers import AutoTokenizer

    base = model_path("minilm-l6")
    model = classifier_load(base)
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        model.bert.pooler.dense.weight.normal_(0, 0.2, generator=generator)
        model.classifier.weight.normal_(0, 0.3, generator=generator)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(base).save_pretrained(folder)
    return folder
