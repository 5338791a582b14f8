"""Loopback benchmark of the fake Ollama against bare ASGI ceilings (``nox -s bench``)."""
