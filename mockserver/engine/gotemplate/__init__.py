"""Go's ``text/template``, in Python: lexer, parser and executor with Go's semantics.

No maintained Python implementation exists on PyPI (the one package found, a CGo wrapper at
version 0.0.2, cannot take Ollama's Go types and functions), so this is a small port written
from a reading of Go's ``text/template`` (``parse/lex.go``, ``parse/parse.go``, ``exec.go``,
``funcs.go``) and ``fmt``; ``tests/test_gotemplate.py`` checks it against Go itself.
"""

from mockserver.engine.gotemplate.execute import ExecError, GoFunc, Template
from mockserver.engine.gotemplate.parse import ParseError
from mockserver.engine.gotemplate.values import INVALID, GoMap, GoSlice, GoStruct

__all__ = [
    "INVALID",
    "ExecError",
    "GoFunc",
    "GoMap",
    "GoSlice",
    "GoStruct",
    "ParseError",
    "Template",
]
