"""Vocabularies shipped inside the package: found, decompressed and sha256-checked.

Nothing is downloaded at run time. Each file sits in ``mockserver/data/vocab`` compressed;
its licence and source are in ``mockserver/data/vocab/NOTICE.md``.
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
from dataclasses import dataclass
from importlib.resources import files


class VocabularyError(RuntimeError):
    """A shipped vocabulary is missing or does not match its recorded checksum."""


@dataclass(frozen=True, slots=True)
class VocabFile:
    """One shipped vocabulary file and the sha256 of its decompressed bytes."""

    filename: str
    sha256: str

    def read(self) -> bytes:
        resource = files("mockserver.data.vocab").joinpath(self.filename)
        try:
            packed = resource.read_bytes()
        except FileNotFoundError as exc:
            raise VocabularyError(
                f"vocabulary {self.filename} is missing from the package; reinstall portway-lab"
            ) from exc
        data = _decompress(self.filename, packed)
        digest = hashlib.sha256(data).hexdigest()
        if digest != self.sha256:
            raise VocabularyError(
                f"vocabulary {self.filename} is corrupt: sha256 {digest}, expected {self.sha256}"
            )
        return data


def _decompress(filename: str, packed: bytes) -> bytes:
    if filename.endswith(".gz"):
        return gzip.decompress(packed)
    if filename.endswith(".xz"):
        return lzma.decompress(packed)
    return packed
