"""moto server, with DynamoDB requests serialised.

moto's server is threaded and its DynamoDB backend evaluates a ConditionExpression and applies the write without a
lock, so two concurrent conditional writes to one item can both succeed. Real DynamoDB never allows that, and the
project's exactly-once claims depend on it. This launcher runs moto's own WSGI app (the same one `moto_server`
runs) and holds one lock around every DynamoDB request; every other service stays concurrent.

Usage: python infra/moto_server.py -H 127.0.0.1 -p PORT
"""

import argparse
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

_dynamodb = threading.Lock()


def serialise_dynamodb(app):
    def wrapped(environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("DynamoDB_"):
            with _dynamodb:
                # Materialise the body inside the lock: the write happens while the app iterates.
                return list(app(environ, start_response))
        return app(environ, start_response)

    return wrapped


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serialise_dynamodb(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
