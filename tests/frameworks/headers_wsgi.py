"""A bare WSGI app (gunicorn) behind riskgate: answers with every HTTP_* variable it
was given, so a test sees what an app reads as X-Risk-* and X-Forwarded-For."""
import json


def app(environ, start_response):
    seen = {k: v for k, v in environ.items() if k.startswith("HTTP_")}
    body = json.dumps({"environ": seen}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
