#!/usr/bin/python3
"""A sealstream.v1 client written only with Debian's python3-grpcio,
python3-protobuf and python3-jwcrypto, against the real server.

Usage:
  /usr/bin/python3 python_client.py prepare DB
      adds the py_types table (every column type, NULLs, edge values) to the
      SQLite file DB before the server starts;
  /usr/bin/python3 python_client.py run TARGET DB QUERY_PB2
      runs the interop cases against the server at TARGET (host:port)
      serving DB, with QUERY_PB2 the query_pb2.py that Debian's protoc made
      from protos/sealstream/v1/query.proto.

For each key type and algorithm pair, in both serializations, with and
without compression, the client generates a key with jwcrypto, sends a
generic unary-stream ExecuteQuery call (grpc.Channel.unary_stream with the
generated messages), decrypts every message with jwcrypto (parts re-joined
into the compact form, compact as is), checks the protected header's qid,
rid, seq and fin and the alg, enc and zip it asked for, and compares every
row with what Python's sqlite3 reads from the same file.

Prints one line per case and ends with "python client: N ok, M failed";
exits non-zero if anything failed or nothing ran.

The server's responses are the untrusted input here; jwcrypto decides
whether they authenticate.
"""

import base64
import json
import math
import os
import sqlite3
import struct
import sys
import traceback

try:
    import grpc
    from jwcrypto import jwe as jj
    from jwcrypto import jwk as jk
except ImportError as e:
    print("cannot import grpc or jwcrypto (%s); run this script with "
          "/usr/bin/python3 and install python3-grpcio python3-jwcrypto" % e)
    print("python client: 0 ok, 1 failed")
    sys.exit(1)

METHOD = "/sealstream.v1.QueryService/ExecuteQuery"
EVENTS_SQL = "SELECT * FROM http_events ORDER BY rowid"
TYPES_SQL = "SELECT * FROM py_types ORDER BY id"
ROWS_PER_BATCH = 500

# (name, jwcrypto key arguments, JWE alg, JWE enc)
KEYS = [
    ("EC P-256", {"kty": "EC", "crv": "P-256"}, "ECDH-ES+A256KW", "A256GCM"),
    ("X25519", {"kty": "OKP", "crv": "X25519"}, "ECDH-ES+A256KW", "A128GCM"),
    ("EC P-384", {"kty": "EC", "crv": "P-384"}, "ECDH-ES+A192KW",
     "A128CBC-HS256"),
    ("EC P-521", {"kty": "EC", "crv": "P-521"}, "ECDH-ES+A128KW", "A192GCM"),
    ("RSA-2048", {"kty": "RSA", "size": 2048}, "RSA-OAEP-256",
     "A256CBC-HS512"),
    ("RSA-4096", {"kty": "RSA", "size": 4096}, "RSA-OAEP", "A256GCM"),
]


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --- The py_types table ----------------------------------------------------

def prepare(db_path):
    con = sqlite3.connect(db_path)
    con.execute("CREATE TABLE py_types(id INTEGER PRIMARY KEY, i INTEGER, "
                "d REAL, b BOOLEAN, s TEXT, bl BLOB, ts TIMESTAMP)")
    specials_i = [-(2 ** 63), 2 ** 63 - 1, 0, -1, 1, 2 ** 53 + 1]
    specials_d = [0.0, -0.0, 1.5, -2.25, 1.7976931348623157e308,
                  2.2250738585072014e-308, 5e-324, math.inf, -math.inf]
    specials_s = ["", "a", "h\u00e9llo w\u00f6rld \u2713 \U0001d11e",
                  "x" * 5000, "quote ' \" \\ tab\t newline\n"]
    specials_b = [b"", bytes(range(256)), os.urandom(3000)]
    specials_t = [0, -1, 2 ** 63 - 1, -(2 ** 63), 1700000000123456789]
    rows = []
    for k in range(40):
        i = None if k % 7 == 3 else (
            specials_i[k] if k < len(specials_i) else k * 1000003 - 5000000)
        d = None if k % 5 == 2 else (
            specials_d[k] if k < len(specials_d) else k / 7.0 - 3.0)
        b = None if k % 6 == 4 else int(k % 3 == 0)
        s = None if k % 4 == 1 else (
            specials_s[k] if k < len(specials_s) else "row %d" % k)
        bl = None if k % 9 == 5 else (
            specials_b[k] if k < len(specials_b) else bytes([k] * (k % 8)))
        ts = None if k % 8 == 6 else (
            specials_t[k] if k < len(specials_t) else 1600000000000000000 + k)
        rows.append((k + 1, i, d, b, s, bl, ts))
    rows.append((41, None, None, None, None, None, None))
    con.executemany("INSERT INTO py_types VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    # Invalid UTF-8 in TEXT reaches a proto3 string as U+FFFD, which is what
    # lets Python's protobuf parse the message at all.
    con.execute("INSERT INTO py_types(id, s) VALUES (42, "
                "CAST(x'61ff62' AS TEXT))")
    con.commit()
    con.close()


# --- Reference rows ----------------------------------------------------------

def expected_rows(db_path, sql):
    con = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    con.text_factory = bytes
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    con.close()
    return names, rows


def served_text(raw):
    # The server cuts TEXT at its first NUL and replaces invalid UTF-8.
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def same_double(a, b):
    return struct.pack("<d", a) == struct.pack("<d", b)


def column_values(pb, col, num_rows):
    kind = col.WhichOneof("data")
    data = getattr(col, kind).data if kind is not None else []
    check(len(data) == num_rows,
          "column holds %d values for %d rows" % (len(data), num_rows))
    nulls = list(col.nulls)
    check(len(nulls) in (0, num_rows), "nulls has %d flags" % len(nulls))
    return kind, list(data), nulls


def compare_value(pb, ctype, kind, got, want, where):
    T = pb.ColumnType
    expected_kind = {
        T.Value("COLUMN_TYPE_INT64"): "int64_data",
        T.Value("COLUMN_TYPE_DOUBLE"): "double_data",
        T.Value("COLUMN_TYPE_BOOL"): "bool_data",
        T.Value("COLUMN_TYPE_STRING"): "string_data",
        T.Value("COLUMN_TYPE_BYTES"): "bytes_data",
        T.Value("COLUMN_TYPE_TIMESTAMP"): "timestamp_data",
    }[ctype]
    check(kind == expected_kind, "%s: data in %s for type %d"
          % (where, kind, ctype))
    if kind in ("int64_data", "timestamp_data"):
        check(got == int(want), "%s: %r, SQLite %r" % (where, got, want))
    elif kind == "double_data":
        check(same_double(got, float(want)),
              "%s: %r, SQLite %r" % (where, got, want))
    elif kind == "bool_data":
        check(got == (int(want) != 0), "%s: %r, SQLite %r"
              % (where, got, want))
    elif kind == "string_data":
        check(got == served_text(want), "%s: string differs" % where)
    else:
        check(got == bytes(want), "%s: bytes differ" % where)


# --- One query ----------------------------------------------------------------

def rejoin(parts):
    """JweParts -> compact serialization."""
    return ".".join([parts.protected_header, b64url(parts.encrypted_key),
                     b64url(parts.iv), b64url(parts.ciphertext),
                     b64url(parts.tag)])


def run_query(channel, pb, key, alg, enc, compact, deflate, db_path, sql):
    call = channel.unary_stream(
        METHOD, request_serializer=pb.QueryRequest.SerializeToString,
        response_deserializer=pb.QueryResponse.FromString)
    request_id = os.urandom(16)
    E = pb.EncryptionOptions
    request = pb.QueryRequest(
        query=sql,
        limits=pb.QueryLimits(max_rows_per_batch=ROWS_PER_BATCH),
        client_request_id=request_id,
        encryption=E(
            public_jwk=key.export_public(),
            key_alg=alg,
            content_alg=enc,
            compression=(pb.COMPRESSION_DEFLATE if deflate
                         else pb.COMPRESSION_NONE),
            serialization=(pb.SERIALIZATION_COMPACT if compact
                           else pb.SERIALIZATION_PARTS)))
    responses = list(call(request, timeout=120))
    check(len(responses) >= 2, "%d messages" % len(responses))

    query_id = responses[0].query_id
    check(query_id != "", "empty query id")
    payloads = []
    for seq, resp in enumerate(responses):
        form = resp.WhichOneof("message")
        check(form == ("jwe_compact" if compact else "jwe_parts"),
              "message %d is %s" % (seq, form))
        check(resp.query_id == query_id,
              "message %d: query id changed" % seq)
        token = resp.jwe_compact if compact else rejoin(resp.jwe_parts)
        check(token.count(".") == 4, "message %d: not a compact JWE" % seq)
        jwe = jj.JWE()
        jwe.deserialize(token, key=key)
        header = json.loads(
            base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        check(header == jwe.jose_header,
              "message %d: header is not the protected one" % seq)
        check(header.get("alg") == alg, "message %d: alg %r"
              % (seq, header.get("alg")))
        check(header.get("enc") == enc, "message %d: enc %r"
              % (seq, header.get("enc")))
        check(header.get("zip") == ("DEF" if deflate else None),
              "message %d: zip %r" % (seq, header.get("zip")))
        check(header.get("qid") == query_id,
              "message %d: qid %r, response %r"
              % (seq, header.get("qid"), query_id))
        check(header.get("rid") == b64url(request_id),
              "message %d: rid %r" % (seq, header.get("rid")))
        check(header.get("seq") == seq,
              "message %d: seq %r" % (seq, header.get("seq")))
        last = seq == len(responses) - 1
        if last:
            check(header.get("fin") == 1, "final message: fin %r"
                  % header.get("fin"))
        else:
            check("fin" not in header, "message %d: fin before the end" % seq)
        payloads.append(pb.StreamPayload.FromString(jwe.payload))

    # Schema, batches, stats.
    check(payloads[0].WhichOneof("payload") == "schema", "no schema first")
    check(payloads[-1].WhichOneof("payload") == "stats", "no stats last")
    schema = payloads[0].schema
    names, want_rows = expected_rows(db_path, sql)
    check([c.name for c in schema.columns] == names,
          "column names %r, SQLite %r"
          % ([c.name for c in schema.columns], names))
    row = 0
    batches = payloads[1:-1]
    for b, p in enumerate(batches):
        check(p.WhichOneof("payload") == "batch",
              "message %d is not a batch" % (b + 1))
        batch = p.batch
        n = batch.num_rows
        check(0 < n <= ROWS_PER_BATCH, "batch %d has %d rows" % (b, n))
        check(len(batch.columns) == len(names),
              "batch %d has %d columns" % (b, len(batch.columns)))
        for c, col in enumerate(batch.columns):
            kind, data, nulls = column_values(pb, col, n)
            for r in range(n):
                check(row + r < len(want_rows), "more rows than SQLite")
                want = want_rows[row + r][c]
                where = "row %d column %s" % (row + r, names[c])
                is_null = bool(nulls) and nulls[r]
                check(is_null == (want is None), "%s: NULL mismatch" % where)
                if want is not None:
                    compare_value(pb, schema.columns[c].type, kind, data[r],
                                  want, where)
        row += n
    check(row == len(want_rows), "%d rows, SQLite %d" % (row, len(want_rows)))
    stats = payloads[-1].stats
    check(stats.rows == row and stats.batches == len(batches),
          "stats say %d rows in %d batches" % (stats.rows, stats.batches))
    return responses, row


def case(name, fn, results):
    try:
        detail = fn()
        print("ok   %s%s" % (name, (": " + detail) if detail else ""))
        results[0] += 1
    except Exception as e:  # noqa: BLE001 - every failure is reported
        print("FAIL %s: %s" % (name, e))
        if not isinstance(e, Failure):
            traceback.print_exc(file=sys.stdout)
        results[1] += 1


def run(target, db_path, query_pb2_path):
    sys.path.insert(0, os.path.dirname(os.path.abspath(query_pb2_path)))
    import query_pb2 as pb  # noqa: E402 - generated at build time

    results = [0, 0]
    channel = grpc.insecure_channel(
        target, options=[("grpc.max_receive_message_length", 64 << 20)])
    keys = {}
    for name, args, _, _ in KEYS:
        keys[name] = jk.JWK.generate(**args)

    for name, _, alg, enc in KEYS:
        for compact in (False, True):
            for deflate in (False, True):
                for sql in (EVENTS_SQL, TYPES_SQL):
                    label = "%s %s %s %s%s: %s" % (
                        name, alg, enc, "compact" if compact else "parts",
                        " DEF" if deflate else "", sql)

                    def one(key=keys[name], alg=alg, enc=enc,
                            compact=compact, deflate=deflate, sql=sql):
                        responses, rows = run_query(
                            channel, pb, key, alg, enc, compact, deflate,
                            db_path, sql)
                        return "%d messages, %d rows" % (len(responses), rows)
                    case(label, one, results)

    # jwcrypto must refuse what the server did not send: a flipped tag byte.
    def tampered():
        key = keys["EC P-256"]
        call = channel.unary_stream(
            METHOD, request_serializer=pb.QueryRequest.SerializeToString,
            response_deserializer=pb.QueryResponse.FromString)
        req = pb.QueryRequest(
            query="SELECT 1 AS one", client_request_id=os.urandom(16),
            encryption=pb.EncryptionOptions(public_jwk=key.export_public()))
        resp = list(call(req, timeout=60))[1]
        parts = resp.jwe_parts
        parts.tag = bytes([parts.tag[0] ^ 1]) + parts.tag[1:]
        try:
            jj.JWE().deserialize(rejoin(parts), key=key)
        except Exception:  # noqa: BLE001 - any refusal will do
            return "refused"
        raise Failure("jwcrypto accepted a tampered message")
    case("tampered message refused by jwcrypto", tampered, results)

    # The server's errors reach a generic client as gRPC statuses.
    def bad_sql():
        call = channel.unary_stream(
            METHOD, request_serializer=pb.QueryRequest.SerializeToString,
            response_deserializer=pb.QueryResponse.FromString)
        req = pb.QueryRequest(
            query="SELECT * FROM no_such_table",
            client_request_id=os.urandom(16),
            encryption=pb.EncryptionOptions(
                public_jwk=keys["X25519"].export_public()))
        try:
            list(call(req, timeout=60))
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.INVALID_ARGUMENT,
                  "status %s" % e.code())
            check("no such table" in e.details(), "details %r" % e.details())
            return e.details()
        raise Failure("bad SQL succeeded")
    case("bad SQL is INVALID_ARGUMENT", bad_sql, results)

    channel.close()
    print("python client: %d ok, %d failed" % (results[0], results[1]))
    return 0 if results[1] == 0 and results[0] > 0 else 1


def main(argv):
    if len(argv) == 3 and argv[1] == "prepare":
        prepare(argv[2])
        return 0
    if len(argv) == 5 and argv[1] == "run":
        return run(argv[2], argv[3], argv[4])
    print(__doc__)
    print("python client: 0 ok, 1 failed")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
