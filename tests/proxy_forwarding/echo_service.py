#!/usr/bin/python3
"""test.echo.v1.Echo: a backend for a service sealstream-proxy has never
heard of, written only with Debian's python3-grpcio (generic handlers,
bytes in and out, no protos).

Usage:
  /usr/bin/python3 echo_service.py --port-file FILE [--dead-port-file FILE]
                                   [--max-message-bytes N]

Listens on 127.0.0.1:0 and writes its port to FILE once serving. With
--dead-port-file it also binds a second loopback port without listening on
it and writes that port: connecting to it is refused for as long as this
process lives, which gives a test a backend that is reliably down. Exits 0
on SIGTERM or SIGINT.

Every call may carry these request metadata keys:
  x-test-id      names the call in the side channel (Status, Release);
  x-test-op      selects a behaviour (below; "echo" when absent);
  x-test-code    a grpc.StatusCode value for the ops that end with a status;
  x-test-details-bin   UTF-8 status details for those ops;
  x-test-compress-response   "gzip" to compress the responses.
Every request key starting with "x-echo-" (text and -bin) is sent back,
in order, as initial metadata and again as trailing metadata.

Methods and ops:
  Unary         echo: the request back.  status: initial metadata, then the
                status x-test-code with details and trailing metadata.
                fail-now: trailing metadata and a status at once, nothing
                else (a trailers-only response).  hold: wait until the call
                ends (cancel or deadline) without answering.
  ServerStream  the request is JSON {"count": N, "size": S}; answers N
                messages of S bytes (message(i, S) below).  hold-first: send
                initial metadata, then wait for Release before the first
                message.
  ClientStream  answers the concatenation of all requests.  early: answers
                after 2 requests while the client may still be streaming.
  Bidi          echoes each request as it arrives.  early: returns OK after
                echoing 2 requests, whether or not the client has closed.
                early-status: returns x-test-code after echoing 1 request.
  Status        the request is JSON {"id": ID, "wait": null|"started"|
                "ended", "timeout": S}; answers what the backend recorded for
                ID as JSON (waiting first, at most S seconds, until the call
                has started or ended).
  Release       the request is an ID; lets that call's held first message go.

The side channel (Status, Release) is meant to be called on the backend
directly, never through the proxy under test.
"""

import argparse
import base64
import hashlib
import json
import os
import signal
import socket
import sys
import threading
import time
from concurrent import futures

try:
    import grpc
except ImportError as e:
    print("cannot import grpc (%s); run this script with /usr/bin/python3 "
          "and install python3-grpcio" % e, file=sys.stderr)
    sys.exit(1)

SERVICE = "test.echo.v1.Echo"
# A held call gives up after this long, so a broken test cannot wedge the
# backend; the tests wait for far less.
HOLD_LIMIT_S = 60.0


def message(i, size):
    """The i-th ServerStream message: |size| bytes that differ per index."""
    seed = hashlib.sha256(b"message %d" % i).digest()
    return (seed * (size // len(seed) + 1))[:size]


def b64(data):
    return base64.b64encode(data).decode("ascii")


class Records:
    """What the backend saw per x-test-id, for the Status method."""

    def __init__(self):
        self._cond = threading.Condition()
        self._calls = {}
        self._release = {}

    def start(self, call_id, method, op, context):
        md = []
        for k, v in context.invocation_metadata():
            md.append([k, b64(v) if isinstance(v, bytes)
                       else b64(v.encode("utf-8"))])
        remaining = context.time_remaining()
        with self._cond:
            self._calls[call_id] = {
                "method": method,
                "op": op,
                "metadata": md,
                "time_remaining": remaining,
                "started": True,
                "ended": False,
                "cancelled": False,
                "received": [],
                "released_by": None,
            }
            self._cond.notify_all()

    def update(self, call_id, **fields):
        with self._cond:
            rec = self._calls.get(call_id)
            if rec is not None:
                rec.update(fields)
                self._cond.notify_all()

    def received(self, call_id, data):
        with self._cond:
            rec = self._calls.get(call_id)
            if rec is not None:
                rec["received"].append(
                    [len(data), hashlib.sha256(data).hexdigest()])

    def get(self, call_id, wait, timeout):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                rec = self._calls.get(call_id)
                if wait is None or (rec is not None and rec.get(wait)):
                    return dict(rec) if rec is not None else None
                left = deadline - time.monotonic()
                if left <= 0:
                    return dict(rec) if rec is not None else None
                self._cond.wait(left)

    def release_event(self, call_id):
        with self._cond:
            return self._release.setdefault(call_id, threading.Event())


RECORDS = Records()


def call_info(context):
    md = context.invocation_metadata()
    info = {"id": None, "op": "echo", "code": None, "details": "",
            "compress": False, "echo": []}
    for k, v in md:
        if k == "x-test-id":
            info["id"] = v
        elif k == "x-test-op":
            info["op"] = v
        elif k == "x-test-code":
            info["code"] = int(v)
        elif k == "x-test-details-bin":
            info["details"] = v.decode("utf-8")
        elif k == "x-test-compress-response":
            info["compress"] = v == "gzip"
        elif k.startswith("x-echo-"):
            info["echo"].append((k, v))
    return info


def status_code(value):
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code
    raise ValueError("unknown status code %r" % value)


def begin(method, context):
    info = call_info(context)
    if info["id"] is not None:
        RECORDS.start(info["id"], method, info["op"], context)
        if info["op"] != "hold":
            # Runs when the call ends, for any reason.
            context.add_callback(
                lambda: RECORDS.update(info["id"], ended=True))
    if info["compress"]:
        context.set_compression(grpc.Compression.Gzip)
    return info


def echo_metadata(context, info, initial=True):
    if initial:
        context.send_initial_metadata(tuple(info["echo"]))
    context.set_trailing_metadata(tuple(info["echo"]))


def end_with_status(context, info):
    context.set_code(status_code(info["code"]))
    context.set_details(info["details"])


def hold_until_end(context, info):
    ended = threading.Event()
    context.add_callback(ended.set)
    if ended.wait(HOLD_LIMIT_S):
        # The handler has not answered, so the call ended by cancellation
        # (the client's or the deadline's). One update, so a Status waiting
        # for "ended" also sees "cancelled".
        if info["id"] is not None:
            RECORDS.update(info["id"], ended=True,
                           cancelled=not context.is_active())
    else:
        context.abort(grpc.StatusCode.INTERNAL, "held call was never ended")


def unary(request, context):
    info = begin("Unary", context)
    if info["id"] is not None:
        RECORDS.received(info["id"], request)
    op = info["op"]
    if op == "echo":
        echo_metadata(context, info)
        return request
    if op == "status":
        echo_metadata(context, info)
        end_with_status(context, info)
        return None
    if op == "fail-now":
        echo_metadata(context, info, initial=False)
        context.abort(status_code(info["code"]), info["details"])
    if op == "hold":
        hold_until_end(context, info)
        return None
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unknown op %r" % op)


def server_stream(request, context):
    info = begin("ServerStream", context)
    if info["id"] is not None:
        RECORDS.received(info["id"], request)
    spec = json.loads(request.decode("utf-8"))
    echo_metadata(context, info)
    if info["op"] == "hold-first":
        released = RECORDS.release_event(info["id"]).wait(HOLD_LIMIT_S)
        RECORDS.update(info["id"],
                       released_by="client" if released else "timeout")
    for i in range(spec["count"]):
        yield message(i, spec["size"])


def client_stream(request_iterator, context):
    info = begin("ClientStream", context)
    echo_metadata(context, info)
    parts = []
    for request in request_iterator:
        if info["id"] is not None:
            RECORDS.received(info["id"], request)
        parts.append(request)
        if info["op"] == "early" and len(parts) == 2:
            break
    return b"".join(parts)


def bidi(request_iterator, context):
    info = begin("Bidi", context)
    echo_metadata(context, info)
    count = 0
    for request in request_iterator:
        if info["id"] is not None:
            RECORDS.received(info["id"], request)
        yield request
        count += 1
        if info["op"] == "early" and count == 2:
            return
        if info["op"] == "early-status" and count == 1:
            end_with_status(context, info)
            return


def status(request, context):
    query = json.loads(request.decode("utf-8"))
    rec = RECORDS.get(query["id"], query.get("wait"),
                      float(query.get("timeout", 0)))
    return json.dumps(rec).encode("utf-8")


def release(request, context):
    RECORDS.release_event(request.decode("utf-8")).set()
    return b""


def handler():
    ident = {"request_deserializer": None, "response_serializer": None}
    return grpc.method_handlers_generic_handler(SERVICE, {
        "Unary": grpc.unary_unary_rpc_method_handler(unary, **ident),
        "ServerStream": grpc.unary_stream_rpc_method_handler(
            server_stream, **ident),
        "ClientStream": grpc.stream_unary_rpc_method_handler(
            client_stream, **ident),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi, **ident),
        "Status": grpc.unary_unary_rpc_method_handler(status, **ident),
        "Release": grpc.unary_unary_rpc_method_handler(release, **ident),
    })


def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def main():
    parser = argparse.ArgumentParser(description="test.echo.v1.Echo backend")
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--dead-port-file")
    parser.add_argument("--max-message-bytes", type=int, default=16 << 20)
    args = parser.parse_args()

    dead = None
    if args.dead_port_file:
        # Bound but never listening: connections are refused.
        dead = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        dead.bind(("127.0.0.1", 0))

    # Held calls and 50 concurrent ones each take a worker thread.
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=200),
        handlers=[handler()],
        options=[
            ("grpc.max_receive_message_length", args.max_message_bytes),
            ("grpc.max_send_message_length", args.max_message_bytes),
        ])
    port = server.add_insecure_port("127.0.0.1:0")
    if port == 0:
        print("echo_service: cannot bind 127.0.0.1:0", file=sys.stderr)
        return 1
    server.start()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if dead is not None:
        write_atomically(args.dead_port_file,
                         "%d\n" % dead.getsockname()[1])
    write_atomically(args.port_file, "%d\n" % port)
    print("echo_service: serving %s on 127.0.0.1:%d" % (SERVICE, port),
          file=sys.stderr, flush=True)
    while not stop.wait(3600):
        pass
    server.stop(grace=2).wait()
    if dead is not None:
        dead.close()
    print("echo_service: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
