"""A portable HTTP/1.1 keep-alive load generator (asyncio, raw sockets), run in its own process.

``python -m bench.loadgen --url http://127.0.0.1:PORT/path --body FILE --connections 16
--duration 4`` prints one JSON line: requests, seconds, rps, p50_ms, p99_ms, errors, and, for
``--first-chunk``, the median time to the first body bytes (ttfc_ms). Used where ``wrk`` is not
installed; ``bench.run`` measures it against a bare app so the report says whether it, rather
than the server, was the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from urllib.parse import urlsplit


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def exchange(self, request: bytes) -> tuple[int, float]:
        """Send one request; return (status, seconds to the first body bytes)."""
        started = time.perf_counter()
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        if b"transfer-encoding: chunked" in lower:
            first = None
            while True:
                size_line = await self.reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if first is None:
                    first = time.perf_counter() - started
                await self.reader.readexactly(size + 2)
                if size == 0:
                    return status, first
        index = lower.find(b"content-length:")
        length = int(lower[index + 15 : lower.find(b"\r\n", index)]) if index >= 0 else 0
        await self.reader.readexactly(length)
        return status, time.perf_counter() - started


def build_request(url: str, body: bytes, counter: int | None = None, parts=None) -> bytes:
    split = urlsplit(url)
    if parts is not None:
        body = parts[0] + str(counter).encode() + parts[1]
    return (
        f"POST {split.path} HTTP/1.1\r\nHost: {split.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def run(
    url: str,
    body: bytes,
    connections: int,
    duration: float,
    max_requests: int = 0,
    first_chunk: bool = False,
    distinct: tuple[bytes, bytes] | None = None,
) -> dict:
    split = urlsplit(url)
    fixed = build_request(url, body)
    latencies: list[float] = []
    firsts: list[float] = []
    errors = 0
    sent = 0
    deadline = time.perf_counter() + duration

    async def worker(index: int) -> None:
        nonlocal errors, sent
        reader, writer = await asyncio.open_connection(split.hostname, split.port)
        conn = Conn(reader, writer)
        counter = 0
        while time.perf_counter() < deadline and (not max_requests or sent < max_requests):
            sent += 1
            counter += 1
            request = (
                fixed
                if distinct is None
                else build_request(url, body, index * 10_000_000 + counter, distinct)
            )
            started = time.perf_counter()
            status, first = await conn.exchange(request)
            latencies.append(time.perf_counter() - started)
            firsts.append(first)
            if status >= 400:
                errors += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    seconds = time.perf_counter() - started
    latencies.sort()
    result = {
        "requests": len(latencies),
        "seconds": seconds,
        "rps": len(latencies) / seconds,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "errors": errors,
    }
    if first_chunk:
        result["ttfc_ms"] = 1000 * statistics.median(firsts)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True, help="file with the JSON body")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--max-requests", type=int, default=0)
    parser.add_argument("--first-chunk", action="store_true")
    parser.add_argument("--distinct", action="store_true", help="a new conversation per request")
    args = parser.parse_args()
    with open(args.body, "rb") as handle:
        body = handle.read()
    distinct = None
    if args.distinct:
        from bench.workload import STREAM_BODY, distinct_body_parts, distinct_stream_parts

        distinct = distinct_stream_parts() if body == STREAM_BODY else distinct_body_parts()
    try:
        import uvloop  # the client must not be the bottleneck: the fastest loop available

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(
        run(
            args.url,
            body,
            args.connections,
            args.duration,
            args.max_requests,
            args.first_chunk,
            distinct,
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
