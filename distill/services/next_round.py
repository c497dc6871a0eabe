"""The next round: a run like a previous one whose training data include the reviewers'
decisions on its benchmark (annotate's review queue), and whose report compares its student
with the previous round's.

At launch the benchmark's adjudications are copied into the run's config
(config["adjudicated"]), so the run trains on the decisions as they stood when it started
and a resumed stage reads the same ones. In training (`training_targets`, distill.selectors) a decided pair's
target is the reviewer's grade, one-hot, instead of the teacher's distribution; a pair
flagged ambiguous is left out; decided benchmark pairs the teacher never labeled join the
training side (validation stays the teacher's, on the run's own queries).
"""

from copy import deepcopy

from annotate.selectors import benchmark_adjudications

from ..models import Run
from .runs import run_launch


def run_next_round(*, previous: Run, user=None, enqueue: bool = True) -> Run:
    """Launch the round after `previous` (a run that succeeded, with a benchmark): its config,
    plus the benchmark's adjudicated grades and ambiguous pairs."""
    if previous.benchmark is None:
        raise ValueError("That run has no benchmark, so no reviewed pairs to learn from.")
    if previous.status != Run.Status.SUCCEEDED:
        raise ValueError("Only a run that succeeded has a student to improve on.")
    decided = benchmark_adjudications(benchmark=previous.benchmark)
    earlier = previous.config.get("next_round", {})
    number, base = earlier.get("round", 1) + 1, earlier.get("base_name", previous.name)
    config = {key: value for key, value in deepcopy(previous.config).items()
              if key not in ("next_round", "adjudicated")}
    config["next_round"] = {"previous_run": previous.id, "round": number, "base_name": base}
    config["adjudicated"] = {
        "benchmark": previous.benchmark.name,
        "grades": sorted([pair_id, grade] for pair_id, grade in decided.items() if grade is not None),
        "ambiguous": sorted(pair_id for pair_id, grade in decided.items() if grade is None),
    }
    return run_launch(name=f"{base[:180]} · round {number}", corpus=previous.corpus, benchmark=previous.benchmark,
                      config=config, user=user, enqueue=enqueue)
