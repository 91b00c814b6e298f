#!/usr/bin/python3
"""Forwarding cases for sealstream-proxy, written only with Debian's
python3-grpcio, against echo_service.py (test.echo.v1.Echo, a service the
proxy has never heard of).

Usage:
  /usr/bin/python3 forwarding_test.py --backend HOST:PORT
      [--proxy HOST:PORT] [--gzip-proxy HOST:PORT --gzip-proxy-pid PID]

Every case runs directly against the backend (the control) and, given
--proxy, again through the proxy; the two runs must agree byte for byte on
the response messages, the custom initial and trailing metadata (keys
starting with "x-echo-", -bin values included), the status code and the
details, and on what the backend received. The proxy-only cases (routes,
the authorization header, the gzip limit) run only with --proxy. The
proxy routes "echo" to the backend (also its default route) and
"down-backend" to a port nothing listens on; --gzip-proxy is a second
instance started with --max-message-bytes 4194304 whose peak RSS
(VmHWM of --gzip-proxy-pid) is measured.

The backend's side channel (Status, Release) is always called directly,
never through the proxy. Synchronization is by the backend's records and
events, never by sleeping.

Prints one line per case and ends with "forwarding: N ok, M failed"; exits
non-zero if anything failed or nothing ran.
"""

import argparse
import hashlib
import json
import os
import queue
import sys
import threading
import time
import traceback
import uuid
from concurrent import futures

try:
    import grpc
except ImportError as e:
    print("cannot import grpc (%s); run this script with /usr/bin/python3 "
          "and install python3-grpcio" % e)
    print("forwarding: 0 ok, 1 failed")
    sys.exit(1)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from echo_service import message  # noqa: E402 - next to this file

PREFIX = "/test.echo.v1.Echo/"
ROUTE = "echo"
DOWN_ROUTE = "down-backend"
UNKNOWN_ROUTE = "no-such-route-7f3a"
CALL_TIMEOUT_S = 60.0
# Waits for the backend's records: generous, since they only bound a
# failure; success returns as soon as the event happens.
EVENT_TIMEOUT_S = 20.0
MIB = 1 << 20

# Custom request metadata the backend echoes back: text, a repeated key,
# binary values with every byte value, an empty binary value.
ECHO_MD = [
    ("x-echo-text", "hello forwarding"),
    ("x-echo-repeated", "first"),
    ("x-echo-repeated", "second"),
    ("x-echo-all-bytes-bin", bytes(range(256))),
    ("x-echo-random-bin", os.urandom(61)),
    ("x-echo-empty-bin", b""),
    ("x-echo-spaces", "a b  c"),
]

STATUS_DETAILS = "r\u00e9sum\u00e9 \u2713 100% done /a?b=%41 \"quoted\""


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def custom(md):
    return [(k, v) for k, v in (md or ()) if k.startswith("x-echo-")]


def digest(data):
    return [len(data), hashlib.sha256(data).hexdigest()]


class Target:
    """Where calls go: the backend itself, or a proxy in front of it."""

    def __init__(self, mode, address, side):
        self.mode = mode
        self.channel = grpc.insecure_channel(address, options=[
            ("grpc.max_receive_message_length", 64 * MIB),
            ("grpc.max_send_message_length", 128 * MIB),
        ])
        self.side = side

    def new_id(self, name):
        return "%s-%s-%s" % (name.replace(" ", "-"), self.mode,
                             uuid.uuid4().hex[:12])

    def md(self, call_id=None, op=None, route=ROUTE, extra=()):
        md = []
        if route is not None:
            md.append(("x-sealstream-route", route))
        if call_id is not None:
            md.append(("x-test-id", call_id))
        if op is not None:
            md.append(("x-test-op", op))
        md.extend(extra)
        return md


class SideChannel:
    """The backend's Status and Release methods, called directly."""

    def __init__(self, address):
        self.channel = grpc.insecure_channel(address)
        self._status = self.channel.unary_unary(PREFIX + "Status")
        self._release = self.channel.unary_unary(PREFIX + "Release")

    def record(self, call_id, wait=None, timeout=EVENT_TIMEOUT_S):
        req = json.dumps({"id": call_id, "wait": wait,
                          "timeout": timeout}).encode("utf-8")
        rec = json.loads(self._status(req, timeout=timeout + 10))
        check(rec is not None, "backend never saw call %s" % call_id)
        if wait is not None:
            check(rec.get(wait), "backend: call %s not %s after %.0f s"
                  % (call_id, wait, timeout))
        return rec

    def release(self, call_id):
        self._release(call_id.encode("utf-8"), timeout=10)


def backend_metadata(rec):
    import base64
    return [(k, base64.b64decode(v)) for k, v in rec["metadata"]]


def backend_custom(rec):
    return [(k, v) for k, v in backend_metadata(rec)
            if k.startswith("x-echo-")]


def expected_wire(md):
    return [(k, v if isinstance(v, bytes) else v.encode("utf-8"))
            for k, v in md]


# --- Observations -----------------------------------------------------------

def observe(msgs, call, **extra):
    obs = {
        "messages": list(msgs),
        "initial": custom(call.initial_metadata()),
        "trailing": custom(call.trailing_metadata()),
        "code": call.code(),
        "details": call.details() or "",
    }
    obs.update(extra)
    return obs


def unary(t, req, md, method="Unary", timeout=CALL_TIMEOUT_S,
          compression=None):
    fn = t.channel.unary_unary(PREFIX + method)
    try:
        resp, call = fn.with_call(req, metadata=md, timeout=timeout,
                                  compression=compression)
        return observe([resp], call)
    except grpc.RpcError as e:
        return observe([], e)


def response_stream(call):
    msgs = []
    try:
        for m in call:
            msgs.append(m)
    except grpc.RpcError:
        pass
    return observe(msgs, call)


def server_stream(t, spec, md):
    fn = t.channel.unary_stream(PREFIX + "ServerStream")
    return response_stream(fn(json.dumps(spec).encode("utf-8"), metadata=md,
                              timeout=CALL_TIMEOUT_S))


def client_stream(t, requests, md):
    fn = t.channel.stream_unary(PREFIX + "ClientStream")
    try:
        resp, call = fn.with_call(requests, metadata=md,
                                  timeout=CALL_TIMEOUT_S)
        return observe([resp], call)
    except grpc.RpcError as e:
        return observe([], e)


class OpenRequests:
    """A request iterator the test feeds one message at a time; it stays
    open (the client does not half-close) until close()."""

    _END = object()

    def __init__(self):
        self._q = queue.Queue()

    def send(self, data):
        self._q.put(data)

    def close(self):
        self._q.put(self._END)

    def __iter__(self):
        return self

    def __next__(self):
        item = self._q.get()
        if item is self._END:
            raise StopIteration
        return item


def bidi_ping_pong(t, payloads, md, close_after=True):
    """Sends one message, waits for its echo, repeats. Returns the
    observation; echoes must arrive one by one or the call stalls until
    its deadline."""
    fn = t.channel.stream_stream(PREFIX + "Bidi")
    reqs = OpenRequests()
    call = fn(reqs, metadata=md, timeout=CALL_TIMEOUT_S)
    msgs = []
    try:
        for p in payloads:
            reqs.send(p)
            msgs.append(next(call))
        if close_after:
            reqs.close()
        for m in call:
            msgs.append(m)
    except (grpc.RpcError, StopIteration):
        pass
    finally:
        reqs.close()
    return observe(msgs, call)


# --- Cases -------------------------------------------------------------------
#
# A case is run(target, side) -> observation and check(observation, target,
# side) for the expectations; "same" lists the observation fields the proxy
# run must share with the control.

SAME_ALL = ("messages", "initial", "trailing", "code", "details", "backend")


class Case:
    def __init__(self, name, run, verify, same=SAME_ALL, proxy_only=False,
                 error=False, gzip_proxy=False):
        self.name = name
        self.run = run
        self.verify = verify
        self.same = same
        self.proxy_only = proxy_only
        self.error = error
        self.gzip_proxy = gzip_proxy


def expect_ok(obs, messages):
    check(obs["code"] == grpc.StatusCode.OK,
          "status %s %r" % (obs["code"], obs["details"]))
    check(len(obs["messages"]) == len(messages),
          "%d messages, expected %d" % (len(obs["messages"]), len(messages)))
    for i, (got, want) in enumerate(zip(obs["messages"], messages)):
        check(got == want, "message %d differs (%d bytes, expected %d)"
              % (i, len(got), len(want)))


def expect_echo_md(obs, initial=True):
    if initial:
        check(obs["initial"] == ECHO_MD,
              "initial metadata %r" % obs["initial"])
    else:
        check(obs["initial"] == [], "initial metadata %r" % obs["initial"])
    check(obs["trailing"] == ECHO_MD, "trailing metadata %r"
          % obs["trailing"])


def with_backend(t, side, call_id, obs, wait="ended"):
    rec = side.record(call_id, wait=wait)
    obs["backend"] = {
        "echo_md": backend_custom(rec),
        "received": rec["received"],
    }
    obs["record"] = rec
    return obs


def expect_backend(obs, requests):
    check(obs["backend"]["received"] == [digest(r) for r in requests],
          "backend received %r" % (obs["backend"]["received"],))
    check(obs["backend"]["echo_md"] == expected_wire(ECHO_MD),
          "backend saw metadata %r" % (obs["backend"]["echo_md"],))


def case_unary():
    payload = os.urandom(1000)

    def run(t, side):
        cid = t.new_id("unary")
        obs = unary(t, payload, t.md(cid, extra=ECHO_MD))
        return with_backend(t, side, cid, obs)

    def verify(obs, t, side):
        expect_ok(obs, [payload])
        expect_echo_md(obs)
        expect_backend(obs, [payload])
    return Case("unary echo with text and -bin metadata", run, verify)


def case_server_stream(count, size, name):
    spec = {"count": count, "size": size}
    want = [message(i, size) for i in range(count)]

    def run(t, side):
        cid = t.new_id("sstream")
        obs = server_stream(t, spec, t.md(cid, extra=ECHO_MD))
        return with_backend(t, side, cid, obs)

    def verify(obs, t, side):
        expect_ok(obs, want)
        expect_echo_md(obs)
    return Case(name, run, verify)


def case_client_stream():
    parts = [os.urandom(n) for n in (0, 1, 100, 16384, 70000, 3, 1 << 20)]

    def run(t, side):
        cid = t.new_id("cstream")
        obs = client_stream(t, iter(parts), t.md(cid, extra=ECHO_MD))
        return with_backend(t, side, cid, obs)

    def verify(obs, t, side):
        expect_ok(obs, [b"".join(parts)])
        expect_echo_md(obs)
        expect_backend(obs, parts)
    return Case("client-streaming 7 messages (0 B to 1 MiB) concatenated",
                run, verify)


def case_bidi_ping_pong():
    payloads = [os.urandom(1 + (i * 37) % 3000) for i in range(50)]

    def run(t, side):
        cid = t.new_id("pingpong")
        obs = bidi_ping_pong(t, payloads, t.md(cid, extra=ECHO_MD))
        return with_backend(t, side, cid, obs)

    def verify(obs, t, side):
        expect_ok(obs, payloads)
        expect_echo_md(obs)
        expect_backend(obs, payloads)
    return Case("bidi ping-pong 50 rounds (each echo awaited before the "
                "next send)", run, verify)


def case_large():
    payload = os.urandom(8 * MIB)

    def run(t, side):
        cid = t.new_id("large")
        obs = unary(t, payload, t.md(cid, extra=ECHO_MD))
        return with_backend(t, side, cid, obs)

    def verify(obs, t, side):
        expect_ok(obs, [payload])
        expect_backend(obs, [payload])
    return Case("8 MiB message each way (unary echo)", run, verify)


STATUS_CODES = [
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.INVALID_ARGUMENT,
]


def status_md(code, details):
    return [("x-test-code", str(code.value[0])),
            ("x-test-details-bin", details.encode("utf-8"))] + ECHO_MD


def case_custom_statuses():
    def run(t, side):
        out = {"messages": [], "initial": [], "trailing": [], "code": [],
               "details": [], "backend": []}
        for code in STATUS_CODES:
            cid = t.new_id("status")
            details = "%s: %s" % (code.name, STATUS_DETAILS)
            obs = unary(t, b"x", t.md(cid, "status",
                                      extra=status_md(code, details)))
            for k in ("messages", "initial", "trailing", "code", "details"):
                out[k].append(obs[k])
            out["backend"].append(with_backend(t, side, cid, {})["backend"])
        return out

    def verify(obs, t, side):
        problems = []
        for i, code in enumerate(STATUS_CODES):
            try:
                check(obs["code"][i] == code, "%s came back as %s"
                      % (code.name, obs["code"][i]))
                check(obs["details"][i] == "%s: %s"
                      % (code.name, STATUS_DETAILS),
                      "%s: details %r" % (code.name, obs["details"][i]))
                check(obs["messages"][i] == [], "%s: messages" % code.name)
                check(obs["initial"][i] == ECHO_MD, "%s: initial metadata %r"
                      % (code.name, obs["initial"][i]))
                check(obs["trailing"][i] == ECHO_MD,
                      "%s: trailing metadata %r"
                      % (code.name, obs["trailing"][i]))
            except Failure as e:
                problems.append(str(e))
        check(not problems, "; ".join(problems))
    return Case("custom status codes (%s) with details and trailing metadata"
                % ", ".join(c.name for c in STATUS_CODES), run, verify,
                error=True)


def case_client_stream_early():
    parts = [os.urandom(100), os.urandom(200)]

    def run(t, side):
        cid = t.new_id("cstream-early")
        reqs = OpenRequests()
        for p in parts:
            reqs.send(p)
        try:
            # The iterator stays open: the backend answers before the
            # client half-closes.
            obs = client_stream(t, reqs, t.md(cid, "early", extra=ECHO_MD))
        finally:
            reqs.close()
        return with_backend(t, side, cid, obs)

    def verify(obs, t, side):
        expect_ok(obs, [b"".join(parts)])
        expect_echo_md(obs)
        expect_backend(obs, parts)
    return Case("client-streaming answered before the client half-closes",
                run, verify)


def case_bidi_early():
    payloads = [os.urandom(10), os.urandom(20)]

    def run(t, side):
        cid = t.new_id("bidi-early")
        obs = bidi_ping_pong(t, payloads, t.md(cid, "early", extra=ECHO_MD),
                             close_after=False)
        return with_backend(t, side, cid, obs)

    def verify(obs, t, side):
        expect_ok(obs, payloads)
        expect_echo_md(obs)
        expect_backend(obs, payloads)
    return Case("bidi ends OK after 2 messages while the client still "
                "streams", run, verify)


def case_bidi_early_status():
    payloads = [os.urandom(10)]
    details = "stopped early: %s" % STATUS_DETAILS

    def run(t, side):
        cid = t.new_id("bidi-early-status")
        obs = bidi_ping_pong(
            t, payloads,
            t.md(cid, "early-status",
                 extra=status_md(grpc.StatusCode.ABORTED, details)),
            close_after=False)
        return with_backend(t, side, cid, obs)

    def verify(obs, t, side):
        check(obs["code"] == grpc.StatusCode.ABORTED, "status %s %r"
              % (obs["code"], obs["details"]))
        check(obs["details"] == details, "details %r" % obs["details"])
        check(obs["messages"] == payloads, "messages differ")
        expect_echo_md(obs)
    return Case("bidi returns ABORTED while the client has not closed", run,
                verify, error=True)


def case_trailers_only():
    details = "refused at once: %s" % STATUS_DETAILS

    def run(t, side):
        cid = t.new_id("fail-now")
        obs = unary(t, b"y", t.md(cid, "fail-now", extra=status_md(
            grpc.StatusCode.PERMISSION_DENIED, details)))
        return with_backend(t, side, cid, obs)

    def verify(obs, t, side):
        check(obs["code"] == grpc.StatusCode.PERMISSION_DENIED,
              "status %s %r" % (obs["code"], obs["details"]))
        check(obs["details"] == details, "details %r" % obs["details"])
        check(obs["messages"] == [], "messages")
        expect_echo_md(obs, initial=False)
    return Case("immediate error: status and trailing metadata only "
                "(trailers-only)", run, verify, error=True)


def case_initial_metadata_first():
    spec = {"count": 3, "size": 100}
    want = [message(i, 100) for i in range(3)]

    def run(t, side):
        cid = t.new_id("hold-first")
        fn = t.channel.unary_stream(PREFIX + "ServerStream")
        call = fn(json.dumps(spec).encode("utf-8"),
                  metadata=t.md(cid, "hold-first", extra=ECHO_MD),
                  timeout=CALL_TIMEOUT_S)
        got = []
        waiter = threading.Thread(
            target=lambda: got.append(call.initial_metadata()), daemon=True)
        waiter.start()
        # The backend holds its first message until Release, so initial
        # metadata can only arrive now if it is forwarded on its own.
        waiter.join(EVENT_TIMEOUT_S)
        before_release = custom(got[0]) if got else None
        side.release(cid)
        obs = response_stream(call)
        obs["before_release"] = before_release
        obs = with_backend(t, side, cid, obs)
        obs["released_by"] = obs["record"]["released_by"]
        return obs

    def verify(obs, t, side):
        check(obs["before_release"] is not None,
              "initial metadata did not arrive while the backend held its "
              "first message (%.0f s)" % EVENT_TIMEOUT_S)
        check(obs["before_release"] == ECHO_MD,
              "initial metadata %r" % obs["before_release"])
        check(obs["released_by"] == "client",
              "backend released by %r" % obs["released_by"])
        expect_ok(obs, want)
        expect_echo_md(obs)
    return Case("initial metadata arrives before the first message", run,
                verify, same=SAME_ALL + ("before_release", "released_by"))


def case_cancel():
    def run(t, side):
        cid = t.new_id("cancel")
        fn = t.channel.unary_unary(PREFIX + "Unary")
        fut = fn.future(b"hold me", metadata=t.md(cid, "hold"),
                        timeout=CALL_TIMEOUT_S)
        side.record(cid, wait="started")
        fut.cancel()
        rec = side.record(cid, wait="ended")
        return {"code": fut.code(), "backend": {
            "ended": rec["ended"], "cancelled": rec["cancelled"]}}

    def verify(obs, t, side):
        check(obs["code"] == grpc.StatusCode.CANCELLED, "client saw %s"
              % obs["code"])
        check(obs["backend"]["cancelled"], "backend did not see the cancel")
    return Case("client cancel reaches the backend", run, verify,
                same=("code", "backend"))


DEADLINE_CALLS = 8


# Long enough for the call to reach a backend on a loaded machine (a
# sanitizer build beside other tests) before it expires.
DEADLINE_S = 1.0


def case_deadline():
    def one(t, side):
        cid = t.new_id("deadline")
        start = time.monotonic()
        obs = unary(t, b"hold me", t.md(cid, "hold"), timeout=DEADLINE_S)
        elapsed = time.monotonic() - start
        rec = side.record(cid, wait="ended")
        return {"code": obs["code"], "details": obs["details"],
                "elapsed": elapsed, "time_remaining": rec["time_remaining"],
                "backend": {"ended": rec["ended"],
                            "cancelled": rec["cancelled"]}}

    def run(t, side):
        # Several in a row: the deadline firing on both legs at once is a
        # race inside a proxy, and a call it loses stays open there (which
        # the drain at SIGTERM then shows).
        calls = [one(t, side) for _ in range(DEADLINE_CALLS)]
        return {"calls": calls,
                "code": [c["code"] for c in calls],
                "backend": [c["backend"] for c in calls]}

    def verify(obs, t, side):
        for i, c in enumerate(obs["calls"]):
            check(c["code"] == grpc.StatusCode.DEADLINE_EXCEEDED,
                  "call %d: client saw %s %r" % (i, c["code"], c["details"]))
            tr = c["time_remaining"]
            # grpc-timeout is sent rounded up (to 10 ms at 1 s), and the
            # backend reads it against its own clock: 2% of slack.
            check(tr is not None and 0 < tr <= DEADLINE_S * 1.02,
                  "call %d: backend saw time_remaining %r" % (i, tr))
            check(c["backend"]["ended"] and c["backend"]["cancelled"],
                  "call %d: backend did not see the call end: %r"
                  % (i, c["backend"]))
            check(c["elapsed"] < 5, "call %d: client waited %.1f s"
                  % (i, c["elapsed"]))
        return "backend saw %s ms left" % ", ".join(
            "%.0f" % (c["time_remaining"] * 1000) for c in obs["calls"])
    return Case("%.0f ms deadline reaches the backend and ends the call "
                "(%d calls)" % (DEADLINE_S * 1000, DEADLINE_CALLS), run, verify,
                same=("code", "backend"), error=True)


def case_gzip_normal():
    payload = (os.urandom(4096) + bytes(60000)) * 16

    def run(t, side):
        cid = t.new_id("gzip")
        obs = unary(t, payload, t.md(cid, extra=ECHO_MD + [
            ("x-test-compress-response", "gzip")]),
            compression=grpc.Compression.Gzip)
        return with_backend(t, side, cid, obs)

    def verify(obs, t, side):
        expect_ok(obs, [payload])
        expect_echo_md(obs)
        expect_backend(obs, [payload])
    return Case("gzip request and response (%d KiB) forwarded intact"
                % (len(payload) // 1024), run, verify)


def case_authorization():
    token = "Bearer not-for-the-backend-%s" % uuid.uuid4().hex

    def run(t, side):
        cid = t.new_id("authz")
        obs = unary(t, b"authz", t.md(cid, extra=[("authorization", token)]
                                      + ECHO_MD))
        obs = with_backend(t, side, cid, obs)
        obs["saw_authorization"] = [
            v.decode("utf-8", "replace")
            for k, v in backend_metadata(obs["record"])
            if k == "authorization"]
        return obs

    def verify(obs, t, side):
        expect_ok(obs, [b"authz"])
        expect_backend(obs, [b"authz"])
        if t.mode == "direct":
            # The control shows the backend would see the header.
            check(obs["saw_authorization"] == [token],
                  "direct: backend saw authorization %r"
                  % obs["saw_authorization"])
        else:
            check(obs["saw_authorization"] == [],
                  "authorization forwarded to the backend: %r"
                  % obs["saw_authorization"])
    return Case("authorization header is not forwarded", run, verify,
                same=("messages", "initial", "trailing", "code", "details",
                      "backend"))


def case_default_route():
    payload = os.urandom(300)

    def run(t, side):
        cid = t.new_id("default-route")
        obs = unary(t, payload, t.md(cid, route=None, extra=ECHO_MD))
        return with_backend(t, side, cid, obs)

    def verify(obs, t, side):
        expect_ok(obs, [payload])
        expect_echo_md(obs)
        expect_backend(obs, [payload])
    return Case("no route header goes to the default route", run, verify)


def case_unknown_route():
    def run(t, side):
        return unary(t, b"lost", t.md(route=UNKNOWN_ROUTE, extra=ECHO_MD))

    def verify(obs, t, side):
        check(obs["code"] == grpc.StatusCode.NOT_FOUND, "status %s %r"
              % (obs["code"], obs["details"]))
        check(UNKNOWN_ROUTE in obs["details"],
              "details do not name the route: %r" % obs["details"])
        return obs["details"]
    return Case("unknown route is NOT_FOUND naming it", run, verify,
                proxy_only=True, error=True)


def case_down_route():
    def run(t, side):
        return unary(t, b"down", t.md(route=DOWN_ROUTE, extra=ECHO_MD))

    def verify(obs, t, side):
        check(obs["code"] == grpc.StatusCode.UNAVAILABLE, "status %s %r"
              % (obs["code"], obs["details"]))
        check(DOWN_ROUTE in obs["details"],
              "details do not name the route: %r" % obs["details"])
        return obs["details"]
    return Case("route to a closed port is UNAVAILABLE naming it", run,
                verify, proxy_only=True, error=True)


def concurrent_call(t, side, k):
    """One of 5 kinds by k; returns (kind, comparable result, problem)."""
    kind = k % 5
    cid = t.new_id("conc%d" % k)
    if kind == 0:
        payload = hashlib.sha256(b"u%d" % k).digest() * (k + 1)
        obs = unary(t, payload, t.md(cid, extra=ECHO_MD))
        want = [payload]
    elif kind == 1:
        obs = server_stream(t, {"count": 20, "size": 1000 + k},
                            t.md(cid, extra=ECHO_MD))
        want = [message(i, 1000 + k) for i in range(20)]
    elif kind == 2:
        parts = [b"%d-%d" % (k, i) * 100 for i in range(5)]
        obs = client_stream(t, iter(parts), t.md(cid, extra=ECHO_MD))
        want = [b"".join(parts)]
    elif kind == 3:
        payloads = [b"%d:%d" % (k, i) * 50 for i in range(5)]
        obs = bidi_ping_pong(t, payloads, t.md(cid, extra=ECHO_MD))
        want = payloads
    else:
        obs = unary(t, b"s", t.md(cid, "status", extra=status_md(
            grpc.StatusCode.FAILED_PRECONDITION, "call %d" % k)))
        want = None
    problem = None
    try:
        if want is None:
            check(obs["code"] == grpc.StatusCode.FAILED_PRECONDITION and
                  obs["details"] == "call %d" % k,
                  "status %s %r" % (obs["code"], obs["details"]))
        else:
            expect_ok(obs, want)
        expect_echo_md(obs)
    except Failure as e:
        problem = "call %d: %s" % (k, e)
    result = (kind, [digest(m) for m in obs["messages"]], obs["initial"],
              obs["trailing"], obs["code"], obs["details"])
    return result, problem


def case_concurrent():
    n = 50

    def run(t, side):
        with futures.ThreadPoolExecutor(max_workers=n) as pool:
            out = list(pool.map(lambda k: concurrent_call(t, side, k),
                                range(n)))
        return {"results": [r for r, _ in out],
                "problems": [p for _, p in out if p]}

    def verify(obs, t, side):
        check(len(obs["results"]) == n, "%d results" % len(obs["results"]))
        check(not obs["problems"], "; ".join(obs["problems"][:5]))
    return Case("50 concurrent calls of mixed kinds", run, verify,
                same=("results",))


def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise Failure("no VmHWM for pid %d" % pid)


def case_gzip_bomb(args):
    inflated = 64 * MIB

    def run(t, side):
        before = None
        if t.mode != "direct":
            before = vm_hwm_kib(args.gzip_proxy_pid)
        cid = t.new_id("gzip-bomb")
        obs = unary(t, bytes(inflated), t.md(cid, extra=ECHO_MD),
                    compression=grpc.Compression.Gzip)
        obs["messages"] = [digest(m) for m in obs["messages"]]
        if t.mode != "direct":
            obs["hwm_before"] = before
            obs["hwm_after"] = vm_hwm_kib(args.gzip_proxy_pid)
        return obs

    def verify(obs, t, side):
        if t.mode != "direct":
            # Measured and printed whatever the outcome.
            print("     gzip proxy VmHWM: %d KiB before, %d KiB after the "
                  "%d MiB gzip request" % (obs["hwm_before"],
                                           obs["hwm_after"],
                                           inflated // MIB), flush=True)
        check(obs["code"] == grpc.StatusCode.RESOURCE_EXHAUSTED,
              "status %s %r, response %r" % (obs["code"], obs["details"],
                                             obs["messages"]))
        check(obs["messages"] == [], "a response came back")
        if t.mode == "direct":
            return "backend refused: %s" % obs["details"]
        hwm = obs["hwm_after"]
        check(hwm < inflated // 1024, "proxy VmHWM %d KiB is not below "
              "%d MiB" % (hwm, inflated // MIB))
        return "VmHWM %.1f MiB; %s" % (hwm / 1024.0, obs["details"])
    return Case("gzip request inflating to 64 MiB is RESOURCE_EXHAUSTED "
                "with bounded proxy memory", run, verify, same=("code",),
                error=True, gzip_proxy=True)


def case_still_serving():
    payload = os.urandom(64)

    def run(t, side):
        return unary(t, payload, t.md(extra=ECHO_MD))

    def verify(obs, t, side):
        expect_ok(obs, [payload])
        expect_echo_md(obs)
    return Case("a final unary call succeeds after every error case", run,
                verify)


# --- Driver -------------------------------------------------------------------

def compare(control, proxied, fields):
    for f in fields:
        if control.get(f) != proxied.get(f):
            a, b = control.get(f), proxied.get(f)
            if f == "messages" and isinstance(a, list):
                a = [digest(m) if isinstance(m, bytes) else m for m in a]
                b = [digest(m) if isinstance(m, bytes) else m
                     for m in (b or [])]
            raise Failure("%s differs: direct %s, proxy %s"
                          % (f, short(a), short(b)))


def short(v):
    s = repr(v)
    return s if len(s) <= 300 else s[:300] + "..."


class Runner:
    def __init__(self):
        self.ok = 0
        self.failed = 0

    def report(self, label, fn):
        try:
            detail = fn()
            print("ok   %s%s" % (label, (": " + detail) if detail else ""),
                  flush=True)
            self.ok += 1
            return True
        except Exception as e:  # noqa: BLE001 - every failure is reported
            print("FAIL %s: %s" % (label, e), flush=True)
            if not isinstance(e, Failure):
                traceback.print_exc(file=sys.stdout)
            self.failed += 1
            return False


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", required=True)
    parser.add_argument("--proxy")
    parser.add_argument("--gzip-proxy")
    parser.add_argument("--gzip-proxy-pid", type=int)
    args = parser.parse_args(argv[1:])

    side = SideChannel(args.backend)
    direct = Target("direct", args.backend, side)
    proxy = Target("proxy", args.proxy, side) if args.proxy else None
    gzip_proxy = None
    if args.gzip_proxy:
        if not args.gzip_proxy_pid:
            parser.error("--gzip-proxy needs --gzip-proxy-pid")
        gzip_proxy = Target("gzip-proxy", args.gzip_proxy, side)

    cases = [
        case_unary(),
        case_server_stream(100, 1000, "server-streaming 100 messages"),
        case_client_stream(),
        case_bidi_ping_pong(),
        case_large(),
        case_server_stream(2, 8 * MIB, "server-streaming 2 messages of "
                           "8 MiB"),
        case_custom_statuses(),
        case_client_stream_early(),
        case_bidi_early(),
        case_bidi_early_status(),
        case_trailers_only(),
        case_initial_metadata_first(),
        case_cancel(),
        case_deadline(),
        case_gzip_normal(),
        case_authorization(),
        case_default_route(),
        case_concurrent(),
        case_unknown_route(),
        case_down_route(),
        case_gzip_bomb(args),
        case_still_serving(),
    ]

    runner = Runner()
    for c in cases:
        through = gzip_proxy if c.gzip_proxy else proxy
        control = {}

        def run_direct(c=c):
            if c.proxy_only:
                return None
            control["obs"] = c.run(direct, side)
            return c.verify(control["obs"], direct, side)
        if not c.proxy_only:
            runner.report("%s [direct]" % c.name, run_direct)
        if through is None:
            continue

        def run_proxy(c=c, through=through):
            obs = c.run(through, side)
            detail = c.verify(obs, through, side)
            if not c.proxy_only:
                check("obs" in control, "no control run to compare with")
                compare(control["obs"], obs, c.same)
            if c.error:
                # The proxy keeps serving after an error case.
                alive = unary(through, b"alive", through.md())
                check(alive["code"] == grpc.StatusCode.OK and
                      alive["messages"] == [b"alive"],
                      "proxy stopped serving after this case: %s %r"
                      % (alive["code"], alive["details"]))
            return detail
        label = "%s [%s%s]" % (c.name, through.mode,
                               "" if c.proxy_only else ", same as direct")
        runner.report(label, run_proxy)

    print("forwarding: %d ok, %d failed" % (runner.ok, runner.failed))
    return 0 if runner.failed == 0 and runner.ok > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
