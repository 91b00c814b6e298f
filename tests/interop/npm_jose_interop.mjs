// Interoperability of sealstream-jose with the npm "jose" library (v6).
//
// Usage: node npm_jose_interop.mjs PATH/TO/sealstream-jose
// "jose" is loaded from $SEALSTREAM_INTEROP_NODE_MODULES, else from the
// node_modules folder beside this file's real path (`npm ci --prefix
// tests/interop` installs it there).
//
// For every key-management algorithm the CLI supports, crossed with every
// content encryption algorithm (and, for ECDH-ES variants, every curve; for
// RSA-OAEP variants, 2048- and 4096-bit moduli), this checks both directions:
//
//   jose->cli      the CLI generates the key (keygen), jose encrypts to its
//                  public JWK, the CLI decrypts;
//   cli->jose      jose generates the key, the CLI encrypts to its public JWK,
//                  jose decrypts;
//   cli->jose/own-key  the CLI generates the key, the CLI encrypts, jose
//                  imports the CLI's private JWK and decrypts (one content
//                  algorithm per key, rotating).
//
// Then: JWK sets in both directions (the CLI decrypting with a set, picking
// the key by the JWE's "kid", explicit or an RFC 7638 thumbprint; the CLI
// encrypting to a set with --kid), RFC 7638 thumbprints of every key type, and
// JWEs the CLI must refuse (tampered, wrong key, unknown kid, "dir" without
// --allow-dir, "zip" past --max-inflate). Plaintexts cycle through sizes from
// empty to about 100 KB, random and compressible; the JWE handed to the CLI
// ends in varying trailing whitespace.
//
// An algorithm this runtime's jose cannot do (probed by a jose-only round
// trip) is skipped with the reason printed.
//
// Prints one line per case and ends with "N passed, M failed" alone on a line;
// exits non-zero if anything failed or nothing ran.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, realpathSync, rmSync, writeFileSync, accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const PEER = 'jose';

const ENCS = ['A128GCM', 'A192GCM', 'A256GCM', 'A128CBC-HS256', 'A192CBC-HS384', 'A256CBC-HS512'];
// Content key size in bits, which is also the "dir" key size.
const ENC_BITS = {
  A128GCM: 128, A192GCM: 192, A256GCM: 256,
  'A128CBC-HS256': 256, 'A192CBC-HS384': 384, 'A256CBC-HS512': 512,
};
const RSA_ALGS = ['RSA-OAEP', 'RSA-OAEP-256'];
const ECDH_ALGS = ['ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW'];
const KW_ALGS = {
  A128KW: 128, A192KW: 192, A256KW: 256,
  A128GCMKW: 128, A192GCMKW: 192, A256GCMKW: 256,
};
// Encryptions that also get "zip":"DEF"; every alg meets both.
const ZIP_ENCS = new Set(['A256GCM', 'A128CBC-HS256']);
const RSA_VARIANTS = { 'RSA-2048': 2048, 'RSA-4096': 4096 };
const EC_VARIANTS = { 'P-256': 'EC', 'P-384': 'EC', 'P-521': 'EC', X25519: 'OKP' };
const OCT_SIZES = [128, 192, 256, 384, 512];
// What follows the JWE on the CLI's stdin, cycled: trailing whitespace is
// ignored.
const JWE_SUFFIXES = ['\n', '', '\r\n', ' \t\n'];
// Plaintext sizes, cycled; 7 is prime to the number of encryptions, so each
// size meets every encryption. The last is about 100 KB.
const PT_SIZES = [0, 1, 16, 33, 1000, 4099, 102403];

class CliError extends Error {}

async function loadJose() {
  const here = dirname(realpathSync(fileURLToPath(import.meta.url)));
  const nodeModules = process.env.SEALSTREAM_INTEROP_NODE_MODULES || join(here, 'node_modules');
  try {
    const req = createRequire(join(dirname(nodeModules), 'package.json'));
    return await import(pathToFileURL(req.resolve('jose')).href);
  } catch (e) {
    console.log(`cannot load npm "jose" from ${nodeModules} (${e.message}); ` +
                'run `npm ci --prefix tests/interop` first');
    return null;
  }
}

class Runner {
  constructor(jose, cli, tmp) {
    this.jose = jose;
    this.cli = cli;
    this.tmp = tmp;
    this.passed = 0;
    this.failed = 0;
    this.skipped = [];
    this.counter = 0;
    this.decrypts = 0;
    this.files = 0;
    this.support = new Map();  // "alg enc crv" -> null or reason jose lacks it
    this.probeKeys = new Map();  // "alg crv" -> jose key pair for probes
  }

  ok(name) { this.passed++; console.log(`PASS ${name}`); }
  fail(name, why) { this.failed++; console.log(`FAIL ${name}: ${why}`); }
  skip(name, why) { this.skipped.push([name, why]); console.log(`SKIP ${name}: ${why}`); }

  // The next plaintext: random or compressible, cycling sizes.
  plaintext() {
    const i = this.counter++;
    const size = PT_SIZES[i % PT_SIZES.length];
    if (Math.floor(i / PT_SIZES.length) % 2 === 0) {
      return randomBytes(size);
    }
    const text = Buffer.from(`sealstream interop ${i}; `);
    const body = Buffer.alloc(size);
    for (let off = 0; off < size; off += text.length) {
      text.copy(body, off, 0, Math.min(text.length, size - off));
    }
    // A few random bytes keep it from being pure repetition.
    if (size > 64) {
      randomBytes(16).copy(body, 32);
    }
    return body;
  }

  // Writes a JWK or JWKS to a fresh file; returns its path.
  write(obj) {
    const path = join(this.tmp, `key${++this.files}.json`);
    writeFileSync(path, typeof obj === 'string' ? obj : JSON.stringify(obj));
    return path;
  }

  // --- the CLI ---------------------------------------------------------------

  run(args, input) {
    const p = spawnSync(this.cli, args, { input, maxBuffer: 64 << 20 });
    if (p.error) {
      throw new CliError(`cannot run ${this.cli}: ${p.error.message}`);
    }
    return { rc: p.status ?? 128, out: p.stdout, err: p.stderr.toString('utf8') };
  }

  cliOk(args, input = Buffer.alloc(0)) {
    const { rc, out, err } = this.run(args, input);
    if (rc !== 0) {
      throw new CliError(`sealstream-jose ${args.join(' ')}: exit ${rc}: ${err.trim()}`);
    }
    return out;
  }

  keygen(kty, { size, crv } = {}) {
    const args = ['keygen', '--kty', kty];
    if (size) args.push('--size', String(size));
    if (crv) args.push('--crv', crv);
    return JSON.parse(this.cliOk(args).toString('utf8'));
  }

  pub(priv) {
    return JSON.parse(this.cliOk(['pub'], Buffer.from(JSON.stringify(priv))).toString('utf8'));
  }

  thumbprint(jwk) {
    return this.cliOk(['thumbprint'], Buffer.from(JSON.stringify(jwk))).toString('utf8').trim();
  }

  encrypt(keyPath, alg, enc, zip, pt) {
    const args = ['encrypt', '--key', keyPath, '--alg', alg, '--enc', enc];
    if (zip) args.push('--zip', 'DEF');
    if (alg === 'dir') args.push('--allow-dir');
    const out = this.cliOk(args, pt).toString('latin1');
    if (!out.endsWith('\n') || out.indexOf('\n') !== out.length - 1) {
      throw new CliError('encrypt output is not one line ending in a newline');
    }
    return out.slice(0, -1);
  }

  decrypt(keyPath, token, alg) {
    const args = ['decrypt', '--key', keyPath];
    if (alg === 'dir') args.push('--allow-dir');
    const suffix = JWE_SUFFIXES[this.decrypts++ % JWE_SUFFIXES.length];
    try {
      return this.cliOk(args, Buffer.from(token + suffix));
    } catch (e) {
      if (e instanceof CliError) e.message += ` (JWE followed by ${JSON.stringify(suffix)})`;
      throw e;
    }
  }

  // --- jose ----------------------------------------------------------------------

  // jose wants the algorithm at import time: RSA-OAEP and RSA-OAEP-256 make
  // different CryptoKeys from one JWK. Secrets become raw bytes.
  async importKey(jwk, alg) {
    const { kid, ...bare } = jwk;
    return this.jose.importJWK(bare, alg);
  }

  async peerEncrypt(pubJwk, alg, enc, zip, pt, kid) {
    const hdr = { alg, enc };
    if (zip) hdr.zip = 'DEF';
    if (kid !== undefined) hdr.kid = kid;
    const key = await this.importKey(pubJwk, alg);
    return new this.jose.CompactEncrypt(pt).setProtectedHeader(hdr).encrypt(key);
  }

  async peerDecrypt(privJwk, token, alg) {
    const key = await this.importKey(privJwk, alg);
    const { plaintext, protectedHeader } = await this.jose.compactDecrypt(token, key);
    return [Buffer.from(plaintext), protectedHeader];
  }

  // Returns null if this runtime's jose can do alg/enc (on curve |crv|), else
  // why not. Probed once per combination by a jose-only round trip, so a
  // skip always names what jose itself lacks.
  async peerSupports(alg, enc, crv) {
    const id = `${alg} ${enc} ${crv ?? ''}`;
    if (this.support.has(id)) return this.support.get(id);
    let why = null;
    try {
      let pub;
      let priv;
      if (alg === 'dir' || alg in KW_ALGS) {
        priv = pub = randomBytes((alg === 'dir' ? ENC_BITS[enc] : KW_ALGS[alg]) / 8);
      } else {
        const keyId = `${alg} ${crv ?? ''}`;
        if (!this.probeKeys.has(keyId)) {
          const opts = alg.startsWith('RSA') ? { modulusLength: 2048 } : { crv };
          this.probeKeys.set(keyId, await this.jose.generateKeyPair(alg, opts));
        }
        ({ publicKey: pub, privateKey: priv } = this.probeKeys.get(keyId));
      }
      const t = await new this.jose.CompactEncrypt(Buffer.from('probe'))
        .setProtectedHeader({ alg, enc, zip: 'DEF' }).encrypt(pub);
      await this.jose.compactDecrypt(t, priv);
    } catch (e) {
      why = `jose in Node ${process.version} cannot do it: ${e.name}: ${e.message}`;
    }
    this.support.set(id, why);
    return why;
  }

  // --- cases -------------------------------------------------------------------

  async casePeerToCli(label, ourPriv, ourPub, alg, enc, zip) {
    const pt = this.plaintext();
    const name = `${PEER}->cli ${label} ${alg}/${enc}${zip ? ' zip=DEF' : ''} pt=${pt.length}`;
    const why = await this.peerSupports(alg, enc, ourPriv.crv);
    if (why) { this.skip(name, why); return; }
    let token;
    try {
      token = await this.peerEncrypt(ourPub, alg, enc, zip, pt);
    } catch (e) {
      this.fail(name, `${PEER} encrypt: ${e.name}: ${e.message}`);
      return;
    }
    await this.checkDecrypt(name, this.write(ourPriv), token, alg, pt);
  }

  async checkDecrypt(name, keyPath, token, alg, pt) {
    let got;
    try {
      got = this.decrypt(keyPath, token, alg);
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      this.fail(name, e.message);
      return;
    }
    if (!got.equals(pt)) {
      this.fail(name, `plaintext differs (got ${got.length} bytes, want ${pt.length})`);
      return;
    }
    this.ok(name);
  }

  async caseCliToPeer(label, direction, peerPriv, pubJwk, alg, enc, zip) {
    const pt = this.plaintext();
    const name = `${direction} ${label} ${alg}/${enc}${zip ? ' zip=DEF' : ''} pt=${pt.length}`;
    const why = await this.peerSupports(alg, enc, peerPriv.crv);
    if (why) { this.skip(name, why); return; }
    let token;
    try {
      token = this.encrypt(this.write(pubJwk), alg, enc, zip, pt);
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      this.fail(name, e.message);
      return;
    }
    let got;
    let hdr;
    try {
      [got, hdr] = await this.peerDecrypt(peerPriv, token, alg);
    } catch (e) {
      this.fail(name, `${PEER} decrypt: ${e.name}: ${e.message}`);
      return;
    }
    if (hdr.alg !== alg || hdr.enc !== enc || hdr.zip !== (zip ? 'DEF' : undefined)) {
      this.fail(name, `header has alg=${hdr.alg} enc=${hdr.enc} zip=${hdr.zip}`);
      return;
    }
    if (!got.equals(pt)) {
      this.fail(name, `plaintext differs (got ${got.length} bytes, want ${pt.length})`);
      return;
    }
    this.ok(name);
  }

  async caseThumbprint(label, jwk) {
    const name = `thumbprint ${label}`;
    let ours;
    try {
      ours = this.thumbprint(jwk);
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      this.fail(name, e.message);
      return;
    }
    const theirs = await this.jose.calculateJwkThumbprint(jwk);
    if (ours !== theirs) {
      this.fail(name, `cli ${ours}, ${PEER} ${theirs}`);
      return;
    }
    this.ok(name);
  }

  // The CLI must refuse |token|: non-zero exit, one stderr line, no stdout.
  caseRefused(name, keyPath, token, extraArgs = []) {
    const { rc, out, err } = this.run(['decrypt', '--key', keyPath, ...extraArgs],
      Buffer.from(`${token}\n`));
    if (rc === 0) {
      this.fail(name, `accepted (exit 0, ${out.length} bytes out)`);
    } else if (out.length) {
      this.fail(name, `exit ${rc} but wrote ${out.length} bytes to stdout`);
    } else if (!err.trim() || err.split('\n').length !== 2 || !err.endsWith('\n')) {
      this.fail(name, `stderr is not one line: ${JSON.stringify(err.slice(0, 200))}`);
    } else {
      this.ok(name);
    }
  }
}

function isOct(label) { return label.startsWith('oct'); }

// Changes the last base64url character of |part| in its significant bits.
function flipLastChar(part) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const c = part[part.length - 1];
  return part.slice(0, -1) + alphabet[(alphabet.indexOf(c) + 16) % 64];
}

function publicPart(jwk) {
  const { d, p, q, dp, dq, qi, k, ...pub } = jwk;
  if (jwk.kty === 'oct') return jwk;
  return pub;
}

async function runAll(r) {
  const { jose } = r;
  // Keys. Each RSA-4096 key is generated once: one by the CLI, one by jose.
  const ours = {};    // label -> private JWK from keygen
  const theirs = {};  // label -> private JWK exported from jose
  for (const [label, bits] of Object.entries(RSA_VARIANTS)) {
    ours[label] = r.keygen('RSA', { size: bits });
    const { privateKey } = await jose.generateKeyPair('RSA-OAEP-256', { modulusLength: bits, extractable: true });
    theirs[label] = await jose.exportJWK(privateKey);
  }
  for (const [crv, kty] of Object.entries(EC_VARIANTS)) {
    ours[crv] = r.keygen(kty, { crv });
    const { privateKey } = await jose.generateKeyPair('ECDH-ES', { crv, extractable: true });
    theirs[crv] = await jose.exportJWK(privateKey);
  }
  for (const bits of OCT_SIZES) {
    const label = `oct-${bits}`;
    ours[label] = r.keygen('oct', { size: bits });
    theirs[label] = { kty: 'oct', k: jose.base64url.encode(randomBytes(bits / 8)) };
  }
  const ourPub = {};
  for (const [label, priv] of Object.entries(ours)) {
    ourPub[label] = priv.kty === 'oct' ? priv : r.pub(priv);
    if (priv.kty !== 'oct' && 'd' in ourPub[label]) {
      throw new CliError(`pub of ${label} still holds "d"`);
    }
  }

  // Every (alg, key variant) with every enc, both directions; the CLI's own
  // key through jose once per (alg, key variant).
  const plan = [];
  for (const label of Object.keys(RSA_VARIANTS)) for (const alg of RSA_ALGS) plan.push([alg, label]);
  for (const crv of Object.keys(EC_VARIANTS)) for (const alg of ECDH_ALGS) plan.push([alg, crv]);
  for (const [alg, bits] of Object.entries(KW_ALGS)) plan.push([alg, `oct-${bits}`]);
  for (const [n, [alg, label]] of plan.entries()) {
    for (const enc of ENCS) {
      const zip = ZIP_ENCS.has(enc);
      await r.casePeerToCli(label, ours[label], ourPub[label], alg, enc, zip);
      await r.caseCliToPeer(label, `cli->${PEER}`, theirs[label], publicPart(theirs[label]), alg, enc, zip);
    }
    const enc = ENCS[n % ENCS.length];
    await r.caseCliToPeer(label, `cli->${PEER}/own-key`, ours[label], ourPub[label], alg, enc, n % 2 === 0);
  }
  // "dir": the key is the content key, so its size follows enc.
  for (const [n, enc] of ENCS.entries()) {
    const label = `oct-${ENC_BITS[enc]}`;
    const zip = ZIP_ENCS.has(enc);
    await r.casePeerToCli(label, ours[label], ours[label], 'dir', enc, zip);
    await r.caseCliToPeer(label, `cli->${PEER}`, theirs[label], theirs[label], 'dir', enc, zip);
    await r.caseCliToPeer(label, `cli->${PEER}/own-key`, ours[label], ours[label], 'dir', enc, n % 2 === 1);
  }

  await runJwks(r, ours, ourPub, theirs);
  await runThumbprints(r, ours, ourPub, theirs);
  await runRefusals(r, ours, ourPub, theirs);
}

// The CLI picks the key named by the JWE's "kid" out of a JWKS.
async function runJwks(r, ours, ourPub, theirs) {
  const { jose } = r;
  // Several keys of one type, so a wrong pick fails to decrypt.
  const members = [['RSA-2048', 'RSA-OAEP-256'], ['P-256', 'ECDH-ES+A128KW'],
    ['P-384', 'ECDH-ES'], ['X25519', 'ECDH-ES+A256KW'],
    ['oct-256', 'A256KW'], ['oct-128', 'A128GCMKW']];
  const decoys = [];
  for (const crv of ['P-256', 'X25519']) {
    const { privateKey } = await jose.generateKeyPair('ECDH-ES', { crv, extractable: true });
    decoys.push({ ...(await jose.exportJWK(privateKey)), kid: `decoy-${crv}` });
  }

  // jose's private keys, each with an explicit kid, plus decoys.
  let keys = members.map(([label], i) => ({ ...theirs[label], kid: `peer-${i}-${label}` }));
  keys.splice(1, 0, ...decoys);
  let path = r.write({ keys });
  for (const [i, [label, alg]] of members.entries()) {
    const kid = `peer-${i}-${label}`;
    const enc = ENCS[i % ENCS.length];
    const pt = r.plaintext();
    const name = `${PEER}->cli jwks(${keys.length} ${PEER} keys) kid=${kid} ${alg}/${enc} pt=${pt.length}`;
    if (await skipUnsupported(r, name, alg, enc, theirs[label].crv)) continue;
    const token = await r.peerEncrypt(publicPart(theirs[label]), alg, enc, false, pt, kid);
    await r.checkDecrypt(name, path, token, alg, pt);
  }

  // The other way: the CLI encrypts to the public set, choosing by --kid;
  // jose picks its private key by the JWE's "kid" (a key resolver).
  const privByKid = new Map(keys.map((k) => [k.kid, k]));
  const pubKeys = keys.map(publicPart);
  path = r.write({ keys: pubKeys });
  for (const [i, [label, alg]] of members.entries()) {
    const kid = `peer-${i}-${label}`;
    const enc = ENCS[(i + 2) % ENCS.length];
    const pt = r.plaintext();
    const name = `cli->${PEER} jwks(${pubKeys.length} public keys) --kid ${kid} ${alg}/${enc} pt=${pt.length}`;
    if (await skipUnsupported(r, name, alg, enc, theirs[label].crv)) continue;
    let token;
    try {
      token = r.cliOk(['encrypt', '--key', path, '--kid', kid, '--alg', alg, '--enc', enc], pt)
        .toString('latin1').trim();
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      r.fail(name, e.message);
      continue;
    }
    let got;
    try {
      const { plaintext } = await jose.compactDecrypt(token, async (hdr) => {
        const k = privByKid.get(hdr.kid);
        if (!k) throw new Error(`JWE kid ${JSON.stringify(hdr.kid)} names no key of the set`);
        return r.importKey(k, hdr.alg);
      });
      got = Buffer.from(plaintext);
    } catch (e) {
      r.fail(name, `${PEER} decrypt: ${e.name}: ${e.message}`);
      continue;
    }
    if (got.equals(pt)) r.ok(name); else r.fail(name, 'plaintext differs');
  }

  // The CLI's own keys with explicit kids.
  keys = members.map(([label], i) => ({ ...ours[label], kid: `ours-${i}` }));
  path = r.write({ keys });
  for (const [i, [label, alg]] of members.entries()) {
    const enc = ENCS[(i + 3) % ENCS.length];
    const pt = r.plaintext();
    const name = `${PEER}->cli jwks(${keys.length} cli keys) kid=ours-${i} ${alg}/${enc} pt=${pt.length}`;
    if (await skipUnsupported(r, name, alg, enc, ours[label].crv)) continue;
    const token = await r.peerEncrypt(ourPub[label], alg, enc, true, pt, `ours-${i}`);
    await r.checkDecrypt(name, path, token, alg, pt);
  }

  // Keys without "kid": the JWE names the key by its RFC 7638 thumbprint.
  keys = members.map(([label]) => theirs[label]);
  keys.push(...decoys.map(({ kid, ...k }) => k));
  path = r.write({ keys });
  for (const [i, [label, alg]] of members.entries()) {
    const kid = await jose.calculateJwkThumbprint(theirs[label]);
    const enc = ENCS[(i + 1) % ENCS.length];
    const pt = r.plaintext();
    const name = `${PEER}->cli jwks(no kids) kid=thumbprint(${label}) ${alg}/${enc} pt=${pt.length}`;
    if (await skipUnsupported(r, name, alg, enc, theirs[label].crv)) continue;
    const token = await r.peerEncrypt(publicPart(theirs[label]), alg, enc, false, pt, kid);
    await r.checkDecrypt(name, path, token, alg, pt);
  }

  // A kid that no key has must be refused.
  const token = await r.peerEncrypt(publicPart(theirs['P-256']), 'ECDH-ES', 'A128GCM', false,
    Buffer.from('x'), 'no-such-kid');
  r.caseRefused(`${PEER}->cli jwks unknown kid refused`, r.write({ keys: [theirs['P-256']] }), token);
}

async function skipUnsupported(r, name, alg, enc, crv) {
  const why = await r.peerSupports(alg, enc, crv);
  if (why) r.skip(name, why);
  return why !== null;
}

async function runThumbprints(r, ours, ourPub, theirs) {
  for (const label of Object.keys(ours)) {
    const oct = isOct(label);
    await r.caseThumbprint(`cli-key ${label} private`, ours[label]);
    if (!oct) await r.caseThumbprint(`cli-key ${label} public`, ourPub[label]);
    await r.caseThumbprint(`${PEER}-key ${label} private`, theirs[label]);
    if (!oct) await r.caseThumbprint(`${PEER}-key ${label} public`, publicPart(theirs[label]));
  }
}

// Tampered or mismatched jose JWEs: the CLI must refuse them cleanly.
async function runRefusals(r, ours, ourPub) {
  const { jose } = r;
  const cases = [['RSA-2048', 'RSA-OAEP-256', 'A256GCM'],
    ['P-256', 'ECDH-ES', 'A128CBC-HS256'],
    ['X25519', 'ECDH-ES+A128KW', 'A256GCM'],
    ['oct-256', 'A256KW', 'A256CBC-HS512'],
    ['oct-128', 'A128GCMKW', 'A128GCM']];
  for (const [label, alg, enc] of cases) {
    const path = r.write(ours[label]);
    const token = await r.peerEncrypt(ourPub[label], alg, enc, false, Buffer.from('tamper me, please'));
    const parts = token.split('.');
    const what = `${PEER}->cli ${label} ${alg}/${enc}`;
    r.caseRefused(`${what} tampered tag refused`,
      path, [...parts.slice(0, 4), flipLastChar(parts[4])].join('.'));
    r.caseRefused(`${what} tampered ciphertext refused`,
      path, [...parts.slice(0, 3), flipLastChar(parts[3]), parts[4]].join('.'));
    // Adds a member to the protected header, so the AAD differs.
    const hdr = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    hdr['x-extra'] = '1';
    r.caseRefused(`${what} tampered header refused`,
      path, [Buffer.from(JSON.stringify(hdr)).toString('base64url'), ...parts.slice(1)].join('.'));
  }
  // "dir" without --allow-dir.
  let token = await r.peerEncrypt(ours['oct-256'], 'dir', 'A256GCM', false, Buffer.from('direct'));
  r.caseRefused(`${PEER}->cli dir without --allow-dir refused`, r.write(ours['oct-256']), token);
  // Right type, wrong key.
  token = await r.peerEncrypt(ourPub['P-384'], 'ECDH-ES+A192KW', 'A192GCM', false, Buffer.from('wrong key'));
  const { privateKey } = await jose.generateKeyPair('ECDH-ES', { crv: 'P-384', extractable: true });
  r.caseRefused(`${PEER}->cli P-384 wrong private key refused`,
    r.write(await jose.exportJWK(privateKey)), token);
  // "zip":"DEF" inflating past --max-inflate; the same JWE passes under a cap
  // it fits.
  const pt = Buffer.from('sealstream '.repeat(10000));
  token = await r.peerEncrypt(ours['oct-128'], 'A128KW', 'A128GCM', true, pt);
  const path = r.write(ours['oct-128']);
  r.caseRefused(`${PEER}->cli zip=DEF ${pt.length} bytes over --max-inflate 4096 refused`,
    path, token, ['--max-inflate', '4096']);
  const name = `${PEER}->cli zip=DEF ${pt.length} bytes at --max-inflate ${pt.length}`;
  try {
    const got = r.cliOk(['decrypt', '--key', path, '--max-inflate', String(pt.length)], Buffer.from(token));
    if (got.equals(pt)) r.ok(name); else r.fail(name, 'plaintext differs');
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    r.fail(name, e.message);
  }
}

async function main() {
  if (process.argv.length !== 3) {
    console.log('usage: node npm_jose_interop.mjs PATH/TO/sealstream-jose');
    return 2;
  }
  const cli = resolve(process.argv[2]);
  const jose = await loadJose();
  try {
    accessSync(cli, constants.X_OK);
  } catch {
    console.log(`not an executable: ${cli}`);
    console.log('0 passed, 1 failed');
    return 1;
  }
  if (!jose) {
    console.log('0 passed, 1 failed');
    return 1;
  }
  const start = process.hrtime.bigint();
  const tmp = mkdtempSync(join(process.env.TEST_TMPDIR || tmpdir(), 'jose-interop-'));
  const r = new Runner(jose, cli, tmp);
  try {
    await runAll(r);
  } catch (e) {
    // keygen or pub failed, or jose could not make a key: nothing after it can run.
    r.fail('setup', e instanceof CliError ? e.message : `${e.name}: ${e.message}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  for (const [name, why] of r.skipped) console.log(`skipped: ${name} (${why})`);
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(`${PEER} interop: ${r.skipped.length} skipped, ${secs.toFixed(1)} s`);
  console.log(`${r.passed} passed, ${r.failed} failed`);
  return r.failed === 0 && r.passed > 0 ? 0 : 1;
}

process.exitCode = await main();
