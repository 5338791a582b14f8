"""The experiments, one module each; :data:`ORDER` is the order they run in.

To add one: write ``lab/experiments/<name>.py`` with a function decorated by
:func:`lab.experiment.experiment` under the same name, add the name to :data:`ORDER`, and write
``lab/lessons/<name>.md`` (package data: it ships in the wheel). The modules are imported by
:func:`lab.experiment.registered` when the registry is first needed, so a command that only
needs the names (``--help``, ``models``) imports none of them.
"""

ORDER = (
    "round_trip",  # Post 1, the default pair
    "stateless",
    "streaming_usage",
    "determinism",
    "history_growth",
    "context_overflow",
    "reasoning",
    "models_and_errors",
)
