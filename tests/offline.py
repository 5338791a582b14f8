"""No network but loopback: for proving that a client library downloads nothing when it runs.

``forbid_network()`` makes every name lookup and connection to anything but the loopback range
fail with ``OfflineError`` (and records it), the way a CI machine without internet would: a
library that fetches a file at import or at run time (tiktoken's BPE files, nltk's data, a
tokenizer from a hub) fails loudly instead of quietly succeeding on a networked laptop.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

ATTEMPTS: list[str] = []


class OfflineError(OSError):
    pass


def _loopback(host: Any) -> bool:
    if host in (None, "localhost", b"localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else host).is_loopback
    except ValueError:
        return False


def forbid_network() -> Callable[[], None]:
    """Refuse non-loopback lookups and connections; returns the function that undoes it."""
    saved = (socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex)

    def refuse(what: str) -> OfflineError:
        ATTEMPTS.append(what)
        return OfflineError(f"network access attempted while offline: {what}")

    def getaddrinfo(host, *args, **kwargs):
        if not _loopback(host):
            raise refuse(f"lookup of {host!r}")
        return saved[0](host, *args, **kwargs)

    def guarded(original):
        def connect(self, address, *args):
            if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
                raise refuse(f"connection to {address[0]!r}")
            return original(self, address, *args)

        return connect

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = guarded(saved[1])  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded(saved[2])  # type: ignore[method-assign]

    def restore() -> None:
        socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex = saved  # type: ignore[method-assign]

    return restore
