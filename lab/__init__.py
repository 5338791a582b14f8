"""Portway Lab: run the OpenAI-compatible stateless contract against a target and explain it.

``python -m lab run`` makes the Post 1 calls with the official ``openai`` SDK against the bundled
fake Ollama, a local Ollama, or any OpenAI-compatible server, and says in plain words what each
call shows. ``python -m lab models`` prints the model table and what fits this machine.
"""

__version__ = "0.1.0"
