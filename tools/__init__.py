"""Developer tooling for Portway Lab (not shipped in the wheel).

`tools.llamacpp_server` starts llama.cpp's OpenAI-compatible server (llama-cpp-python) on
loopback with the Gemma 3 270M GGUF from PyPI; `tools.nox_llamacpp` is the `nox -s llamacpp`
session body. See tools/LLAMACPP_NOTES.md.
"""
