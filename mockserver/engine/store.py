"""The model store: manifests and blobs as Ollama keeps them, for pull, create, copy and delete.

Per process and in memory, like Ollama's ``~/.ollama/models`` is per machine: the pulled set is
the catalog (``Catalog.put`` / ``remove``), and the blobs the fake "has" are the layers of the
models it holds plus any uploaded with ``POST /api/blobs/:digest`` (digests and sizes only).

A model's manifest (``server/images.go`` PullModel, ``server/create.go`` createModel): the model
blob, then the template, system, licence and params layers, then the config. Layer digests are
the sha256 of the layer's bytes where the fake holds those bytes: the template and licence texts
of ``engine/modelfiles.py``, the SYSTEM text, and the params layer as Go's ``json.Encoder``
writes the map (sorted keys, a newline): e.g. nomic-embed-text's ``{"num_ctx":8192}`` is
``sha256:ce4a164fc046...``, the digest Ollama prints when pulling it. The model blob and the
config are synthetic (sha256 of a description), sized so that the layers add up to the catalog
size.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, replace
from typing import Any

from mockserver.engine import modelfiles
from mockserver.engine.catalog import ModelCard
from mockserver.wire.gojson import dumps

MODEL = "application/vnd.ollama.image.model"
TEMPLATE = "application/vnd.ollama.image.template"
SYSTEM = "application/vnd.ollama.image.system"
LICENSE = "application/vnd.ollama.image.license"
PARAMS = "application/vnd.ollama.image.params"
CONFIG = "application/vnd.docker.container.image.v1+json"


@dataclass(frozen=True, slots=True)
class Layer:
    media_type: str
    digest: str  # "sha256:<64 hex>"
    size: int

    @property
    def short(self) -> str:
        """What Ollama prints: ``pulling 970aa74c0a90``."""
        return self.digest[7:19]


def _layer(media_type: str, data: bytes) -> Layer:
    return Layer(media_type, "sha256:" + hashlib.sha256(data).hexdigest(), len(data))


def params_json(parameters: tuple[tuple[str, Any], ...]) -> bytes:
    """The params layer: a map (a repeated name, like ``stop``, is a list), Go-encoded."""
    grouped: dict[str, Any] = {}
    for name, value in parameters:
        if name == "stop":
            grouped.setdefault(name, []).append(value)
        else:
            grouped[name] = value
    return dumps(dict(sorted(grouped.items()))) + b"\n"


def registry_parameters(card: ModelCard) -> tuple[tuple[str, Any], ...]:
    """The base model's PARAMETERs (the registry params layer)."""
    from mockserver.engine.embeddings import embedding_model

    embedder = embedding_model(card.family) if card.supports("embedding") else None
    if embedder is not None:
        return embedder.parameters
    modelfile = modelfiles.modelfile_for(card)
    return modelfile.parameters if modelfile is not None else ()


def merged_parameters(card: ModelCard) -> tuple[tuple[str, Any], ...]:
    """``setParameters``: the created model's names replace the base's, the rest are kept."""
    own = {name for name, _ in card.parameters}
    base = tuple(item for item in registry_parameters(card) if item[0] not in own)
    return base + card.parameters


def layers(card: ModelCard) -> list[Layer]:
    """The manifest's layers, the config last (the order a pull reports them in)."""
    modelfile = modelfiles.modelfile_for(card) if not card.supports("embedding") else None
    # The registry's order (model, template, licence, params); createModel removes a replaced
    # template and appends the new one, then appends the system, then re-appends the params.
    extra: list[Layer] = []
    template = modelfile.template if modelfile is not None else ""
    if template and not card.template:
        extra.append(_layer(TEMPLATE, template.encode()))
    if modelfile is not None and modelfile.license:
        extra.append(_layer(LICENSE, modelfile.license.encode()))
    if card.template:
        extra.append(_layer(TEMPLATE, card.template.encode()))
    if card.system:
        extra.append(_layer(SYSTEM, card.system.encode()))
    parameters = merged_parameters(card)
    if parameters:
        extra.append(_layer(PARAMS, params_json(parameters)))
    config = _layer(CONFIG, _config_json(card))
    blob = f"portway-fake/model/{card.arch_family}/{card.parameter_size}/{card.quantization_level}"
    model_size = max(card.size - sum(layer.size for layer in (*extra, config)), 1)
    model = Layer(MODEL, "sha256:" + hashlib.sha256(blob.encode()).hexdigest(), model_size)
    return [model, *extra, config]


def _config_json(card: ModelCard) -> bytes:
    config = {
        "model_format": "gguf",
        "model_family": card.arch_family,
        "model_families": [card.arch_family],
        "model_type": card.parameter_size,
        "file_type": card.quantization_level,
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    return dumps(config)


def manifest_digest(card: ModelCard, parts: list[Layer]) -> str:
    """A created model's digest: sha256 of its layer list (what ``/api/tags`` shows)."""
    text = "\n".join(f"{layer.media_type} {layer.digest} {layer.size}" for layer in parts)
    return hashlib.sha256(f"{card.name}\n{text}".encode()).hexdigest()


def created(
    base: ModelCard, name: str, *, system: str, template: str, parameters: dict
) -> ModelCard:
    """The card of a model created ``from`` ``base`` with its own SYSTEM/TEMPLATE/PARAMETERs."""
    own = tuple(
        (key, item)
        for key, value in parameters.items()
        for item in (value if isinstance(value, list) else [value])
    )
    own_names = {key for key, _ in own}
    kept = tuple(item for item in base.parameters if item[0] not in own_names)
    card = replace(
        base,
        name=name,
        system=system or base.system,
        template=template or base.template,
        parameters=kept + own,
        parent=base.name,
        digest="",
    )
    model_blob = layers(base)[0]
    others = layers(card)[1:]  # the model blob's size does not change them
    card = replace(card, size=model_blob.size + sum(layer.size for layer in others))
    return replace(card, digest=manifest_digest(card, layers(card)))


class Blobs:
    """Digests the fake holds beyond its models' layers (uploaded with ``/api/blobs``)."""

    def __init__(self) -> None:
        self._uploaded: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, digest: str, size: int) -> None:
        with self._lock:
            self._uploaded[digest] = size

    def has(self, digest: str, cards: tuple[ModelCard, ...]) -> bool:
        wanted = digest.replace("-", ":", 1)
        if wanted in self._uploaded:
            return True
        return any(layer.digest == wanted for card in cards for layer in layers(card))
