"""Posts 2 and 3 of the series: two llama-server backends, and a LiteLLM gateway in front.

``python -m lab post 2`` / ``post 3`` (``nox -s mock -- --post 3``). These experiments need
more than one target, so they get a :class:`lab.series.targets.Stack` (the backends, and the
gateway for Post 3) instead of the one-target :class:`lab.context.Lab`; they return the same
:class:`lab.experiment.Finding`, printed by :mod:`lab.report` or as ``--json``.
"""
