"""The floor: the least a relay of calls to screens can do on the same stack (uvicorn, Starlette,
redis-py). A POST appends its body to a Redis Stream; one reader per process reads the stream
and sends each entry, encoded once, to every connected socket. No credentials, no rules, no
queues: what the project costs beyond this is the price of its guarantees.

Run as `python -m queueserver.tools.bench.floor --port P --redis URL` (the benchmark starts it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import redis
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from queueserver.platform import connections
from queueserver.store import keys

BLOCK_MS = 5000


def create_floor(redis_url: str) -> Starlette:
    sockets: set[WebSocket] = set()
    stream = keys.bench_floor()

    async def relay(r: redis.asyncio.Redis) -> None:
        last = await r.xrevrange(stream, count=1)
        cursor = str(last[0][0]) if last else "0-0"
        while True:
            batches: Any = await r.xread({stream: cursor}, block=BLOCK_MS, count=100)
            for entry_id, fields in batches[0][1] if batches else []:
                cursor = entry_id
                text = json.dumps({"id": entry_id, "type": fields["type"], "at": fields["at"],
                                   "data": json.loads(fields["data"])}, ensure_ascii=False)
                for ws in list(sockets):
                    with contextlib.suppress(Exception):
                        await ws.send_text(text)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        r = connections.connect_async(redis_url)
        reader_r = connections.connect_async(redis_url, socket_timeout=BLOCK_MS / 1000 + 10)
        task = asyncio.create_task(relay(reader_r))
        yield {"redis": r}
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await r.aclose()
        await reader_r.aclose()

    async def post(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        entry_id = await request.state.redis.xadd(stream, {
            "type": body["type"], "at": body["at"], "data": json.dumps(body["data"])})
        return JSONResponse({"id": entry_id}, status_code=201)

    async def events(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text('{"type": "hello"}')
        sockets.add(ws)
        try:
            while (await ws.receive())["type"] != "websocket.disconnect":
                pass
        except WebSocketDisconnect:
            pass
        finally:
            sockets.discard(ws)

    return Starlette(routes=[Route("/relay", post, methods=["POST"]),
                             WebSocketRoute("/ws", events)], lifespan=lifespan)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--redis", required=True)
    args = p.parse_args()
    uvicorn.run(create_floor(args.redis), host="127.0.0.1", port=args.port, access_log=False,
                log_level="warning", ws_ping_interval=20.0, ws_ping_timeout=20.0)


if __name__ == "__main__":
    main()
