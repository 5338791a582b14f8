"""``python -m tools.pack_vocab``: the gpt-oss tokens in the form the fake loads fastest.

``o200k_base.tiktoken`` (shipped as upstream wrote it) is 200,019 lines of ``base64 rank``;
parsing it into tiktoken's ranks (split, base64-decode, a dict) is most of the vocabulary's
load and sits between the fake's start and its first answer. This writes the same tokens, in
rank order, as one ``marshal`` list of bytes (gzip -9): ``marshal.loads`` builds the list in C,
about 3x faster than the parse. Prints the sha256 of the decompressed file, for
``tokenizers.O200K_TOKENS`` and ``mockserver/data/vocab/NOTICE.md``.
``tests/test_tokenizers.py`` checks that the two files hold the same ranks.
"""

from __future__ import annotations

import gzip
import hashlib
import marshal
from pathlib import Path

from mockserver.engine.tokenizers import O200K_BASE, O200K_TOKENS, _tiktoken_ranks

VOCAB = Path(__file__).resolve().parents[1] / "mockserver" / "data" / "vocab"


def main() -> None:
    ranks = _tiktoken_ranks(O200K_BASE.read())
    tokens = sorted(ranks, key=ranks.__getitem__)
    if [ranks[token] for token in tokens] != list(range(len(tokens))):
        raise SystemExit("o200k_base's ranks are not 0..n-1: a token list cannot hold them")
    data = marshal.dumps(tokens, 4)
    (VOCAB / O200K_TOKENS.filename).write_bytes(gzip.compress(data, 9, mtime=0))
    print(O200K_TOKENS.filename, hashlib.sha256(data).hexdigest())


if __name__ == "__main__":
    main()
