"""Over the PostgreSQL wire protocol with psycopg 3 (extended protocol): first a pipeline
(several statements sent before any answer is read, one of them a second-long
aggregation, so that the others wait unread in the server's socket while it runs), then
an aggregation that sends no row for minutes. Once the test says that one runs (a line on
stdin), the script shuts down the sending side of the connection's socket
(`shutdown(SHUT_WR)`: the server sees the client's FIN, and the client can still read
what the server answers). Prints {"pipelined": [...], "sqlstate": ..., "message": ...,
"seconds": ...} as JSON, seconds counted from the shutdown to the error.

TLS is chosen through libpq's environment (PGSSLMODE, PGSSLROOTCERT).

Usage: python3 psycopg_disconnect.py PORT
"""

import json
import os
import socket
import sys
import threading
import time

import psycopg

port = int(sys.argv[1])
conn = psycopg.connect(host="127.0.0.1", port=port, user="vigil", dbname="vigil", autocommit=True)

with conn.pipeline():
    cursors = [
        conn.execute("SELECT %s::bigint", (1,)),
        conn.execute("SELECT count(*) FROM generate_series(1, 30000000) a WHERE value > %s", (0,)),
        conn.execute("SELECT %s::bigint + 1", (2,)),
    ]
pipelined = [cursor.fetchone()[0] for cursor in cursors]

answer = {"sqlstate": None, "message": "the query ended"}


def run():
    try:
        conn.execute("SELECT count(*) FROM generate_series(1, 20000000000) a", prepare=True).fetchall()
    except psycopg.Error as error:
        answer.update(sqlstate=error.sqlstate, message=str(error))
    answer["ended"] = time.monotonic()


query = threading.Thread(target=run)
query.start()
print("started", file=sys.stderr, flush=True)
sys.stdin.readline()
# A second handle on the connection's socket: libpq keeps using its own.
handle = socket.socket(fileno=os.dup(conn.fileno()))
shut = time.monotonic()
handle.shutdown(socket.SHUT_WR)
query.join()
handle.close()
print(json.dumps({
    "pipelined": pipelined,
    "sqlstate": answer["sqlstate"],
    "message": answer["message"],
    "seconds": answer["ended"] - shut,
}))
