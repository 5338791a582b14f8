"""Secure by default, as Ollama is: browsers' origins, Host names, the bind address, the key.

Found by an attack on the fake (issue 10): a page in a browser could make it run requests
(``Origin: http://evil.example`` answered 200), ``--replay-strict`` told clients the
recordings' path, ``--api-key`` was only a command-line flag, ``--host 127.0.0.2`` warned.
"""

from __future__ import annotations

import asyncio

import pytest

from mockserver.__main__ import parse_args, settings_from
from mockserver.app import create_app
from mockserver.config import Settings, allowed_origins, is_loopback, ollama_host
from tests.asgi_call import call

LOOP = asyncio.new_event_loop()
BODY = b'{"model":"gpt-oss:20b","prompt":"hi","stream":false}'


def request(app, headers, method="POST", path="/api/generate", body=BODY):
    return LOOP.run_until_complete(call(app, method, path, body, headers))


@pytest.fixture(scope="module")
def app():
    return create_app(Settings(origins=allowed_origins("")))


@pytest.mark.parametrize(
    ("origin", "host", "status"),
    [
        (b"http://evil.example", b"127.0.0.1:11434", 403),
        (b"https://evil.example", b"localhost:11434", 403),
        (b"null", b"127.0.0.1:11434", 403),
        (b"http://localhost", b"127.0.0.1:11434", 200),
        (b"http://localhost:3000", b"127.0.0.1:11434", 200),
        (b"https://127.0.0.1:8443", b"127.0.0.1:11434", 200),
        (b"http://0.0.0.0:1", b"127.0.0.1:11434", 200),
        (b"app://anything", b"127.0.0.1:11434", 200),
        (b"vscode-webview://x", b"127.0.0.1:11434", 200),
        (b"http://127.0.0.1:11434", b"127.0.0.1:11434", 200),  # same origin: not CORS
        (None, b"evil.example", 403),  # DNS rebinding: a loopback server checks Host
        (None, b"evil.example:11434", 403),
        (None, b"my-box.local", 200),
        (None, b"api.internal:80", 200),
        (None, b"10.0.0.7:11434", 200),  # private IPs are this network's
        (None, b"[::1]:11434", 200),
    ],
)
def test_origins_and_hosts_as_ollama_checks_them(app, origin, host, status):
    headers = [(b"host", host), (b"content-type", b"text/plain")]
    if origin:
        headers.append((b"origin", origin))
    reply = request(app, headers)
    assert reply.status == status, reply.body
    if status == 403:
        assert reply.body == b""  # c.AbortWithStatus: no body
    elif origin and origin != b"http://" + host:
        assert reply.headers[b"access-control-allow-origin"] == origin
        assert reply.headers[b"vary"] == b"Origin"


def test_an_allowed_preflight_gets_204_with_the_cors_headers(app):
    headers = [(b"host", b"127.0.0.1:11434"), (b"origin", b"http://localhost:5173")]
    reply = request(app, headers, method="OPTIONS", body=b"")
    assert reply.status == 204
    assert b"POST" in reply.headers[b"access-control-allow-methods"]
    assert b"Authorization" in reply.headers[b"access-control-allow-headers"]


def test_ollama_origins_adds_origins_and_star_allows_all():
    extra = create_app(Settings(origins=allowed_origins("https://app.example,*.trusted.dev")))
    for origin, status in [
        (b"https://app.example", 200),
        (b"https://x.trusted.dev", 200),
        (b"https://evil.example", 403),
    ]:
        reply = request(extra, [(b"host", b"127.0.0.1"), (b"origin", origin)])
        assert reply.status == status
    everyone = create_app(Settings(origins=allowed_origins("*")))
    reply = request(everyone, [(b"host", b"127.0.0.1"), (b"origin", b"https://evil.example")])
    assert reply.status == 200 and reply.headers[b"access-control-allow-origin"] == b"*"
    with pytest.raises(ValueError, match="bad origin"):
        create_app(Settings(origins=allowed_origins("evil.example")))  # Ollama would not start


def test_a_server_bound_beyond_loopback_does_not_check_host():
    open_app = create_app(Settings(host="0.0.0.0", origins=allowed_origins("")))
    assert request(open_app, [(b"host", b"fake.example.com")]).status == 200


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ("127.0.0.1", 11434)),
        ("0.0.0.0", ("0.0.0.0", 11434)),
        ("0.0.0.0:8080", ("0.0.0.0", 8080)),
        (":8080", ("0.0.0.0", 8080)),
        ("127.0.0.2", ("127.0.0.2", 11434)),
        ("[::1]", ("::1", 11434)),
        ("[::1]:9000", ("::1", 9000)),
        ("http://example.com", ("example.com", 80)),
        ("https://example.com", ("example.com", 443)),
        ("http://10.0.0.1:7000/path", ("10.0.0.1", 7000)),
        ("localhost:99999", ("localhost", 11434)),  # an invalid port: the default
    ],
)
def test_ollama_host_is_read_as_ollama_serve_reads_it(value, expected):
    assert ollama_host(value) == expected


def test_the_command_line_takes_ollama_host_and_the_api_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.2:5000")
    monkeypatch.setenv("PORTWAY_API_KEY", "from-env")
    settings = settings_from(parse_args([]))
    assert (settings.host, settings.port, settings.api_key) == ("127.0.0.2", 5000, "from-env")
    assert settings_from(parse_args(["--api-key", "flag", "--port", "1"])).api_key == "flag"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("10.0.0.1", False), ("::", False)],
)  # fmt: skip
def test_every_loopback_address_is_loopback(host, loopback):
    assert is_loopback(host) is loopback
