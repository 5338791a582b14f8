"""The experiments, one module each, imported here in the order they run.

To add one: write ``lab/experiments/<name>.py`` with a function decorated by
:func:`lab.experiment.experiment`, import it below, and write ``docs/lessons/<name>.md``.
"""

from lab.experiments import round_trip, stateless

__all__ = ["round_trip", "stateless"]
