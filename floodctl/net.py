"""Small network helpers: free loopback ports and waiting for a listener."""

from __future__ import annotations

import socket
import time
from typing import Any


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
