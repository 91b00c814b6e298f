#!/usr/bin/python3
"""Interoperability of sealstream-jose with jwcrypto (Debian's python3-jwcrypto).

Usage: /usr/bin/python3 jwcrypto_interop.py PATH/TO/sealstream-jose

For every key-management algorithm the CLI supports, crossed with every
content encryption algorithm (and, for ECDH-ES variants, every curve; for
RSA-OAEP variants, 2048- and 4096-bit moduli), this checks both directions:

  jwcrypto->cli      the CLI generates the key (keygen), jwcrypto encrypts to
                     its public JWK, the CLI decrypts;
  cli->jwcrypto      jwcrypto generates the key, the CLI encrypts to its public
                     JWK, jwcrypto decrypts;
  cli->jwcrypto/own-key  the CLI generates the key, the CLI encrypts,
                     jwcrypto imports the CLI's private JWK and decrypts (one content
                     algorithm per key, rotating).

Then: JWK sets in both directions (the CLI decrypting with a set, picking
the key by the JWE's "kid", explicit or an RFC 7638 thumbprint; the CLI
encrypting to a set with --kid), RFC 7638 thumbprints of every key type, and
JWEs the CLI must refuse (tampered, wrong key, unknown kid, "dir" without
--allow-dir, "zip" past --max-inflate). Plaintexts cycle through sizes from
empty to about 100 KB, random and compressible; the JWE handed to the CLI
ends in varying trailing whitespace.

Prints one line per case and ends with "N passed, M failed" alone on a line;
exits non-zero if anything failed or nothing ran.

The CLI's input here is produced by jwcrypto, a trusted peer; the negative
cases tamper with it on purpose.
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import time

# Debian's jwcrypto lives in /usr/lib/python3/dist-packages; an interpreter
# other than /usr/bin/python3 would not see it.
try:
    from jwcrypto import jwe as jj
    from jwcrypto import jwk as jk
    from jwcrypto.common import json_encode
except ImportError as e:
    print("cannot import jwcrypto (%s); run this script with /usr/bin/python3 "
          "and install python3-jwcrypto" % e)
    print("0 passed, 1 failed")
    sys.exit(1)

PEER = "jwcrypto"

ENCS = ["A128GCM", "A192GCM", "A256GCM",
        "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512"]
# Content key size in bits, which is also the "dir" key size.
ENC_BITS = {"A128GCM": 128, "A192GCM": 192, "A256GCM": 256,
            "A128CBC-HS256": 256, "A192CBC-HS384": 384,
            "A256CBC-HS512": 512}
RSA_ALGS = ["RSA-OAEP", "RSA-OAEP-256"]
ECDH_ALGS = ["ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW"]
KW_ALGS = {"A128KW": 128, "A192KW": 192, "A256KW": 256,
           "A128GCMKW": 128, "A192GCMKW": 192, "A256GCMKW": 256}
# Encryptions that also get "zip":"DEF"; every alg meets both.
ZIP_ENCS = ("A256GCM", "A128CBC-HS256")

# Key variants: name -> (kty, keygen flags, algorithms).
RSA_VARIANTS = {"RSA-2048": 2048, "RSA-4096": 4096}
EC_VARIANTS = {"P-256": "EC", "P-384": "EC", "P-521": "EC", "X25519": "OKP"}
OCT_SIZES = (128, 192, 256, 384, 512)

# What follows the JWE on the CLI's stdin, cycled: trailing whitespace is
# ignored.
JWE_SUFFIXES = (b"\n", b"", b"\r\n", b" \t\n")

# Plaintext sizes, cycled; 7 is prime to the number of encryptions, so each
# size meets every encryption. The last is about 100 KB.
PT_SIZES = (0, 1, 16, 33, 1000, 4099, 102403)


class Runner:
    def __init__(self, cli, tmp):
        self.cli = cli
        self.tmp = tmp
        self.passed = 0
        self.failed = 0
        self.skipped = []
        self.counter = 0
        self.decrypts = 0
        self.files = 0

    # --- bookkeeping -----------------------------------------------------

    def ok(self, name):
        self.passed += 1
        print("PASS %s" % name, flush=True)

    def fail(self, name, why):
        self.failed += 1
        print("FAIL %s: %s" % (name, why), flush=True)

    def skip(self, name, why):
        self.skipped.append((name, why))
        print("SKIP %s: %s" % (name, why), flush=True)

    def plaintext(self):
        """Returns the next plaintext: random or compressible, cycling sizes."""
        i = self.counter
        self.counter += 1
        size = PT_SIZES[i % len(PT_SIZES)]
        if (i // len(PT_SIZES)) % 2 == 0:
            return os.urandom(size)
        text = b"sealstream interop %d; " % i
        body = (text * (size // len(text) + 1))[:size]
        # A few random bytes keep it from being pure repetition.
        if size > 64:
            body = body[:32] + os.urandom(16) + body[48:]
        return body

    def write(self, obj):
        """Writes a JWK/JWKS (dict or JSON text) to a fresh file; returns path."""
        self.files += 1
        path = os.path.join(self.tmp, "key%d.json" % self.files)
        text = obj if isinstance(obj, str) else json.dumps(obj)
        with open(path, "w") as f:
            f.write(text)
        return path

    # --- the CLI -----------------------------------------------------------

    def run(self, args, data):
        p = subprocess.run([self.cli] + args, input=data,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")

    def cli_ok(self, args, data=b""):
        """Runs the CLI; returns stdout, or raises CliError."""
        rc, out, err = self.run(args, data)
        if rc != 0:
            raise CliError("sealstream-jose %s: exit %d: %s" %
                           (" ".join(args), rc, err.strip()))
        return out

    def keygen(self, kty, size=None, crv=None):
        args = ["keygen", "--kty", kty]
        if size:
            args += ["--size", str(size)]
        if crv:
            args += ["--crv", crv]
        out = self.cli_ok(args)
        return json.loads(out)

    def pub(self, priv):
        return json.loads(self.cli_ok(["pub"], json.dumps(priv).encode()))

    def thumbprint(self, jwk_json):
        return self.cli_ok(["thumbprint"], jwk_json.encode()).decode().strip()

    def encrypt(self, key_path, alg, enc, zip_def, pt):
        args = ["encrypt", "--key", key_path, "--alg", alg, "--enc", enc]
        if zip_def:
            args += ["--zip", "DEF"]
        if alg == "dir":
            args.append("--allow-dir")
        out = self.cli_ok(args, pt)
        if not out.endswith(b"\n") or out.count(b"\n") != 1:
            raise CliError("encrypt output is not one line ending in a newline")
        return out[:-1].decode("ascii")

    def decrypt(self, key_path, token, alg):
        args = ["decrypt", "--key", key_path]
        if alg == "dir":
            args.append("--allow-dir")
        suffix = JWE_SUFFIXES[self.decrypts % len(JWE_SUFFIXES)]
        self.decrypts += 1
        try:
            return self.cli_ok(args, token.encode("ascii") + suffix)
        except CliError as e:
            raise CliError("%s (JWE followed by %r)" % (e, suffix))

    # --- jwcrypto ----------------------------------------------------------

    @staticmethod
    def peer_encrypt(pub_key, alg, enc, zip_def, pt, kid=None):
        hdr = {"alg": alg, "enc": enc}
        if zip_def:
            hdr["zip"] = "DEF"
        if kid is not None:
            hdr["kid"] = kid
        e = jj.JWE(pt, json_encode(hdr))
        e.add_recipient(pub_key)
        return e.serialize(compact=True)

    @staticmethod
    def peer_decrypt(priv_key, token):
        e = jj.JWE()
        try:
            e.deserialize(token, key=priv_key)
        except jj.InvalidJWEData:
            # jwcrypto 1.1 decrypts and authenticates an empty plaintext, logs
            # 'Success', then raises because the payload is falsy. Accept
            # exactly that outcome; anything else is a real failure.
            if e.decryptlog == ["Success"] and e.plaintext == b"":
                return b"", e.jose_header
            raise
        return e.payload, e.jose_header

    # --- cases ---------------------------------------------------------------

    def case_peer_to_cli(self, label, our_priv, our_pub, alg, enc, zip_def):
        """jwcrypto encrypts to the CLI's public key; the CLI decrypts."""
        pt = self.plaintext()
        name = "%s->cli %s %s/%s%s pt=%d" % (PEER, label, alg, enc,
                                             " zip=DEF" if zip_def else "",
                                             len(pt))
        try:
            token = self.peer_encrypt(jk.JWK(**our_pub), alg, enc, zip_def, pt)
        except Exception as e:  # noqa: BLE001 - report any peer failure
            self.fail(name, "%s encrypt: %r" % (PEER, e))
            return
        try:
            got = self.decrypt(self.write(our_priv), token, alg)
        except CliError as e:
            self.fail(name, str(e))
            return
        if got != pt:
            self.fail(name, "plaintext differs (got %d bytes, want %d)" %
                      (len(got), len(pt)))
            return
        self.ok(name)

    def case_cli_to_peer(self, label, direction, peer_priv, pub_json, alg, enc,
                         zip_def):
        """The CLI encrypts to |pub_json|; jwcrypto decrypts with |peer_priv|."""
        pt = self.plaintext()
        name = "%s %s %s/%s%s pt=%d" % (direction, label, alg, enc,
                                        " zip=DEF" if zip_def else "", len(pt))
        try:
            token = self.encrypt(self.write(pub_json), alg, enc, zip_def, pt)
        except CliError as e:
            self.fail(name, str(e))
            return
        try:
            got, hdr = self.peer_decrypt(peer_priv, token)
        except Exception as e:  # noqa: BLE001
            self.fail(name, "%s decrypt: %r" % (PEER, e))
            return
        want_zip = "DEF" if zip_def else None
        if hdr.get("alg") != alg or hdr.get("enc") != enc or \
                hdr.get("zip") != want_zip:
            self.fail(name, "header has alg=%r enc=%r zip=%r" %
                      (hdr.get("alg"), hdr.get("enc"), hdr.get("zip")))
            return
        if got != pt:
            self.fail(name, "plaintext differs (got %d bytes, want %d)" %
                      (len(got), len(pt)))
            return
        self.ok(name)

    def case_thumbprint(self, label, jwk_json, peer_key):
        name = "thumbprint %s" % label
        try:
            ours = self.thumbprint(jwk_json)
        except CliError as e:
            self.fail(name, str(e))
            return
        theirs = peer_key.thumbprint()
        if ours != theirs:
            self.fail(name, "cli %s, %s %s" % (ours, PEER, theirs))
            return
        self.ok(name)

    def case_refused(self, name, key_path, token, extra_args=()):
        """The CLI must refuse |token|: non-zero exit, one stderr line, no stdout."""
        rc, out, err = self.run(["decrypt", "--key", key_path] +
                                list(extra_args),
                                token.encode("ascii") + b"\n")
        if rc == 0:
            self.fail(name, "accepted (exit 0, %d bytes out)" % len(out))
        elif out:
            self.fail(name, "exit %d but wrote %d bytes to stdout" %
                      (rc, len(out)))
        elif err.count("\n") != 1 or not err.strip():
            self.fail(name, "stderr is not one line: %r" % err[:200])
        else:
            self.ok(name)


class CliError(Exception):
    pass


def jwk_dict(key, private):
    """Returns |key| as a dict: all members (private or secret), or public ones."""
    return json.loads(key.export() if private else key.export_public())


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def flip_last_char(part):
    """Changes the last base64url character of |part| in its significant bits."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    c = part[-1]
    return part[:-1] + alphabet[(alphabet.index(c) + 16) % 64]


def main():
    if len(sys.argv) != 2:
        print("usage: %s PATH/TO/sealstream-jose" % sys.argv[0])
        return 2
    cli = os.path.abspath(sys.argv[1])
    if not os.access(cli, os.X_OK):
        print("not an executable: %s" % cli)
        print("0 passed, 1 failed")
        return 1
    start = time.monotonic()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TEST_TMPDIR")) as tmp:
        r = Runner(cli, tmp)
        try:
            run_all(r)
        except CliError as e:
            # keygen or pub failed: nothing after it can run.
            r.fail("setup", str(e))
    for name, why in r.skipped:
        print("skipped: %s (%s)" % (name, why))
    print("%s interop: %d skipped, %.1f s" % (PEER, len(r.skipped),
                                              time.monotonic() - start))
    print("%d passed, %d failed" % (r.passed, r.failed))
    return 0 if r.failed == 0 and r.passed > 0 else 1


def run_all(r):
    # Keys. Each RSA-4096 key is generated once: one by the CLI, one by
    # jwcrypto.
    ours = {}    # label -> private JWK dict from keygen
    theirs = {}  # label -> jwcrypto JWK (private)
    for label, bits in RSA_VARIANTS.items():
        ours[label] = r.keygen("RSA", size=bits)
        theirs[label] = jk.JWK.generate(kty="RSA", size=bits)
    for crv, kty in EC_VARIANTS.items():
        ours[crv] = r.keygen(kty, crv=crv)
        theirs[crv] = jk.JWK.generate(kty=kty, crv=crv)
    for bits in OCT_SIZES:
        label = "oct-%d" % bits
        ours[label] = r.keygen("oct", size=bits)
        theirs[label] = jk.JWK.generate(kty="oct", size=bits)

    our_pub = {}
    for label, priv in ours.items():
        our_pub[label] = priv if priv["kty"] == "oct" else r.pub(priv)
        if "d" in our_pub[label] and priv["kty"] != "oct":
            raise CliError("pub of %s still holds \"d\"" % label)

    # Every (alg, key variant) with every enc, both directions; the CLI's own
    # key through jwcrypto once per (alg, key variant).
    plan = []
    for label in RSA_VARIANTS:
        for alg in RSA_ALGS:
            plan.append((alg, label))
    for crv in EC_VARIANTS:
        for alg in ECDH_ALGS:
            plan.append((alg, crv))
    for alg, bits in KW_ALGS.items():
        plan.append((alg, "oct-%d" % bits))
    for n, (alg, label) in enumerate(plan):
        for enc in ENCS:
            zip_def = enc in ZIP_ENCS
            r.case_peer_to_cli(label, ours[label], our_pub[label], alg, enc,
                               zip_def)
            peer = theirs[label]
            pub_json = jwk_dict(peer, peer["kty"] == "oct")
            r.case_cli_to_peer(label, "cli->%s" % PEER, peer, pub_json, alg,
                               enc, zip_def)
        enc = ENCS[n % len(ENCS)]
        r.case_cli_to_peer(label, "cli->%s/own-key" % PEER,
                           jk.JWK(**ours[label]), our_pub[label], alg, enc,
                           n % 2 == 0)
    # "dir": the key is the content key, so its size follows enc.
    for n, enc in enumerate(ENCS):
        label = "oct-%d" % ENC_BITS[enc]
        zip_def = enc in ZIP_ENCS
        r.case_peer_to_cli(label, ours[label], ours[label], "dir", enc, zip_def)
        peer = theirs[label]
        r.case_cli_to_peer(label, "cli->%s" % PEER, peer, jwk_dict(peer, True),
                           "dir", enc, zip_def)
        r.case_cli_to_peer(label, "cli->%s/own-key" % PEER,
                           jk.JWK(**ours[label]), ours[label], "dir", enc,
                           n % 2 == 1)

    run_jwks(r, ours, theirs)
    run_thumbprints(r, ours, our_pub, theirs)
    run_refusals(r, ours, our_pub)


def run_jwks(r, ours, theirs):
    """The CLI picks the key named by the JWE's "kid" out of a JWKS."""
    # Several keys of one type, so a wrong pick fails to decrypt.
    members = [("RSA-2048", "RSA-OAEP-256"), ("P-256", "ECDH-ES+A128KW"),
               ("P-384", "ECDH-ES"), ("X25519", "ECDH-ES+A256KW"),
               ("oct-256", "A256KW"), ("oct-128", "A128GCMKW")]
    decoys = {"P-256-b": ("EC", "P-256"), "X25519-b": ("OKP", "X25519")}

    # jwcrypto's private keys, each with an explicit kid, plus decoys.
    keys, extra = [], {}
    for i, (label, _) in enumerate(members):
        d = jwk_dict(theirs[label], True)
        d["kid"] = "peer-%d-%s" % (i, label)
        keys.append(d)
    for label, (kty, crv) in decoys.items():
        k = jk.JWK.generate(kty=kty, crv=crv)
        d = jwk_dict(k, True)
        d["kid"] = "decoy-" + label
        extra[label] = d
        keys.insert(1, d)
    path = r.write({"keys": keys})
    for i, (label, alg) in enumerate(members):
        kid = "peer-%d-%s" % (i, label)
        enc = ENCS[i % len(ENCS)]
        pt = r.plaintext()
        name = "%s->cli jwks(%d %s keys) kid=%s %s/%s pt=%d" % (
            PEER, len(keys), PEER, kid, alg, enc, len(pt))
        pub = jk.JWK(**jwk_dict(theirs[label], label.startswith("oct")))
        token = r.peer_encrypt(pub, alg, enc, False, pt, kid=kid)
        check_decrypt(r, name, path, token, alg, pt)

    # The other way: the CLI encrypts to the public set, choosing by --kid;
    # jwcrypto picks its private key by the JWE's "kid".
    priv_set = jk.JWKSet()
    for d in keys:
        priv_set.add(jk.JWK(**d))
    pub_keys = [d if d["kty"] == "oct" else jk.JWK(**d).export_public(True)
                for d in keys]
    path = r.write({"keys": pub_keys})
    for i, (label, alg) in enumerate(members):
        kid = "peer-%d-%s" % (i, label)
        enc = ENCS[(i + 2) % len(ENCS)]
        pt = r.plaintext()
        name = "cli->%s jwks(%d public keys) --kid %s %s/%s pt=%d" % (
            PEER, len(pub_keys), kid, alg, enc, len(pt))
        args = ["encrypt", "--key", path, "--kid", kid, "--alg", alg,
                "--enc", enc]
        try:
            out = r.cli_ok(args, pt)
        except CliError as e:
            r.fail(name, str(e))
            continue
        token = out.decode("ascii").strip()
        try:
            probe = jj.JWE()
            probe.deserialize(token)
            hdr_kid = probe.jose_header.get("kid")
            key = priv_set.get_key(hdr_kid) if hdr_kid else None
            if key is None:
                r.fail(name, "JWE kid %r names no key of the set" % hdr_kid)
                continue
            got, _ = r.peer_decrypt(key, token)
        except Exception as e:  # noqa: BLE001
            r.fail(name, "%s decrypt: %r" % (PEER, e))
            continue
        if got != pt:
            r.fail(name, "plaintext differs")
            continue
        r.ok(name)

    # The CLI's own keys with explicit kids.
    keys = []
    for i, (label, _) in enumerate(members):
        d = dict(ours[label])
        d["kid"] = "ours-%d" % i
        keys.append(d)
    path = r.write({"keys": keys})
    for i, (label, alg) in enumerate(members):
        enc = ENCS[(i + 3) % len(ENCS)]
        pt = r.plaintext()
        name = "%s->cli jwks(%d cli keys) kid=ours-%d %s/%s pt=%d" % (
            PEER, len(keys), i, alg, enc, len(pt))
        src = ours[label] if label.startswith("oct") else r.pub(ours[label])
        token = r.peer_encrypt(jk.JWK(**src), alg, enc, True, pt,
                               kid="ours-%d" % i)
        check_decrypt(r, name, path, token, alg, pt)

    # Keys without "kid": the JWE names the key by its RFC 7638 thumbprint.
    keys = [jwk_dict(theirs[label], True) for label, _ in members]
    keys += [{k: v for k, v in d.items() if k != "kid"}
             for d in extra.values()]
    path = r.write({"keys": keys})
    for i, (label, alg) in enumerate(members):
        kid = theirs[label].thumbprint()
        enc = ENCS[(i + 1) % len(ENCS)]
        pt = r.plaintext()
        name = "%s->cli jwks(no kids) kid=thumbprint(%s) %s/%s pt=%d" % (
            PEER, label, alg, enc, len(pt))
        pub = jk.JWK(**jwk_dict(theirs[label], label.startswith("oct")))
        token = r.peer_encrypt(pub, alg, enc, False, pt, kid=kid)
        check_decrypt(r, name, path, token, alg, pt)

    # A kid that no key has must be refused.
    token = r.peer_encrypt(jk.JWK(**jwk_dict(theirs["P-256"], False)),
                           "ECDH-ES", "A128GCM", False, b"x", kid="no-such-kid")
    r.case_refused("%s->cli jwks unknown kid refused" % PEER,
                   r.write({"keys": [jwk_dict(theirs["P-256"], True)]}), token)


def check_decrypt(r, name, path, token, alg, pt):
    try:
        got = r.decrypt(path, token, alg)
    except CliError as e:
        r.fail(name, str(e))
        return
    if got != pt:
        r.fail(name, "plaintext differs (got %d bytes, want %d)" %
               (len(got), len(pt)))
        return
    r.ok(name)


def run_thumbprints(r, ours, our_pub, theirs):
    for label in ours:
        kty = ours[label]["kty"]
        peer_view = jk.JWK(**ours[label])
        r.case_thumbprint("cli-key %s private" % label,
                          json.dumps(ours[label]), peer_view)
        if kty != "oct":
            r.case_thumbprint("cli-key %s public" % label,
                              json.dumps(our_pub[label]), peer_view)
        k = theirs[label]
        r.case_thumbprint("%s-key %s private" % (PEER, label), k.export(),
                          k)
        if kty != "oct":
            r.case_thumbprint("%s-key %s public" % (PEER, label),
                              k.export_public(), k)


def run_refusals(r, ours, our_pub):
    """Tampered or mismatched jwcrypto JWEs: the CLI must refuse them cleanly."""
    cases = [("RSA-2048", "RSA-OAEP-256", "A256GCM"),
             ("P-256", "ECDH-ES", "A128CBC-HS256"),
             ("X25519", "ECDH-ES+A128KW", "A256GCM"),
             ("oct-256", "A256KW", "A256CBC-HS512"),
             ("oct-128", "A128GCMKW", "A128GCM")]
    for label, alg, enc in cases:
        key = jk.JWK(**our_pub[label])
        path = r.write(ours[label])
        token = r.peer_encrypt(key, alg, enc, False, b"tamper me, please")
        parts = token.split(".")
        # Tag changed.
        t = parts[:4] + [flip_last_char(parts[4])]
        r.case_refused("%s->cli %s %s/%s tampered tag refused" %
                       (PEER, label, alg, enc), path, ".".join(t))
        # Ciphertext changed.
        t = parts[:3] + [flip_last_char(parts[3])] + parts[4:]
        r.case_refused("%s->cli %s %s/%s tampered ciphertext refused" %
                       (PEER, label, alg, enc), path, ".".join(t))
        # Protected header changed (adds a member, so the AAD differs).
        hdr = json.loads(base64.urlsafe_b64decode(parts[0] + "=" *
                                                  (-len(parts[0]) % 4)))
        hdr["x-extra"] = "1"
        t = [b64u(json.dumps(hdr).encode())] + parts[1:]
        r.case_refused("%s->cli %s %s/%s tampered header refused" %
                       (PEER, label, alg, enc), path, ".".join(t))
    # "dir" without --allow-dir.
    token = r.peer_encrypt(jk.JWK(**ours["oct-256"]), "dir", "A256GCM", False,
                           b"direct")
    r.case_refused("%s->cli dir without --allow-dir refused" % PEER,
                   r.write(ours["oct-256"]), token)
    # Right type, wrong key.
    token = r.peer_encrypt(jk.JWK(**our_pub["P-384"]), "ECDH-ES+A192KW",
                           "A192GCM", False, b"wrong key")
    r.case_refused("%s->cli P-384 wrong private key refused" % PEER,
                   r.write(jk.JWK.generate(kty="EC", crv="P-384").export()),
                   token)
    # "zip":"DEF" inflating past --max-inflate; the same JWE passes under a
    # cap it fits.
    pt = b"sealstream " * 10000
    token = r.peer_encrypt(jk.JWK(**ours["oct-128"]), "A128KW", "A128GCM",
                           True, pt)
    path = r.write(ours["oct-128"])
    r.case_refused("%s->cli zip=DEF %d bytes over --max-inflate 4096 refused"
                   % (PEER, len(pt)), path, token, ["--max-inflate", "4096"])
    try:
        got = r.cli_ok(["decrypt", "--key", path, "--max-inflate",
                        str(len(pt))], token.encode("ascii"))
        name = "%s->cli zip=DEF %d bytes at --max-inflate %d" % (
            PEER, len(pt), len(pt))
        if got == pt:
            r.ok(name)
        else:
            r.fail(name, "plaintext differs")
    except CliError as e:
        r.fail("%s->cli zip=DEF at --max-inflate" % PEER, str(e))


if __name__ == "__main__":
    sys.exit(main())
