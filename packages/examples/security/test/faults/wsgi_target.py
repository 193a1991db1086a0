"""
A WSGI target for the identity-header tests: Python's own wsgiref server on 127.0.0.1, answering
every request with its WSGI view of the request headers (every HTTP_* environ key) as JSON. wsgiref
folds header names as CGI does: "-" to "_", upper case, repeated names joined with ",".

Test support (stdlib only). Prints its port on the first line of stdout, then serves until killed.
"""
import json
from wsgiref.simple_server import WSGIRequestHandler, make_server


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    seen = {k: v for k, v in environ.items() if k.startswith("HTTP_")}
    body = json.dumps(seen).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
print(server.server_port, flush=True)
server.serve_forever()
