"""``python -m lab check -- COMMAND``: does a student's own client code keep the contract?

The bundled fake runs with its request journal on; the student's program talks to it through
``OPENAI_BASE_URL`` / ``OLLAMA_HOST``; then each contract point (:mod:`lab.check.points`) is
checked against what the journal recorded: pass, fail or n/a, with the evidence. ``--json`` and
the exit code (0 nothing failed, 1 a point failed, 2 the program could not be started) are for
autograders.
"""
