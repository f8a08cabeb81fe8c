"""Sends one HTTP/2 (h2c, prior knowledge) POST whose body ends with request TRAILERS, not with a final
DATA frame, and prints {"status": ..., "body": ...} as JSON. Used by tests/tests/trust_boundary.rs.

Usage: python h2_trailers.py HOST PORT PATH BODY_FILE HEADER=VALUE...
"""
import json
import socket
import sys

import h2.config
import h2.connection
import h2.events

host, port, path, body_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
extra = [tuple(a.split("=", 1)) for a in sys.argv[5:]]
body = open(body_file, "rb").read()

sock = socket.create_connection((host, port), timeout=30)
conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
conn.initiate_connection()
headers = [(":method", "POST"), (":path", path), (":scheme", "http"), (":authority", host),
           ("content-type", "application/json")] + extra
sid = conn.get_next_available_stream_id()
conn.send_headers(sid, headers)
conn.send_data(sid, body)  # no END_STREAM: the trailers end the request
conn.send_headers(sid, [("x-trailer", "end")], end_stream=True)
sock.sendall(conn.data_to_send())

status, out, done = None, b"", False
while not done:
    data = sock.recv(65536)
    if not data:
        break
    for ev in conn.receive_data(data):
        if isinstance(ev, h2.events.ResponseReceived):
            status = int(dict(ev.headers)[b":status"])
        elif isinstance(ev, h2.events.DataReceived):
            out += ev.data
            conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
            done = True
    sock.sendall(conn.data_to_send())
print(json.dumps({"status": status, "body": out.decode("utf-8", "replace")}))
