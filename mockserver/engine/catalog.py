"""The models the fake knows, and which of them it "has pulled".

Names resolve as Ollama resolves them: a bare name means ``name:latest``, matching is
case-insensitive, and the client's spelling is echoed back verbatim by the wire layer.
Sizes, parameter counts and quantizations are the registry's published figures for each tag;
digests are synthetic (sha256 of the tag) except where the registry's is public.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # families loads every template and tokenizer: only when one is needed
    from mockserver.engine.families import Family


@dataclass(frozen=True, slots=True)
class ModelCard:
    """One tag as ``ollama list`` / ``ollama show`` describe it."""

    name: str
    family: str
    arch_family: str
    parameter_size: str
    quantization_level: str
    size: int
    context_length: int
    capabilities: tuple[str, ...]
    digest: str = ""
    min_ram_gb: float = 0.0
    note: str = ""
    # A model made with ``/api/create`` (or ``ollama create``) from another: its own SYSTEM,
    # TEMPLATE and PARAMETER layers over the base model's (``engine/store.py``).
    system: str = ""
    template: str = ""
    parameters: tuple[tuple[str, Any], ...] = ()
    parent: str = ""  # details.parent_model: the model it was created from
    modified_at: datetime | None = None  # pulled, copied or created while serving: that time

    @property
    def full_digest(self) -> str:
        return self.digest or hashlib.sha256(f"portway-fake/{self.name}".encode()).hexdigest()

    @property
    def full_name(self) -> str:
        """The fully qualified name Ollama prints in capability errors."""
        namespace, _, rest = self.name.rpartition("/")
        return f"registry.ollama.ai/{namespace or 'library'}/{rest}"

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities


_TEXT_TOOLS = ("completion", "tools")


def _card(name: str, family: str, arch: str, params: str, quant: str, size: int, ctx: int,
          capabilities: tuple[str, ...], **extra) -> ModelCard:  # fmt: skip
    return ModelCard(name, family, arch, params, quant, size, ctx, capabilities, **extra)


# The Post 1 model table first (the default "pulled" set).
_TABLE: tuple[ModelCard, ...] = (
    _card("llama3.2:3b", "llama3.2", "llama", "3.2B", "Q4_K_M", 2019393189, 131072, _TEXT_TOOLS,
          digest="a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
          min_ram_gb=8, note="Fastest; good for testing the contract"),
    _card("gemma3:4b", "gemma3", "gemma3", "4.3B", "Q4_K_M", 3338801804, 131072,
          ("completion", "vision"), min_ram_gb=8, note="Google; solid instruction-following"),
    _card("mistral:7b", "mistral", "llama", "7.2B", "Q4_0", 4113301824, 32768, _TEXT_TOOLS,
          min_ram_gb=8, note="Classic 7B baseline"),
    _card("llama3.1:8b", "llama3.1", "llama", "8.0B", "Q4_K_M", 4920753328, 131072, _TEXT_TOOLS,
          min_ram_gb=9, note="Best quality under 10 GB"),
    _card("qwen2.5:7b", "qwen2.5", "qwen2", "7.6B", "Q4_K_M", 4683087332, 32768, _TEXT_TOOLS,
          min_ram_gb=9, note="Strong at instruction + reasoning"),
    _card("qwen2.5:3b", "qwen2.5", "qwen2", "3.1B", "Q4_K_M", 1929912432, 32768, _TEXT_TOOLS,
          min_ram_gb=4, note="Small alternative"),
    _card("gpt-oss:20b", "gptoss", "gptoss", "20.9B", "MXFP4", 13780173734, 131072,
          ("completion", "tools", "thinking"), min_ram_gb=24, note="The default"),
)  # fmt: skip
TABLE_MODELS: tuple[str, ...] = tuple(card.name for card in _TABLE)

# Other tags of the same families that users type and published measurements name; known (so
# ``--models`` can pull them) but not pulled by default. Registry figures; digests synthetic.
_OTHER_TAGS: tuple[ModelCard, ...] = (
    _card("llama3.2:1b", "llama3.2", "llama", "1.2B", "Q8_0", 1321098329, 131072, _TEXT_TOOLS,
          min_ram_gb=4, note="Smallest Llama 3.2"),
    _card("gemma3:270m", "gemma3", "gemma3", "268.10M", "Q8_0", 291554930, 32768,
          ("completion",), min_ram_gb=2, note="Tiny text-only Gemma 3"),
)  # fmt: skip

# Embedding models (``mockserver/engine/embeddings.py`` holds how each one tokenizes and embeds).
# Capabilities: a GGUF with ``<arch>.pooling_type`` is "embedding" and not "completion"
# (``server/images.go`` ggufCapabilities). Parameter counts, quantizations and context lengths
# are the registry's; the digests of nomic-embed-text and all-minilm are those an Ollama 0.33
# ``/api/tags`` reported (published measurement); sizes are the registry listing's, UNVERIFIED to
# the byte for mxbai-embed-large and embeddinggemma.
_EMBEDDING_TAGS: tuple[ModelCard, ...] = (
    _card("nomic-embed-text:latest", "nomic-embed-text", "nomic-bert", "137M", "F16", 274302450,
          2048, ("embedding",),
          digest="0a109f422b47e3a30ba2b10eca18548e944e8a23073ee3f3e947efcf3c45e59f",
          min_ram_gb=1, note="Embeddings, 768 dimensions"),
    _card("mxbai-embed-large:latest", "mxbai-embed-large", "bert", "334M", "F16", 669603712, 512,
          ("embedding",),
          digest="468836162de7f81e041c43663fedbbba921dcea9b9fefea135685a39b2d83dd8",
          min_ram_gb=2, note="Embeddings, 1024 dimensions"),
    _card("all-minilm:latest", "all-minilm", "bert", "23M", "F16", 45960996, 512, ("embedding",),
          digest="1b226e2802dbb772b5fc32a58f103ca1804ef7501331012de126ab22f67475ef",
          min_ram_gb=1, note="Embeddings, 384 dimensions"),
    _card("embeddinggemma:latest", "embeddinggemma", "gemma3", "307.58M", "BF16", 621875417, 2048,
          ("embedding",), min_ram_gb=2, note="Embeddings, 768 dimensions"),
)  # fmt: skip
EMBEDDING_MODELS: tuple[str, ...] = tuple(card.name for card in _EMBEDDING_TAGS)

# Aliases: tags that point at the same blob as a tag above (same digest, same figures).
_ALIASES: dict[str, str] = {
    "llama3.2:latest": "llama3.2:3b",
    "llama3.1:latest": "llama3.1:8b",
    "qwen2.5:latest": "qwen2.5:7b",
    "qwen2.5:3b-instruct": "qwen2.5:3b",
    "gemma3:latest": "gemma3:4b",
    "mistral:latest": "mistral:7b",
    "mistral:7b-instruct": "mistral:7b",
    "gpt-oss:latest": "gpt-oss:20b",
    "nomic-embed-text:v1.5": "nomic-embed-text:latest",
    "mxbai-embed-large:335m": "mxbai-embed-large:latest",
    "all-minilm:22m": "all-minilm:latest",
    "embeddinggemma:300m": "embeddinggemma:latest",
}


def _aliases() -> tuple[ModelCard, ...]:
    by_name = {card.name: card for card in (*_TABLE, *_OTHER_TAGS, *_EMBEDDING_TAGS)}
    return tuple(
        replace(by_name[target], name=alias, digest=by_name[target].full_digest)
        for alias, target in _ALIASES.items()
    )


KNOWN_MODELS: tuple[ModelCard, ...] = (*_TABLE, *_OTHER_TAGS, *_EMBEDDING_TAGS, *_aliases())

# Release date of the fake's catalog: every model's modified_at (deterministic listings).
_MODIFIED_AT = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)


def family_of(card: ModelCard) -> Family | None:
    """The chat family that counts and generates for ``card`` (None for embedding models)."""
    if card.supports("embedding"):
        return None
    return _families().get(card.family)


@functools.cache
def _families() -> dict[str, Family]:
    from mockserver.engine.families import FAMILIES  # imported late: families import us

    return FAMILIES


def servable(card: ModelCard) -> bool:
    """A chat model whose family is implemented, or an embedding model."""
    return card.supports("embedding") or family_of(card) is not None


def known_card(name: str) -> ModelCard | None:
    """The catalog's card for ``name`` (pulled or not), resolved as Ollama resolves names."""
    wanted = _canonical(name).lower()
    return next((card for card in KNOWN_MODELS if card.name.lower() == wanted), None)


class Catalog:
    """The pulled models: the ones named at start-up whose family the engine can count.

    This is the server's model store (like Ollama's manifests directory), per process:
    ``/api/pull``, ``/api/copy``, ``/api/create`` and ``/api/delete`` change it.
    """

    def __init__(self, pulled: tuple[str, ...] | None = None) -> None:
        wanted = pulled if pulled is not None else TABLE_MODELS
        by_name = {card.name.lower(): card for card in KNOWN_MODELS}
        cards: list[ModelCard] = []
        for name in wanted:
            card = by_name.get(_canonical(name).lower())
            if card is None:
                known = ", ".join(card.name for card in KNOWN_MODELS)
                raise ValueError(f"unknown model {name!r}; the fake knows: {known}")
            if servable(card) and card not in cards:
                cards.append(card)
        self._lock = threading.Lock()
        self.cards: tuple[ModelCard, ...] = tuple(cards)
        self._by_name = {card.name.lower(): card for card in cards}
        self.version = 0  # bumped on every change to the store

    def put(self, card: ModelCard) -> None:
        """Add ``card`` (a pulled, copied or created model), replacing one of the same name."""
        with self._lock:
            kept = [c for c in self.cards if c.name.lower() != card.name.lower()]
            self._replace((*kept, card))

    def remove(self, name: str) -> ModelCard | None:
        with self._lock:
            card = self._by_name.get(_canonical(name).lower())
            if card is not None:
                self._replace(tuple(c for c in self.cards if c is not card))
            return card

    def _replace(self, cards: tuple[ModelCard, ...]) -> None:
        self.cards = cards
        self._by_name = {card.name.lower(): card for card in cards}
        self.version += 1

    def find(self, name: str) -> ModelCard | None:
        return self._by_name.get(_canonical(name).lower())

    def display_name(self, name: str) -> str:
        """The name as Ollama's ShowHandler re-spells it before looking it up (HEAD
        ``server/routes.go``: ``getExistingName`` then ``DisplayShortest``): each part that
        matches a pulled model's part case-insensitively takes that spelling, the default
        host and namespace are dropped, the tag (``latest`` by default) is always shown."""
        parts = parse_name(name.strip())
        known = [parse_name(card.name) for card in self.cards]
        for index in range(4):
            for other in known:
                if other[index].lower() == parts[index].lower():
                    parts[index] = other[index]
        host, namespace, model, tag = parts
        if host.lower() != _DEFAULT_HOST:
            return f"{host}/{namespace}/{model}:{tag}"
        if namespace.lower() != _DEFAULT_NAMESPACE:
            return f"{namespace}/{model}:{tag}"
        return f"{model}:{tag}"

    @property
    def modified_at(self) -> datetime:
        return _MODIFIED_AT

    def __iter__(self):
        return iter(self.cards)


_DEFAULT_HOST = "registry.ollama.ai"
_DEFAULT_NAMESPACE = "library"
_MISSING = "!MISSING!"


def parse_name(name: str) -> list[str]:
    """``model.ParseName`` (``types/model/name.go``): [host, namespace, model, tag] with the
    defaults merged in; an empty part around a separator becomes ``!MISSING!`` (invalid)."""

    def cut(text: str, sep: str) -> tuple[str, str, bool]:
        before, found, after = text.rpartition(sep)
        if not found:
            return text, "", False
        return before or _MISSING, after or _MISSING, True

    host = namespace = tag = ""
    rest = name
    if rest.rfind(":") > rest.rfind("/"):
        rest, tag, _ = cut(rest, ":")
    rest, model, promised = cut(rest, "/")
    if not promised:
        model = rest
    else:
        rest, namespace, promised = cut(rest, "/")
        if not promised:
            namespace = rest
        else:
            host = rest.partition("://")[2] or rest
    return [host or _DEFAULT_HOST, namespace or _DEFAULT_NAMESPACE, model, tag or "latest"]


def is_valid_name(name: str) -> bool:
    """``Name.IsValid``: every part 1-80 characters (host 350) of ``[A-Za-z0-9_]`` first,
    then also ``-`` ``_``, ``.`` (not in a namespace) and ``:`` (host only). The answers for
    short names are remembered (a pure function; 256 names of at most 128 characters)."""
    return _short_name_valid(name) if len(name) <= 128 else _is_valid(name)


@functools.lru_cache(maxsize=256)
def _short_name_valid(name: str) -> bool:
    return _is_valid(name)


def _is_valid(name: str) -> bool:
    for kind, part in zip(("host", "namespace", "model", "tag"), parse_name(name), strict=True):
        if not 1 <= len(part) <= (350 if kind == "host" else 80):
            return False
        for position, char in enumerate(part):
            word = char.isascii() and (char.isalnum() or char == "_")
            if position == 0 or char not in "-_.:":
                if not word:
                    return False
            elif (char == "." and kind == "namespace") or (char == ":" and kind != "host"):
                return False
    return True


def _canonical(name: str) -> str:
    name = name.strip()
    if ":" not in name.rpartition("/")[2]:
        name += ":latest"
    return name


def unavailable_models(names: tuple[str, ...]) -> list[str]:
    """Known models whose family's exact counting is not implemented yet."""
    by_name = {card.name.lower(): card for card in KNOWN_MODELS}
    return [n for n in names if (c := by_name.get(_canonical(n).lower())) and not servable(c)]
