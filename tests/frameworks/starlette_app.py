"""A Starlette app on uvicorn behind riskgate. Binds its own socket on port 0 and
prints `PORT n` once the socket listens, so no port is ever picked and released."""
import socket
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


def seen(handler):
    async def endpoint(request):
        return JSONResponse({"handler": handler,
                             "risk": request.headers.get("x-risk-action"),
                             "path": request.url.path})
    return endpoint


async def other(request, exc):
    return JSONResponse({"handler": None}, status_code=exc.status_code)

app = Starlette(
    routes=[
        Route("/api/apply-coupon", seen("coupon"), methods=["POST"]),
        Route("/api/redeem/{code:path}", seen("redeem"), methods=["GET", "POST"]),
    ],
    exception_handlers={404: other, 405: other},
)

if __name__ == "__main__":
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # accepting (queued) before the port is announced
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])
    sys.exit(0)
