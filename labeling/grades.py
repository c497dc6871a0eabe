"""The grade scale: TREC Deep Learning / UMBRELA's four levels."""

from django.db import models


class Grade(models.IntegerChoices):
    IRRELEVANT = 0, "Irrelevant"
    RELATED = 1, "Related"
    HIGHLY_RELEVANT = 2, "Highly relevant"
    PERFECTLY_RELEVANT = 3, "Perfectly relevant"


GRADES = tuple(Grade.values)
MIN_GRADE, MAX_GRADE = GRADES[0], GRADES[-1]

DEFINITIONS = {
    Grade.IRRELEVANT: "The document has nothing to do with the query.",
    Grade.RELATED: "On the query's topic, but it does not answer it.",
    Grade.HIGHLY_RELEVANT: "Answers the query, partly or buried among other text.",
    Grade.PERFECTLY_RELEVANT: "Dedicated to the query; it holds the exact answer.",
}
