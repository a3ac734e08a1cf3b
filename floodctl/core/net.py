"""Small network helpers: free loopback ports and waiting for a listener."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_port_range(count: int, host: str = "127.0.0.1", attempts: int = 50) -> int:
    """A base port such that base .. base + count - 1 are all free (e.g. one per worker)."""
    for _ in range(attempts):
        base = free_port(host)
        socks = []
        try:
            for offset in range(count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.bind((host, base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise OSError(f"no {count} consecutive free ports on {host}")


def wait_for_port(host: str, port: int, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def scrape_metric(port: int, name: str, host: str = "127.0.0.1", *, client: Any = None) -> float | None:
    """The value of an unlabelled Prometheus metric served on ``host:port``, or None if unreachable.
    Pass an ``httpx.Client`` to reuse its connections when polling often."""
    import httpx

    try:
        get = client.get if client is not None else httpx.get
        text = get(f"http://{host}:{port}/metrics", timeout=1).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


@contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", start_timeout_s: float = 15.0) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a thread of this process; yields its base URL.

    The socket is bound before the server starts (no port race). For tests, benchmarks and the
    gateway stub; ``floodctl serve`` runs uvicorn itself.
    """
    import threading

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"http-{port}")
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the HTTP server died while starting")
            if time.monotonic() > deadline:
                raise RuntimeError("the HTTP server did not start")
            time.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        if thread.is_alive():
            raise RuntimeError("the HTTP server did not stop")


def is_loopback_url(url: str) -> bool:
    """True for http(s) URLs whose host is a loopback literal or ``localhost`` (no DNS lookup)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
