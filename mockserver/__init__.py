"""A fake Ollama that is faithful on the wire and exact in its token counts."""

__version__ = "0.1.0"

# The Ollama release whose wire behaviour the fake reproduces (`GET /api/version`).
OLLAMA_VERSION = "0.12.6"
