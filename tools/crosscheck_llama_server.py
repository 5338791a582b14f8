"""Cross-check the llama-server twin against a real ``llama-server`` serving the same model.

``python tools/crosscheck_llama_server.py --binary PATH --gguf PATH`` starts both on loopback
(run by ``nox -s llamacpp``): the real ``llama-server`` built from llama.cpp's source
(``tools/llama_server_build.py``) on Gemma 3 270M Q4_K_M, and ``python -m mockserver --flavor
llama-server --model gemma3-270m``; both get the same Gemma 3 Jinja template
(``--jinja --chat-template-file mockserver/engine/jinja_templates/gemma3.jinja``: the GGUF
has none), ``--ctx-size 2048``, one slot and ``--metrics``. ``--real URL --twin URL`` checks
two servers already running that way instead.

Every point the engine can show is asked of both and compared: ``/health``, ``/tokenize``
and ``/detokenize``, ``/apply-template``, ``usage`` on ``/v1/chat/completions`` (system,
multi-turn, typed parts), ``cached_tokens`` on a resend and a grown conversation, the shapes
of a completion, a stream, ``timings``, ``/slots``, ``/props`` and ``/v1/models``, the
metric names of ``/metrics``, and the error shapes (a prompt past the context, bad JSON, an
unknown route). Content is not compared: the real model is a base model sampling text, the
twin's model is the project's deterministic fake.

A row is ``same``, ``documented`` (a known difference: :data:`DOCUMENTED` says why) or
``DIFFERS``. Prints a table and writes it as JSON; exit 1 on an undocumented difference,
2 when a server cannot be reached or started.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llama_server_build import LlamaServer
from llamacpp_server import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = REPO_ROOT / "mockserver" / "engine" / "jinja_templates" / "gemma3.jinja"
ALIAS = "gemma-3-270m-q4_k_m"
CTX = 2048

#: Differences that are known and explained: row name -> why the twin does not match.
DOCUMENTED: dict[str, str] = {}

TEXTS = (
    "In one sentence, what makes Ottawa Canada's capital?",
    "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
    "  leading spaces, trailing   ",
    "Numbers 1857, 3.14159 and 2026-01-15.",
    "Québec, Montréal, Zürich — naïve café; 東京; Привет",
    "emoji 🍁🇨🇦 and tabs\tand\nnewlines\n\n",
    "def f(x):\n    return x ** 2  # code",
    "",
)

CONVERSATIONS: dict[str, list[dict[str, Any]]] = {
    "one user turn": [{"role": "user", "content": "What is the capital of Canada?"}],
    "system + user": [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "What is the capital of Canada?"},
    ],
    "multi-turn": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Name a Canadian city."},
        {"role": "assistant", "content": "Ottawa."},
        {"role": "user", "content": "Another one, please."},
        {"role": "assistant", "content": "  Montréal  \n"},
        {"role": "user", "content": "And a third?"},
    ],
    "typed text parts": [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": " there "}],
        },
    ],
}


@dataclass
class Row:
    point: str
    real: str
    twin: str
    verdict: str = ""
    why: str = ""


# --------------------------------------------------------------------------- the two servers


class Servers:
    def __init__(self, real: str, twin: str) -> None:
        self.urls = {"real": real.rstrip("/"), "twin": twin.rstrip("/")}
        self.client = httpx.Client(timeout=300)

    def both(self, method: str, path: str, **kwargs: Any) -> dict[str, httpx.Response]:
        return {
            side: self.client.request(method, url + path, **kwargs)
            for side, url in self.urls.items()
        }


@contextmanager
def _twin(port: int) -> Iterator[str]:
    argv = [sys.executable, "-m", "mockserver", "--flavor", "llama-server",
            "--model", "gemma3-270m", "--alias", ALIAS, "--ctx-size", str(CTX),
            "--parallel", "1", "--metrics", "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"the twin did not start on {url}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


# --------------------------------------------------------------------------- comparisons


def _same(point: str, real: Any, twin: Any, show: Callable[[Any], str] = str) -> Row:
    return Row(point, show(real), show(twin), "same" if real == twin else "DIFFERS")


def _keys(value: Any) -> list[str]:
    return sorted(value) if isinstance(value, dict) else [f"<{type(value).__name__}>"]


def _short(value: Any, width: int = 34) -> str:
    text = json.dumps(value, ensure_ascii=False)
    text = text[1:-1] if isinstance(value, str) else text
    return text if len(text) <= width else text[: width - 1] + "…"


def _key_diff(real: Any, twin: Any) -> tuple[str, str]:
    a, b = set(_keys(real)), set(_keys(twin))
    only_real, only_twin = sorted(a - b), sorted(b - a)
    return (
        f"{len(a)} keys" + (f"; only here: {', '.join(only_real)}" if only_real else ""),
        f"{len(b)} keys" + (f"; only here: {', '.join(only_twin)}" if only_twin else ""),
    )


def _shape_row(point: str, real: Any, twin: Any) -> Row:
    shown = _key_diff(real, twin)
    return Row(point, *shown, "same" if _keys(real) == _keys(twin) else "DIFFERS")


def check_health(s: Servers) -> Iterator[Row]:
    answers = s.both("GET", "/health")
    yield _same("/health", *(f"{r.status_code} {r.text}" for r in answers.values()))


def check_tokenize(s: Servers) -> Iterator[Row]:
    for n, text in enumerate(TEXTS):
        for add_special in (False, True):
            body = {"content": text, "add_special": add_special}
            got = {k: r.json()["tokens"] for k, r in s.both("POST", "/tokenize", json=body).items()}
            row = _same(f"/tokenize #{n} add_special={add_special}", got["real"], got["twin"],
                        lambda ids: f"{len(ids)} ids {_short(ids, 24)}")  # fmt: skip
            yield row
            if add_special:
                back = s.both("POST", "/detokenize", json={"tokens": got["real"]})
                texts = {k: r.json()["content"] for k, r in back.items()}
                yield _same(f"/detokenize #{n}", texts["real"], texts["twin"], _short)
    body = {"content": TEXTS[4], "with_pieces": True}
    pieces = {k: r.json()["tokens"] for k, r in s.both("POST", "/tokenize", json=body).items()}
    yield _same("/tokenize with_pieces", pieces["real"], pieces["twin"],
                lambda p: f"{len(p)} pieces {_short(p, 22)}")  # fmt: skip


def check_templates(s: Servers) -> Iterator[Row]:
    for name, messages in CONVERSATIONS.items():
        got = s.both("POST", "/apply-template", json={"messages": messages})
        prompts = {k: r.json().get("prompt") for k, r in got.items()}
        yield _same(f"/apply-template: {name}", prompts["real"], prompts["twin"], _short)
    bad = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    got = s.both("POST", "/apply-template", json={"messages": bad})
    yield _same("/apply-template: roles not alternating",
                *(f"{r.status_code} {r.json().get('error', {}).get('type')}"
                  for r in got.values()))  # fmt: skip


def _chat(s: Servers, side: str, messages: list[dict], **extra: Any) -> dict[str, Any]:
    body = {"model": "any", "messages": messages, "max_tokens": 6, "temperature": 0, **extra}
    answer = s.client.post(s.urls[side] + "/v1/chat/completions", json=body)
    answer.raise_for_status()
    return answer.json()


def check_usage(s: Servers) -> Iterator[Row]:
    answers: dict[str, dict[str, Any]] = {}
    for name, messages in CONVERSATIONS.items():
        answers = {side: _chat(s, side, messages) for side in s.urls}
        counts = {k: a["usage"]["prompt_tokens"] for k, a in answers.items()}
        yield _same(f"usage.prompt_tokens: {name}", counts["real"], counts["twin"])
    yield _shape_row("completion: top-level keys", answers["real"], answers["twin"])
    yield _shape_row("completion: usage keys", answers["real"]["usage"], answers["twin"]["usage"])
    yield _shape_row("completion: message keys", answers["real"]["choices"][0]["message"],
                     answers["twin"]["choices"][0]["message"])  # fmt: skip
    yield _shape_row("completion: timings keys", answers["real"]["timings"],
                     answers["twin"]["timings"])  # fmt: skip
    for field in ("object", "model"):
        yield _same(f"completion: {field}", answers["real"][field], answers["twin"][field])
    limited = {k: a["choices"][0]["finish_reason"] for k, a in answers.items()}
    yield Row(
        "finish_reason (max_tokens 6)",
        limited["real"],
        limited["twin"],
        "same" if set(limited.values()) <= {"stop", "length"} else "DIFFERS",
        "either ends by stop or by length: the two models say different things",
    )


def check_prefix_cache(s: Servers) -> Iterator[Row]:
    convo = [
        {"role": "system", "content": "You are a geography tutor."},
        {"role": "user", "content": "Which river runs through Ottawa? Answer briefly."},
    ]
    facts: dict[str, dict[str, Any]] = {}
    long = [{"role": "user", "content": "Tell me about Canada. " * 260}]  # past the window
    for side in s.urls:
        _chat(s, side, long)
        facts.setdefault(side, {})["long resend"] = _chat(s, side, long)["usage"][
            "prompt_tokens_details"
        ]["cached_tokens"]
        _chat(s, side, convo)  # the slot now holds this prompt and its checkpoints
        again = _chat(s, side, convo)
        # a fixed reply (not the model's): both servers get the same grown prompt
        grown = [*convo, {"role": "assistant", "content": "The Ottawa River."},
                 {"role": "user", "content": "And which one runs through Montréal?"}]  # fmt: skip
        bigger = _chat(s, side, grown)
        edited = _chat(s, side, [*grown[:-1], {"role": "user", "content": "And Québec City?"}])
        off = _chat(s, side, grown, cache_prompt=False)
        facts[side] |= {
            "resend": again["usage"]["prompt_tokens_details"]["cached_tokens"]
            - again["usage"]["prompt_tokens"],
            "timings": (bigger["timings"]["cache_n"], bigger["timings"]["prompt_n"])
            == (
                bigger["usage"]["prompt_tokens_details"]["cached_tokens"],
                bigger["usage"]["prompt_tokens"]
                - bigger["usage"]["prompt_tokens_details"]["cached_tokens"],
            ),
            "off": off["usage"]["prompt_tokens_details"]["cached_tokens"],
            "edited": edited["usage"]["prompt_tokens_details"]["cached_tokens"],
            "cached": bigger["usage"]["prompt_tokens_details"]["cached_tokens"],
            "prompt": bigger["usage"]["prompt_tokens"],
        }
    real, twin = facts["real"], facts["twin"]
    yield _same("cached_tokens - prompt_tokens, resend", real["resend"], twin["resend"])
    # the grown prompt's own length differs by the two replies; what the slot reuses of it is
    # the old prompt up to its last checkpoint, the same on both
    yield _same("cached_tokens, grown conversation", real["cached"], twin["cached"])
    yield _same("cached_tokens, prompt edited after its last user turn", real["edited"],
                twin["edited"])  # fmt: skip
    yield _same("timings.cache_n/prompt_n = usage", real["timings"], twin["timings"])
    yield _same("cached_tokens, 1,309-token prompt resent", real["long resend"],
                twin["long resend"])  # fmt: skip
    yield _same("cached_tokens with cache_prompt false", real["off"], twin["off"])


def check_stream(s: Servers) -> Iterator[Row]:
    body = {"model": "any", "messages": CONVERSATIONS["one user turn"], "max_tokens": 4,
            "stream": True, "stream_options": {"include_usage": True}}  # fmt: skip
    shapes: dict[str, list[str]] = {}
    lasts: dict[str, dict[str, Any]] = {}
    for side, url in s.urls.items():
        events: list[str] = []
        with s.client.stream("POST", url + "/v1/chat/completions", json=body) as answer:
            for line in answer.iter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    events.append("[DONE]")
                    continue
                event = json.loads(data)
                lasts[side] = event
                choice = (event.get("choices") or [{}])[0]
                delta = ",".join(sorted(choice.get("delta", {}))) if event["choices"] else "-"
                finish = choice.get("finish_reason") if event["choices"] else None
                extra = "+".join(k for k in ("usage", "timings") if k in event)
                events.append(f"{delta or '{}'}{'|' + str(finish) if finish else ''}"
                              f"{'|' + extra if extra else ''}")  # fmt: skip
        # the middle content chunks differ in number (the models say different things)
        shapes[side] = [events[0], *sorted(set(events[1:-3])), *events[-3:]]
    yield _same("stream: event shapes", shapes["real"], shapes["twin"], lambda e: _short(e, 40))
    yield _shape_row("stream: last chunk keys", lasts["real"], lasts["twin"])


def check_endpoints(s: Servers) -> Iterator[Row]:
    slots = {k: r.json() for k, r in s.both("GET", "/slots").items()}
    yield _same("/slots: count", len(slots["real"]), len(slots["twin"]))
    yield _shape_row("/slots[0] keys", slots["real"][0], slots["twin"][0])
    for key in ("n_ctx", "id_task"):
        yield _same(f"/slots[0].{key} present", key in slots["real"][0], key in slots["twin"][0])
    yield _same("/slots[0].n_ctx", slots["real"][0].get("n_ctx"), slots["twin"][0].get("n_ctx"))
    props = {k: r.json() for k, r in s.both("GET", "/props").items()}
    yield _shape_row("/props keys", props["real"], props["twin"])
    yield _shape_row("/props default_generation_settings keys",
                     props["real"]["default_generation_settings"],
                     props["twin"]["default_generation_settings"])  # fmt: skip
    for key in ("total_slots", "bos_token", "eos_token", "chat_template"):
        yield _same(f"/props {key}", props["real"].get(key), props["twin"].get(key), _short)
    models = {k: r.json() for k, r in s.both("GET", "/v1/models").items()}
    first = {k: m["data"][0] for k, m in models.items()}
    yield _shape_row("/v1/models data[0] keys", first["real"], first["twin"])
    meta = {k: m["data"][0].get("meta", {}) for k, m in models.items()}
    yield _shape_row("/v1/models meta keys", meta["real"], meta["twin"])
    for key in sorted(meta["real"]):
        yield _same(f"/v1/models meta.{key}", meta["real"][key], meta["twin"].get(key))
    names = {}
    for side, answer in s.both("GET", "/metrics").items():
        names[side] = sorted({line.split()[0] for line in answer.text.splitlines()
                              if line and not line.startswith("#")})  # fmt: skip
    yield Row("/metrics names", f"{len(names['real'])}: only here "
              f"{', '.join(sorted(set(names['real']) - set(names['twin']))) or '-'}",
              f"{len(names['twin'])}: only here "
              f"{', '.join(sorted(set(names['twin']) - set(names['real']))) or '-'}",
              "same" if names["real"] == names["twin"] else "DIFFERS")  # fmt: skip


def _error(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return f"{answer.status_code} {answer.headers.get('content-type')} (not JSON)"
    inner = body.get("error", body) if isinstance(body, dict) else body
    if not isinstance(inner, dict):
        return f"{answer.status_code} {_short(inner)}"
    fields = ",".join(sorted(inner))
    return f"{answer.status_code} {inner.get('type')} code={inner.get('code')} [{fields}]"


def check_errors(s: Servers) -> Iterator[Row]:
    long = [{"role": "user", "content": "Ottawa is the capital of Canada. " * 400}]
    body = {"model": "any", "messages": long, "max_tokens": 4}
    got = s.both("POST", "/v1/chat/completions", json=body)
    yield _same("error: prompt past --ctx-size", *(_error(r) for r in got.values()))
    figures = {}
    for side, answer in got.items():
        inner = answer.json().get("error", {})
        figures[side] = (inner.get("n_prompt_tokens"), inner.get("n_ctx"))
    yield _same("error: n_prompt_tokens, n_ctx", figures["real"], figures["twin"])
    headers = {"content-type": "application/json"}
    got = s.both("POST", "/v1/chat/completions", content=b'{"messages": [', headers=headers)
    yield _same("error: malformed JSON", *(_error(r) for r in got.values()))
    got = s.both("POST", "/v1/chat/completions", json={"model": "any"})
    yield _same("error: no messages", *(_error(r) for r in got.values()))
    got = s.both("POST", "/tokenize", json={"content": 5})
    yield _same("error: /tokenize content not a string",
                *(str(r.status_code) for r in got.values()))  # fmt: skip
    got = s.both("GET", "/no/such/route")
    yield _same("error: unknown route", *(_error(r) for r in got.values()))


CHECKS = (check_health, check_tokenize, check_templates, check_usage, check_prefix_cache,
          check_stream, check_endpoints, check_errors)  # fmt: skip


def run(real: str, twin: str) -> list[Row]:
    servers = Servers(real, twin)
    rows: list[Row] = []
    for check in CHECKS:
        try:
            rows.extend(check(servers))
        except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
            rows.append(Row(check.__name__, "-", "-", "DIFFERS", f"{type(exc).__name__}: {exc}"))
    for row in rows:
        if row.verdict == "DIFFERS" and row.point in DOCUMENTED:
            row.verdict, row.why = "documented", DOCUMENTED[row.point]
    return rows


def table(rows: list[Row]) -> str:
    widths = [max(len(getattr(r, f)) for r in rows) for f in ("point", "real", "twin")]
    widths = [min(w, 48) for w in widths]
    lines = [f"{'point':<{widths[0]}}  {'real llama-server':<{widths[1]}}  "
             f"{'twin':<{widths[2]}}  verdict"]  # fmt: skip
    for r in rows:
        cells = [
            _short(text, width)
            for text, width in zip((r.point, r.real, r.twin), widths, strict=True)
        ]
        lines.append(
            "  ".join(f"{c:<{w}}" for c, w in zip(cells, widths, strict=True)) + f"  {r.verdict}"
        )
        if r.why and r.verdict != "same":
            lines.append(f"    ({r.why})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", help="the llama-server binary to start")
    parser.add_argument("--gguf", help="the Gemma 3 270M GGUF for it")
    parser.add_argument("--real", help="a running llama-server (instead of --binary)")
    parser.add_argument("--twin", help="a running twin (default: started here)")
    parser.add_argument("--json", default="lab-output/llamacpp/llama-server-crosscheck.json")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        try:
            real = args.real
            if not real:
                if not (args.binary and args.gguf):
                    parser.error("give --real URL, or --binary and --gguf")
                server = LlamaServer(args.binary, args.gguf, template_file=TEMPLATE, alias=ALIAS,
                                     n_ctx=CTX, extra_args=["--cache-ram", "0"])  # fmt: skip
                stack.enter_context(server)
                real = server.root_url
                print(f"real llama-server on {real} (ready in {server.startup_seconds:.1f} s)")
            twin = args.twin or stack.enter_context(_twin(free_port()))
        except (OSError, RuntimeError) as exc:
            print(f"could not start the servers: {exc}", file=sys.stderr)
            return 2
        try:
            rows = run(real, twin)
        except httpx.HTTPError as exc:
            print(f"a server did not answer: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
    print(table(rows))
    counts = {v: sum(r.verdict == v for r in rows) for v in ("same", "documented", "DIFFERS")}
    print(f"llama-server cross-check: {counts['same']} same, {counts['documented']} "
          f"documented, {counts['DIFFERS']} differ, of {len(rows)} points")  # fmt: skip
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=1) + "\n")
    return 1 if counts["DIFFERS"] else 0


if __name__ == "__main__":
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    sys.exit(main())
