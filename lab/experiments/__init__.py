"""The experiments, one module each, imported here in the order they run.

To add one: write ``lab/experiments/<name>.py`` with a function decorated by
:func:`lab.experiment.experiment`, import it below, and write ``lab/lessons/<name>.md``
(package data: it ships in the wheel).
Importing registers, so the import order below is the run order (hence no sorting).
"""

# isort: skip_file
from lab.experiments import round_trip, stateless  # Post 1, the default pair
from lab.experiments import streaming_usage, determinism
from lab.experiments import history_growth, context_overflow
from lab.experiments import reasoning, models_and_errors

__all__ = [
    "context_overflow",
    "determinism",
    "history_growth",
    "models_and_errors",
    "reasoning",
    "round_trip",
    "stateless",
    "streaming_usage",
]
