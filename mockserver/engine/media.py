"""Images (and audio) in a prompt: Ollama's ``[img-N]`` tags, and what the runner counts.

At the emulated version (ollama/ollama@fb3076099) the runner is llama.cpp's ``llama-server``
(``LLAMA_CPP_VERSION`` b10488) with its multimodal library ``mtmd``:

1. ``server/prompt.go`` ``imageTaggedMessages``: every image of the messages kept by
   truncation gets the next id (0, 1, ... across the conversation, counted from the first kept
   message); its tag ``[img-<id>]`` replaces the first literal ``[img]`` still in the text, or
   is prepended. A message with images and no text keeps its tags as its content. System
   messages kept from before the truncation point are rendered untouched (their images are not
   sent). The template renders the tagged texts; ``_debug_render_only`` shows them.
2. ``llm/llama_server.go`` ``Completion``: each ``[img-<id>]`` (its first occurrence in the
   whole prompt) becomes the per-process media marker, and the payloads go as
   ``multimodal_data``; WebP is re-encoded as PNG first (``llamaServerMediaBytes``).
3. llama.cpp ``tools/server/server-common.cpp`` ``tokenize_input_subprompt``: a runner without
   a projector (a text-only model) refuses any payload, 400 ``Multimodal data provided, but
   model does not support multimodal requests.``; ``process_mtmd_prompt``: a payload that is
   neither decodable audio nor an image ``stb_image`` reads is 400 ``Failed to load image or
   audio file`` (``mtmd-helper.cpp`` ``mtmd_helper_bitmap_init_from_buf``: WAV/MP3/FLAC by
   signature, and a model without an audio encoder cannot load those either); markers and
   payloads that do not pair up are 400 ``Failed to tokenize prompt``.
4. ``tools/mtmd/mtmd.cpp`` ``mtmd_tokenizer``: the prompt is cut at the markers; each text
   piece is tokenized on its own (special tokens parsed, BOS once in front); each image is
   ``img_beg`` (tokenized text) + the image's embeddings + ``img_end``. ``prompt_eval_count``
   is llama-server's ``cache_n + prompt_n``: every one of those positions.

Gemma 3 (``PROJECTOR_TYPE_GEMMA3``): ``img_beg`` ``<start_of_image>``, ``img_end``
``<end_of_image>``, a fixed-size preprocessor (every image resized to ``image_size`` square,
whatever its size), and ``clip.cpp`` ``clip_n_output_tokens``: ``(image_size / patch_size)^2``
patches, divided by ``n_merge^2`` (``n_merge`` 4 by default for Gemma 3, ``clip.cpp``
load_hparams; Ollama's ``llama/compat`` ``handle_gemma3_clip`` copies ``image_size`` 896 and
``patch_size`` 14 from the model and sets no scale factor): 4096 / 16 = 256 per image.

The truncation stage (step 1's choice of the kept messages) counts text only for these models:
``chatPrompt`` adds 768 per image only for a model with a separate projector layer
(``m.ProjectorPaths``), and Gemma 3's vision tower is inside its one GGUF. No model of the
catalog takes audio (``input_audio`` parts reach the runner as payloads like images).
"""

from __future__ import annotations

import io
import secrets
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from mockserver.engine.chat import Message

# llm/llama_server.go newLlamaServerMediaMarker: random per process, so a prompt cannot forge it.
MARKER = f"<__ollama_media_{secrets.token_hex(8)}__>"

MULTIMODAL_UNSUPPORTED = "Multimodal data provided, but model does not support multimodal requests."
LOAD_FAILED = "Failed to load image or audio file"
TOKENIZE_FAILED = "Failed to tokenize prompt"


@dataclass(frozen=True, slots=True)
class VisionTower:
    """What ``mtmd`` puts in the prompt for one image of this projector type."""

    begin: str
    end: str
    image_size: int
    patch_size: int
    merge: int

    @property
    def tokens_per_image(self) -> int:
        """``clip_n_output_tokens`` for a fixed-size projector."""
        side = self.image_size // self.patch_size
        return side * side // (self.merge * self.merge)


GEMMA3 = VisionTower("<start_of_image>", "<end_of_image>", image_size=896, patch_size=14, merge=4)
# Chat families whose catalog models have the "vision" capability, and their projector.
TOWERS: dict[str, VisionTower] = {"gemma3": GEMMA3}


def tag_images(messages: Sequence[Message], start: int) -> tuple[tuple[Message, ...], int]:
    """``imageTaggedMessages(m, msgs, start, false)``: the messages with ``[img-N]`` tags in
    the content of ``messages[start:]``, and how many payloads they carry."""
    out = list(messages)
    count = 0
    for index in range(start, len(out)):
        message = out[index]
        if not message.images:
            continue
        prefix, text = "", message.content
        for _ in message.images:
            tag = f"[img-{count}]"
            count += 1
            if "[img]" in text:
                text = text.replace("[img]", tag, 1)
            else:
                prefix += tag
        out[index] = replace(message, content=prefix + text)
    return tuple(out), count


@dataclass(frozen=True, slots=True)
class RunnerPrompt:
    tokens: int  # BOS included, image positions included
    error: str = ""  # the refusal, as Ollama answers it
    error_status: int = 400


def runner_count(
    text: str,
    payloads: Sequence[bytes],
    tower: VisionTower | None,
    count: Callable[[str], int],
    bos: bool,
) -> RunnerPrompt:
    """What llama-server evaluates for ``text`` (the rendered prompt) and its payloads."""
    if any(is_webp(payload) and not _decodes(payload, "WEBP") for payload in payloads):
        # llamaServerMediaBytes, before the request leaves Ollama: a plain error, a 500.
        # The words after the prefix are x/image/webp's; "invalid format" is its usual one.
        return RunnerPrompt(0, "decode WebP image: webp: invalid format", 500)
    if tower is None:
        return RunnerPrompt(0, _llama_server_error(MULTIMODAL_UNSUPPORTED))
    if any(not loadable(payload) for payload in payloads):
        return RunnerPrompt(0, _llama_server_error(LOAD_FAILED))
    for index in range(len(payloads)):
        text = text.replace(f"[img-{index}]", MARKER, 1)
    pieces = text.split(MARKER)
    if len(pieces) - 1 != len(payloads):
        return RunnerPrompt(0, _llama_server_error(TOKENIZE_FAILED))
    per_image = count(tower.begin) + tower.tokens_per_image + count(tower.end)
    tokens = sum(count(piece) for piece in pieces if piece)
    return RunnerPrompt((1 if bos else 0) + tokens + per_image * len(payloads))


def _llama_server_error(message: str) -> str:
    """llama-server's ``format_error_response`` for ``ERROR_TYPE_INVALID_REQUEST`` (HTTP 400),
    the body Ollama's ``statusErrorMessage`` passes on as the error text."""
    return f'{{"error":{{"code":400,"message":"{message}","type":"invalid_request_error"}}}}'


# --- what mtmd_helper_bitmap_init_from_buf can load ---------------------------------------------

# stb_image's formats, as Pillow names them (PNM only in its binary P5/P6 forms).
_STB_FORMATS = frozenset({"JPEG", "PNG", "BMP", "GIF", "PSD", "TGA", "PPM"})


def is_audio(data: bytes) -> bool:
    """``audio_helpers::is_audio_file``: WAV, MP3 (ID3 or an MPEG sync word) or FLAC."""
    if len(data) < 12:
        return False
    wav = data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    mp3 = data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0)
    return wav or mp3 or data[:4] == b"fLaC"


def is_webp(data: bytes) -> bool:
    """Go's ``http.DetectContentType`` ``image/webp`` signature."""
    return len(data) >= 14 and data[:4] == b"RIFF" and data[8:14] == b"WEBPVP"


def loadable(data: bytes) -> bool:
    """Whether the runner of a vision-only model loads ``data`` as an image. Audio is never
    loadable here (no model of the catalog has an audio encoder). Decoding is Pillow's, limited
    to the formats ``stb_image`` reads, plus WebP (which Ollama re-encodes as PNG). Where the
    two decoders differ on a damaged file (stb reads past the end of a truncated JPEG as zeros;
    Pillow refuses it), the answer is Pillow's: UNVERIFIED against stb on such files."""
    if is_audio(data):
        return False
    if is_webp(data):
        return _decodes(data, "WEBP")
    if data[:1] == b"P" and data[:2] not in (b"P5", b"P6"):  # stb's PNM: binary only
        return False
    return _decodes(data, *_STB_FORMATS)


# Past this many pixels the header is trusted and the pixels are not decoded: a hostile body
# (a small PNG of a huge blank image) must not cost the fake gigabytes. stb_image itself reads
# up to 2^24 pixels a side; DELIBERATE, a corrupt body past the header of such an image is
# loadable here, and one over Pillow's bomb limit (~179 M pixels) is not.
DECODE_PIXELS_MAX = 4096 * 4096


def _decodes(data: bytes, *formats: str) -> bool:
    """Pillow opens ``data`` as one of ``formats`` and decodes it (a JPEG at 1/8 scale: every
    coefficient is still read, the pixels cost 64 times less)."""
    from PIL import Image  # only when a request carries images

    try:
        with warnings.catch_warnings():  # DecompressionBombWarning: judged by the header below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(formats))
        with image:
            width, height = image.size
            if width * height > DECODE_PIXELS_MAX:
                return width > 0 and height > 0
            if image.format == "JPEG":
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            image.load()
    except Exception:  # any decoding failure is stb's NULL
        return False
    return True
