"""The web server as the demo runs it: on a socket bound before anything starts (a port in use
is said at once, in one line), and leaving signals to the demo, which stops all it started."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn


class Server(uvicorn.Server):
    """uvicorn's server without its signal handlers (it would re-raise SIGTERM at the end and
    kill the demo before it stops the worker)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, or OSError (the port in use, the host unknown)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


async def serve(server: Server, sock: socket.socket) -> asyncio.Task[None]:
    """The server serving on `sock` (returned once it has started), as a task."""
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the web server stopped while starting")
        await asyncio.sleep(0.02)
    return task
