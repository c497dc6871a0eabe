import pytest
from django.db import IntegrityError, transaction

from tests.factories import JudgmentFactory, ModelLabelFactory, PairFactory


@pytest.mark.django_db
def test_a_pair_is_unique_per_query_and_document():
    pair = PairFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        PairFactory(query=pair.query, document=pair.document)


@pytest.mark.django_db
@pytest.mark.parametrize("factory", [JudgmentFactory, ModelLabelFactory])
def test_grades_outside_0_to_3_are_refused_by_the_database(factory):
    with pytest.raises(IntegrityError), transaction.atomic():
        factory(grade=4)


@pytest.mark.django_db
def test_one_judgment_per_pair_and_annotator():
    judgment = JudgmentFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        JudgmentFactory(pair=judgment.pair, annotator=judgment.annotator, grade=0)
