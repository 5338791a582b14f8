"""Package data: the fidelity corpus that ``python -m lab fidelity`` sends.

``fidelity-cases.json`` (the published real-Ollama counts, a verbatim copy of the shared
reference) and ``fidelity_corpus.json`` (the template-rule corpus). The only copies: the tests
read them here too, and the command works from an installed wheel.
"""
