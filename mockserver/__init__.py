"""A fake Ollama that is faithful on the wire and exact in its token counts."""

__version__ = "0.1.0"

# The Ollama release whose wire behaviour the fake reproduces (`GET /api/version`): current
# Ollama, ollama/ollama@fb30760996871fa9460115c753afd2c60d4ab0f7 (2026-08-21, tagged
# v0.33.0-rc2). Its server, api, openai, middleware and llm code is unchanged since v0.32.15,
# the newest release that is not a candidate, so the fake reports that.
OLLAMA_VERSION = "0.32.15"
