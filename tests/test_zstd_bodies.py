"""``Content-Encoding: zstd`` bodies on ``/v1``, read as Ollama reads them.

Ollama decompresses them before any ``/v1`` handler (``server/cloud_proxy.go``
cloudPassthroughMiddleware: klauspost/compress's decoder with an 8 MiB max memory, at most
20 MiB out); its own tests (``middleware/openai_test.go`` TestResponsesMiddlewareZstd,
``server/cloud_proxy_test.go`` TestCloudPassthroughMiddleware_ZstdBody*) check that a
compressed body is the same request as the plain one, that a cloud model is still seen
through the compression, and that an oversized body is a 400. A body the decoder refuses is a
400 ``{"error": ...}`` with the Go decoder's words (``mockserver/wire/zstd_body.py``).
"""

from __future__ import annotations

import asyncio
import json

import pytest
import zstandard

from mockserver.app import create_app
from mockserver.config import Settings
from mockserver.served import ServedApp
from mockserver.wire.zstd_body import MAX_DECOMPRESSED, decompress
from tests.asgi_call import call

SETTINGS = Settings(current_date="2026-03-23", seed=3)
APPS = {"create_app": create_app(SETTINGS), "served": ServedApp(SETTINGS)}
LOOP = asyncio.new_event_loop()
CHAT = json.dumps(
    {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "Hello there"}]}
).encode()
ZSTD = [(b"content-type", b"application/json"), (b"content-encoding", b"zstd")]


def post(path: str, body: bytes, headers=None, app: str = "served"):
    reply = LOOP.run_until_complete(
        asyncio.wait_for(call(APPS[app], "POST", path, body, headers), 60)
    )
    assert reply.error is None, reply.error
    return reply


def squeezed(data: bytes, **options) -> bytes:
    return zstandard.ZstdCompressor(**options).compress(data)


def frame(descriptor: int, *fields: bytes) -> bytes:
    """A zstd frame header (magic, descriptor, then the given fields) with no blocks."""
    return b"\x28\xb5\x2f\xfd" + bytes([descriptor]) + b"".join(fields)


@pytest.mark.parametrize("app", sorted(APPS))
def test_a_compressed_chat_is_the_same_request_as_the_plain_one(app: str) -> None:
    plain = post("/v1/chat/completions", CHAT, app=app)
    compressed = post("/v1/chat/completions", squeezed(CHAT, write_checksum=True), ZSTD, app)
    assert plain.status == compressed.status == 200
    assert json.loads(compressed.body)["usage"] == json.loads(plain.body)["usage"]
    assert json.loads(compressed.body)["choices"] == json.loads(plain.body)["choices"]


@pytest.mark.parametrize(
    "path",
    ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses", "/v1/messages"],
)
def test_every_passthrough_route_reads_a_compressed_body(path: str) -> None:
    bodies = {
        "/v1/completions": {"model": "llama3.2:3b", "prompt": "Hello"},
        "/v1/embeddings": {"model": "nomic-embed-text", "input": "Hello"},
        "/v1/responses": {"model": "llama3.2:3b", "input": "Hello"},
        "/v1/messages": {
            "model": "llama3.2:3b",
            "max_tokens": 20,
            "messages": [{"role": "user", "content": "Hello"}],
        },
    }
    body = json.dumps(bodies.get(path) or json.loads(CHAT)).encode()
    plain = post(path, body)
    compressed = post(path, squeezed(body), ZSTD)
    assert compressed.status == plain.status
    assert compressed.status in (200, 404)  # 404: a model the catalog does not have
    assert b"magic number" not in compressed.body


def test_a_cloud_model_is_seen_through_the_compression() -> None:
    body = json.dumps({"model": "gpt-oss:20b-cloud", "input": "Hello"}).encode()
    reply = post("/v1/responses", squeezed(body), ZSTD)
    assert reply.status == 403
    assert json.loads(reply.body) == {
        "error": "ollama cloud is disabled: remote model is unavailable"
    }


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (CHAT, "invalid input: magic number mismatch"),  # not compressed at all
        (squeezed(CHAT)[:-3], "unexpected EOF"),  # cut inside its last block
        (squeezed(CHAT)[:2], "unexpected EOF"),  # cut inside the magic number
        (frame(0x00, bytes([14 << 3])), "window size exceeded"),  # a 16 MiB window
        (
            frame(0xA0, (9 << 20).to_bytes(4, "little")),
            "decompressed size exceeds configured limit",
        ),
        (frame(0x08, bytes([0])), "reserved bit set on frame header"),
        (frame(0x01, bytes([0]), b"\x07"), "unknown dictionary"),  # a dictionary id, 7
        (
            frame(0x00, bytes([0]), b"\x07\x00\x00"),
            "invalid input: reserved block type encountered",
        ),
        (
            frame(0x00, bytes([0]), (((1 << 10) + 1) << 3 | 1).to_bytes(3, "little")),
            "window size exceeded",
        ),
        (frame(0x00, bytes([0]), (1 << 3 | 5).to_bytes(3, "little") + b"x"), "block too small"),
    ],
    ids=[
        "not-zstd",
        "truncated",
        "two-bytes",
        "window",
        "single-segment",
        "reserved-bit",
        "dictionary",
        "reserved-block",
        "raw-block-over-window",
        "tiny-compressed-block",
    ],
)
def test_a_body_the_go_decoder_refuses_is_a_400_in_its_words(body: bytes, error: str) -> None:
    reply = post("/v1/chat/completions", body, ZSTD)
    assert (reply.status, json.loads(reply.body)) == (400, {"error": error})


def test_a_checksum_that_does_not_match_is_the_go_decoders_crc_error() -> None:
    body = bytearray(squeezed(CHAT, write_checksum=True))
    body[-1] ^= 0xFF
    reply = post("/v1/chat/completions", bytes(body), ZSTD)
    assert (reply.status, json.loads(reply.body)) == (400, {"error": "CRC check failed"})


def test_more_than_20_mib_out_is_too_large_even_from_a_small_body() -> None:
    bomb = squeezed(b" " * (MAX_DECOMPRESSED + 1), write_content_size=False)
    assert len(bomb) < 64 << 10
    reply = post("/v1/chat/completions", bomb, ZSTD)
    assert (reply.status, json.loads(reply.body)) == (
        400,
        {"error": "http: request body too large"},
    )
    assert len(decompress(squeezed(b" " * MAX_DECOMPRESSED, write_content_size=False))) == (
        MAX_DECOMPRESSED
    )


def test_frames_are_read_one_after_another_and_skippable_frames_skipped() -> None:
    half = len(CHAT) // 2
    skippable = b"\x50\x2a\x4d\x18" + (3).to_bytes(4, "little") + b"abc"
    body = squeezed(CHAT[:half]) + skippable + squeezed(CHAT[half:])
    assert decompress(body) == CHAT
    assert post("/v1/chat/completions", body, ZSTD).status == 200


def test_an_empty_compressed_body_is_an_empty_body() -> None:
    compressed = post("/v1/chat/completions", b"", ZSTD)
    plain = post("/v1/chat/completions", b"")
    assert (compressed.status, compressed.body) == (plain.status, plain.body)


@pytest.mark.parametrize(
    ("path", "encoding"),
    [("/v1/chat/completions", b"ZSTD"), ("/v1/chat/completions", b"gzip"), ("/api/chat", b"zstd")],
)
def test_only_zstd_on_the_v1_routes_is_decompressed(path: str, encoding: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-encoding", encoding)]
    reply = post(path, squeezed(CHAT), headers)
    assert reply.status == 400  # the compressed bytes, decoded as JSON
    assert b"invalid character" in reply.body
