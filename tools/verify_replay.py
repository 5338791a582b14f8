"""Replay a recording on the bundled fake and check it reproduces the content and the frames.

    python tools/verify_replay.py lab-output/llamacpp/recording

Loads every recorded exchange, starts the fake in-process with ``--replay DIR --replay-strict``
(no delays), sends each recorded request again and compares what comes back with what was
recorded: the JSON body, or every stream frame in order. It also collects the fake's verdict on
``prompt_tokens`` (the ``x-portway-replay-prompt-tokens-*`` headers): where the fake knows the
model, a difference between its count and the engine's is printed. Exit 0 when every exchange
is reproduced, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx

from mockserver.config import Settings
from mockserver.engine.catalog import KNOWN_MODELS
from mockserver.replay import Recording, Recordings
from mockserver.server import serving
from mockserver.wire import sse


def frames_of(response: httpx.Response, stream_type: str) -> list[bytes]:
    """The body cut into frames as the recorder cuts them (mockserver/wire/sse.py)."""
    kind = sse.stream_kind(stream_type) or "ndjson"
    return [segment.data for segment in sse.frames(response.content, kind)]


def check(client: httpx.Client, base: str, recording: Recording) -> tuple[bool, str, str]:
    path = recording.path if recording.path.startswith("/api") else f"/v1{recording.path}"
    response = client.request(
        recording.method, f"{base}{path}", content=json.dumps(recording.request_body)
    )
    headers = response.headers
    if "x-portway-replay-prompt-tokens-match" in headers:
        verdict = f"the fake counts the same ({headers['x-portway-replay-prompt-tokens-match']})"
    elif "x-portway-replay-prompt-tokens-mismatch" in headers:
        verdict = f"MISMATCH {headers['x-portway-replay-prompt-tokens-mismatch']}"
    else:
        verdict = headers.get("x-portway-replay-prompt-tokens-unchecked", "no usage to compare")
    if response.headers.get("x-portway-replay") != recording.file:
        return False, f"not replayed (status {response.status_code})", verdict
    if response.status_code != recording.status:
        return False, f"status {response.status_code} != {recording.status}", verdict
    if recording.frames is not None:
        got = frames_of(response, recording.content_type)
        want = [frame.data for frame in recording.frames]
        same = got == want
        return same, f"{len(got)} frames {'identical' if same else 'DIFFER'}", verdict
    if recording.has_json:
        same = response.json() == recording.json_body
        return same, f"JSON body {'identical' if same else 'DIFFERS'}", verdict
    same = response.content == recording.body_bytes()
    return same, f"body {'identical' if same else 'DIFFERS'}", verdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    recordings = Recordings.load(args.directory)
    settings = Settings(
        port=0,
        models=tuple(card.name for card in KNOWN_MODELS),
        replay_dir=str(args.directory),
        replay_strict=True,
        replay_speed=0.0,
    )
    failures = matches = mismatches = 0
    posts = [r for r in recordings.by_key.values() if r.method == "POST"]
    with serving(settings) as fake, httpx.Client(timeout=60) as client:
        for recording in posts:
            ok, what, verdict = check(client, fake.url, recording)
            failures += not ok
            matches += verdict.startswith("the fake counts the same")
            mismatches += verdict.startswith("MISMATCH")
            print(f"{'ok  ' if ok else 'FAIL'} {recording.file}: {what}; prompt_tokens: {verdict}")
    print(f"{len(posts) - failures}/{len(posts)} recorded exchanges reproduced by the fake")
    print(
        f"prompt_tokens: the fake's count equals the engine's in {matches}, differs in "
        f"{mismatches} (the rest have no usage, or a model or request the fake does not serve)"
    )
    return 1 if failures or not posts else 0


if __name__ == "__main__":
    sys.exit(main())
