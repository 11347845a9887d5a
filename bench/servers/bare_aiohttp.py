"""The ceiling: an aiohttp handler that parses the same JSON and answers without a model."""

from __future__ import annotations

import sys

import orjson
import uvloop
from aiohttp import web


async def predict(request: web.Request) -> web.Response:
    body = orjson.loads(await request.read())
    _ = body["input"]
    return web.Response(body=b'{"query_id":0,"output":0.0,"default":false}', content_type="application/json")


def main() -> None:
    app = web.Application()
    app.router.add_post("/predict", predict)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
