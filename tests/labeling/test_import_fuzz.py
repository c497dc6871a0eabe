"""Every importer's reader under a property-based fuzzer, on a small fixed budget (issue 15,
"Keep it fixed"): arbitrary bytes and records of the right shape with wrong parts end in a
located error that wrote nothing, or in an import any database stores and a re-import keeps
as it is. The examples are derandomized so CI is reproducible; benchmarks/fuzz_importers.py
runs the same property for minutes with fresh seeds."""

import pytest
from hypothesis import HealthCheck, given, settings

from tests.labeling.fuzzing import TARGETS, Target, check_import, qrels_corpus

EXAMPLES = 200  # per target


@pytest.mark.django_db
@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_importers_end_in_a_located_error_or_an_import(target: Target):
    qrels_corpus()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,  # a hang is caught by check_import's alarm; slowness by the benchmark's figures
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(content=target.inputs)
    def examples(content: bytes) -> None:
        check_import(target, content)

    examples()
