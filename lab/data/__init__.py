"""Package data: the fidelity corpus that ``python -m lab fidelity`` sends.

Copies of ``tests/data/fidelity-cases.json`` and ``tests/fidelity_corpus.json``, kept identical
(``tests/test_lab_fidelity.py`` checks), so that the command works from an installed wheel.
"""
