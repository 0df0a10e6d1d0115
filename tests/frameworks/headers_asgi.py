"""A bare ASGI app on uvicorn behind riskgate: answers with every header it was
given, as uvicorn hands them to the app. Prints `PORT n` once listening. Run with
`HTTP_IMPL=httptools` or `h11` to pick uvicorn's parser."""
import json
import os
import socket

import uvicorn


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    headers = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]]
    body = json.dumps({"headers": headers}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # accepting (queued) before the port is announced
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", http=os.environ.get("HTTP_IMPL", "auto"))).run(sockets=[sock])
