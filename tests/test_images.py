"""Images (and audio) in requests, over a real socket: Ollama's tags, the runner's count, the
refusals. Each row names the Go (or llama.cpp) code that gives the answer
(``mockserver/engine/media.py`` has the derivation).

Counts: gemma3:4b's prompt for the one-word question "hi" is 10 tokens (BOS + the template's
text); every image adds ``<start_of_image>`` (1 token) + 256 embeddings + ``<end_of_image>``
(1 token) = 258 positions, whatever the image's size (Gemma 3's fixed 896x896 input, 64x64
patches pooled 4x4).
"""

from __future__ import annotations

import base64
import io
import struct
import zlib

import httpx
import pytest
from PIL import Image

from mockserver.engine.families import FAMILIES
from mockserver.engine.media import GEMMA3
from mockserver.server import BackgroundServer
from mockserver.wire.gobase64 import CorruptInput, decode


def _image(fmt: str, size: tuple[int, int] = (5, 3)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, fmt)
    return base64.b64encode(buffer.getvalue()).decode()


def _wav() -> str:
    """A valid 16 kHz mono PCM WAV of 100 silent samples."""
    samples = b"\0\0" * 100
    header = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVE"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
    data = b"data" + struct.pack("<I", len(samples)) + samples
    return base64.b64encode(header + fmt + data).decode()


PNG = _image("PNG")
BIG_JPEG = _image("JPEG", (1024, 700))
WEBP = _image("WEBP")
BROKEN_WEBP = base64.b64encode(b"RIFF\x10\0\0\0WEBPVP8 \0\0\0\0garbage!").decode()
WAV = _wav()
NOT_AN_IMAGE = "AAAA"  # valid base64: three zero bytes


def _runner(message: str) -> str:
    """llama-server's 400 body, which Ollama passes on as the error text."""
    return f'{{"error":{{"code":400,"message":"{message}","type":"invalid_request_error"}}}}'


MULTIMODAL = _runner("Multimodal data provided, but model does not support multimodal requests.")
LOAD_FAILED = _runner("Failed to load image or audio file")
TOKENIZE_FAILED = _runner("Failed to tokenize prompt")


@pytest.fixture
def http(fake: BackgroundServer) -> httpx.Client:
    with httpx.Client(base_url=fake.url, timeout=60) as client:
        yield client


def _chat(http: httpx.Client, model: str, messages: list[dict], **extra) -> httpx.Response:
    body = {"model": model, "messages": messages, "stream": False, **extra}
    return http.post("/api/chat", json=body)


def _user(content: str, *images: str) -> dict:
    return {"role": "user", "content": content, "images": list(images)}


# --- the tags: server/prompt.go imageTaggedMessages ---------------------------------------------

TURN = "<start_of_turn>user\n{}<end_of_turn>\n"
ASK = "<start_of_turn>model\n"


@pytest.mark.parametrize(
    ("messages", "rendered", "image_count"),
    [
        pytest.param([_user("hi", PNG)], TURN.format("[img-0]hi") + ASK, 1, id="tag prepended"),
        pytest.param(
            [_user("a [img] b", PNG)], TURN.format("a [img-0] b") + ASK, 1, id="[img] in place"
        ),
        pytest.param(
            [_user("a [img] b", PNG, PNG)],
            TURN.format("[img-1]a [img-0] b") + ASK,
            2,
            id="one [img], two images: the second tag prepended",
        ),
        pytest.param([_user("", PNG)], TURN.format("[img-0]") + ASK, 1, id="image-only message"),
        pytest.param(
            [_user("one", PNG), {"role": "assistant", "content": "ok"}, _user("two", PNG, PNG)],
            TURN.format("[img-0]one")
            + "<start_of_turn>model\nok<end_of_turn>\n"
            + TURN.format("[img-1][img-2]two")
            + ASK,
            3,
            id="numbered across the conversation",
        ),
        pytest.param(
            [_user("no images here [img]")],
            TURN.format("no images here [img]") + ASK,
            0,
            id="no image, [img] left alone",
        ),
    ],
)
def test_images_are_tagged_as_ollama_tags_them(
    http: httpx.Client, messages: list[dict], rendered: str, image_count: int
) -> None:
    reply = _chat(http, "gemma3:4b", messages, _debug_render_only=True)
    info = reply.json()["_debug_info"]
    assert info["rendered_template"] == rendered
    assert info.get("image_count", 0) == image_count  # omitempty


def test_numbering_starts_at_the_first_message_truncation_kept(http: httpx.Client) -> None:
    """chatPrompt drops the oldest messages first (their text only is counted: gemma3 has no
    separate projector layer), then tags from the first kept message: the kept image is 0."""
    long_text = "lorem ipsum dolor " * 1200  # well over the 2048-token window of a vision model
    messages = [
        _user(long_text, PNG),
        {"role": "assistant", "content": "ok"},
        _user("and this?", PNG),
    ]
    reply = _chat(http, "gemma3:4b", messages, _debug_render_only=True, options={"num_ctx": 2048})
    info = reply.json()["_debug_info"]
    kept = "<start_of_turn>model\nok<end_of_turn>\n" + TURN.format("[img-0]and this?") + ASK
    assert info["rendered_template"] == kept
    assert info["image_count"] == 1


def test_an_image_in_a_dropped_message_never_reaches_the_runner(http: httpx.Client) -> None:
    """Only the kept messages' images are payloads: a text-only model answers, no refusal."""
    messages = [
        _user("lorem ipsum dolor " * 400, PNG),
        {"role": "assistant", "content": "ok"},
        _user("and this?"),
    ]
    reply = _chat(http, "llama3.2:3b", messages, options={"num_ctx": 256})
    assert reply.status_code == 200, reply.text
    rendered = _chat(
        http, "llama3.2:3b", messages, options={"num_ctx": 256}, _debug_render_only=True
    ).json()["_debug_info"]
    assert "image_count" not in rendered and "[img-" not in rendered["rendered_template"]


# --- the count: llama-server's mtmd positions ----------------------------------------------------


def test_gemma3_image_positions_are_derived_not_fitted() -> None:
    """clip.cpp: (896 / 14)^2 patches pooled by n_merge 4 per side; the wrapping texts are one
    special token each in Gemma 3's vocabulary."""
    encode = FAMILIES["gemma3"].tokenizer.encode
    assert GEMMA3.tokens_per_image == 256
    assert (len(encode(GEMMA3.begin)), len(encode(GEMMA3.end))) == (1, 1)


@pytest.mark.parametrize(
    ("path", "body", "prompt_eval_count"),
    [
        ("/api/chat", {"messages": [_user("hi")]}, 10),
        ("/api/chat", {"messages": [_user("hi", PNG)]}, 10 + 258),
        ("/api/chat", {"messages": [_user("hi", BIG_JPEG)]}, 10 + 258),  # any size: 256
        ("/api/chat", {"messages": [_user("hi", WEBP)]}, 10 + 258),  # re-encoded as PNG
        ("/api/chat", {"messages": [_user("hi", PNG, PNG)]}, 10 + 2 * 258),
        ("/api/generate", {"prompt": "hi", "images": [PNG]}, 10 + 258),
        # raw: the prompt as typed; the user places the tag (BOS + " hi" + the image)
        ("/api/generate", {"prompt": "[img-0] hi", "images": [PNG], "raw": True}, 1 + 1 + 258),
    ],
)
def test_prompt_eval_count_counts_each_image_as_the_runner_does(
    http: httpx.Client, path: str, body: dict, prompt_eval_count: int
) -> None:
    reply = http.post(path, json={"model": "gemma3:4b", "stream": False, **body})
    assert reply.status_code == 200, reply.text
    assert reply.json()["prompt_eval_count"] == prompt_eval_count


def test_v1_image_url_parts_count_the_same(http: httpx.Client) -> None:
    """FromChatRequest makes one message per part; collated, the text and the tagged image
    share a turn: "hi\\n\\n[img-0]" (one token more than "hi", for the blank line)."""
    content = [
        {"type": "text", "text": "hi"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG}},
    ]
    body = {"model": "gemma3:4b", "messages": [{"role": "user", "content": content}]}
    reply = http.post("/v1/chat/completions", json=body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["usage"]["prompt_tokens"] == 11 + 258


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "messages", "status", "error"),
    [
        # llama-server without a projector: tokenize_input_subprompt
        ("llama3.2:3b", [_user("hi", PNG)], 400, MULTIMODAL),
        ("gpt-oss:20b", [_user("hi", PNG)], 400, MULTIMODAL),
        # mtmd_helper_bitmap_init_from_buf: not an image stb reads; audio without an encoder
        ("gemma3:4b", [_user("hi", NOT_AN_IMAGE)], 400, LOAD_FAILED),
        ("gemma3:4b", [_user("hi", WAV)], 400, LOAD_FAILED),
        # llamaServerMediaBytes: a WebP that does not decode never reaches llama-server
        ("gemma3:4b", [_user("hi", BROKEN_WEBP)], 500, "decode WebP image: webp: invalid format"),
        # gemma3's template does not render tool messages: a payload without its marker
        ("gemma3:4b", [_user("hi"), {"role": "tool", "content": "x", "images": [PNG]}], 400,
         TOKENIZE_FAILED),
        # encoding/json decoding []api.ImageData: base64.CorruptInputError
        ("gemma3:4b", [_user("hi", "!!")], 400, "illegal base64 data at input byte 0"),
        ("gemma3:4b", [_user("hi", "QQ=")], 400, "illegal base64 data at input byte 3"),
        ("nope:1b", [_user("hi", "QQ=")], 400, "illegal base64 data at input byte 3"),
    ],
)  # fmt: skip
def test_what_ollama_answers_for_payloads_it_cannot_use(
    http: httpx.Client, model: str, messages: list[dict], status: int, error: str
) -> None:
    reply = _chat(http, model, messages)
    assert (reply.status_code, reply.json()) == (status, {"error": error})


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(width: int, height: int) -> str:
    """A PNG whose IHDR claims ``width`` x ``height`` and whose pixel data is not zlib."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunks = _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"not zlib") + _chunk(b"IEND", b"")
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + chunks).decode()


def test_a_huge_image_is_judged_by_its_header(http: httpx.Client) -> None:
    """DELIBERATE (media.DECODE_PIXELS_MAX): past 16 M pixels the fake does not decode (a
    hostile 200-byte body must not cost it gigabytes), so a header alone is loadable; a small
    image with the same missing pixels is not."""
    reply = _chat(http, "gemma3:4b", [_user("hi", _png_header_only(6_000, 6_000))])
    assert (reply.status_code, reply.json()["prompt_eval_count"]) == (200, 10 + 258)
    reply = _chat(http, "gemma3:4b", [_user("hi", _png_header_only(10, 10))])
    assert (reply.status_code, reply.json()) == (400, {"error": LOAD_FAILED})


def test_a_text_only_model_still_renders_images_when_only_rendering(http: httpx.Client) -> None:
    """_debug_render_only returns before the runner is asked: no refusal, the tag is there."""
    reply = _chat(http, "llama3.2:3b", [_user("hi", PNG)], _debug_render_only=True)
    assert reply.status_code == 200
    assert "[img-0]hi" in reply.json()["_debug_info"]["rendered_template"]


def test_raw_generate_without_a_tag_is_the_runners_refusal(http: httpx.Client) -> None:
    body = {"model": "gemma3:4b", "prompt": "hi", "images": [PNG], "raw": True, "stream": False}
    reply = http.post("/api/generate", json=body)
    assert (reply.status_code, reply.json()) == (400, {"error": TOKENIZE_FAILED})


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # GenerateHandler's direct flow executes the request's template without tags: an
        # image is a payload with no marker in the prompt, which the runner refuses.
        ("{{ .Prompt }}", (400, {"error": TOKENIZE_FAILED})),
        # ... unless the template prints a tag itself, where the runner finds its marker.
        ("[img-0]{{ .Prompt }}", (200, None)),
    ],
)
def test_a_request_template_gets_the_images_as_untagged_payloads(
    http: httpx.Client, template: str, expected: tuple
) -> None:
    body = {"model": "gemma3:4b", "prompt": "hi", "images": [PNG], "template": template,
            "stream": False}  # fmt: skip
    reply = http.post("/api/generate", json=body)
    status, error = expected
    assert reply.status_code == status
    if error is not None:
        assert reply.json() == error
    else:
        assert reply.json()["prompt_eval_count"] == 1 + 258 + 1  # BOS, the image, "hi"


def _part(kind: str, value: object) -> dict:
    return {"type": kind, kind: value}


@pytest.mark.parametrize(
    ("model", "part", "status", "message"),
    [
        # openai.go decodeImageURL
        ("gemma3:4b", _part("image_url", {"url": "https://example.com/cat.png"}), 400,
         "image URLs are not currently supported, please use base64 encoded data instead"),
        ("gemma3:4b", _part("image_url", "data:image/gif;base64," + PNG), 400,
         "invalid image input"),
        ("gemma3:4b", _part("image_url", "DATA:image/png;base64," + PNG), 400,
         "invalid image input"),
        ("gemma3:4b", _part("image_url", "data:image/png;base64,!!"), 400, "invalid image input"),
        ("gemma3:4b", _part("image_url", "data:;base64," + PNG), 200, ""),  # blank type: bare
        # openai.go input_audio
        ("gemma3:4b", _part("input_audio", "x"), 400, "invalid input_audio format"),
        ("gemma3:4b", _part("input_audio", {"format": "wav"}), 400,
         "invalid input_audio format: missing data"),
        ("gemma3:4b", _part("input_audio", {"data": "!!"}), 400,
         "invalid input_audio base64 data: illegal base64 data at input byte 0"),
        # the payload reaches the runner like an image: no model of the catalog hears
        ("gemma3:4b", _part("input_audio", {"data": WAV, "format": "wav"}), 400, LOAD_FAILED),
        ("llama3.2:3b", _part("input_audio", {"data": WAV, "format": "wav"}), 400, MULTIMODAL),
    ],
)  # fmt: skip
def test_v1_image_and_audio_parts(
    http: httpx.Client, model: str, part: dict, status: int, message: str
) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": [part]}]}
    reply = http.post("/v1/chat/completions", json=body)
    assert reply.status_code == status, reply.text
    if status != 200:
        error = reply.json()["error"]
        assert (error["message"], error["type"]) == (message, "invalid_request_error")


def test_anthropic_images_are_decoded_as_ollama_decodes_them(http: httpx.Client) -> None:
    """anthropic.go resolveImageSource: base64.StdEncoding, its error wrapped."""
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "!"}}
    body = {
        "model": "gemma3:4b",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": [image]}],
    }
    reply = http.post("/v1/messages", json=body)
    assert reply.status_code == 400
    assert reply.json()["error"]["message"] == (
        "invalid base64 image data: illegal base64 data at input byte 0"
    )
    image["source"]["data"] = PNG
    reply = http.post("/v1/messages", json=body)
    assert reply.status_code == 200, reply.text
    assert (
        reply.json()["usage"]["input_tokens"]
        == 258 + len(FAMILIES["gemma3"].tokenizer.encode(TURN.format("") + ASK)) + 1
    )  # BOS


# --- Go's base64 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "decoded"),
    [
        ("", b""),
        ("QQ==", b"A"),
        ("QUJD", b"ABC"),
        ("QU\r\nJD", b"ABC"),  # newlines skipped anywhere
        ("QQ=\n=", b"A"),
        ("QR==", b"A"),  # trailing bits ignored: StdEncoding is not Strict
    ],
)
def test_go_base64_accepts(text: str, decoded: bytes) -> None:
    assert decode(text) == decoded


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("Q", 0),  # an incomplete quantum: its start
        ("QQ", 0),
        ("QUJDQQ", 4),
        ("QQ=", 3),  # the second "=" missing: the input's length
        ("QQ=a", 2),
        ("QUJD=", 4),  # padding where a quantum starts
        ("QQ==QQ==", 4),  # data after the padding
        ("ab c", 2),
        ("é", 0),
    ],
)
def test_go_base64_refuses_at_gos_offset(text: str, offset: int) -> None:
    with pytest.raises(CorruptInput) as refused:
        decode(text)
    assert str(refused.value) == f"illegal base64 data at input byte {offset}"
