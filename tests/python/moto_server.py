"""A local S3 server for the tests: moto's app (`moto[server]`) on 127.0.0.1, served ONE
REQUEST AT A TIME, so that a conditional put (`If-None-Match: *`, which delta-rs writes
each commit with) is atomic: of two writers racing for the same log entry, the second is
answered 412 Precondition Failed. (moto's own `ThreadedMotoServer` runs a thread per
request, where two such puts could both succeed.)

Usage: moto_server.py [--port N] [--bucket NAME ...]

Creates the buckets named, then prints the bound port on one line on stdout once the
socket is listening (the readiness signal; port 0, the default, lets the OS pick), and
serves until killed. Any access key and secret work; the region is us-east-1.
"""

import argparse
import sys

from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server


def main() -> None:
    parser = argparse.ArgumentParser(description="a one-request-at-a-time local S3 server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bucket", action="append", default=[])
    args = parser.parse_args()

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", args.port, app, threaded=False)
    # In the backend the served app uses (requests signed with any key land in moto's
    # default account).
    s3 = get_backend("s3")[DEFAULT_ACCOUNT_ID]["global"]
    for bucket in args.bucket:
        s3.create_bucket(bucket, "us-east-1")
    print(server.socket.getsockname()[1])
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
