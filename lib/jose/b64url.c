// base64url without padding (RFC 4648 section 5), strict as JOSE requires
// (RFC 7515 section 2). Input to the decoder is untrusted.
//
// Decoding runs at memory speed: where the CPU has AVX2 (checked once at run
// time), 32 characters at a time are validated and translated with nibble
// lookup tables (vpshufb) and packed with vpmaddubsw/vpmaddwd. Whatever the
// vector path leaves (the tail, or a block holding an invalid character) goes
// through the scalar decoder, which alone reports errors, so every path gives
// the same bytes and the same error offsets.
#include "lib/jose/b64url.h"

#include <stdatomic.h>
#include <string.h>

#include "lib/jose/b64url_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SS_B64_HAVE_AVX2 1
#else
#define SS_B64_HAVE_AVX2 0
#endif

// The value of the base64url character |c|, or 0xff. Character constants are
// ASCII on every target we build for.
#define SS_B64_VAL(c)                          \
  ((c) >= 'A' && (c) <= 'Z'   ? (c) - 'A'      \
   : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26 \
   : (c) >= '0' && (c) <= '9' ? (c) - '0' + 52 \
   : (c) == '-'               ? 62             \
   : (c) == '_'               ? 63             \
                              : 0xff)

// Set in a decode table entry for a character outside the alphabet. Bits 0-23
// of an entry hold its contribution to the three decoded bytes (byte 0 in bits
// 0-7), so OR-ing the entries of four characters gives the bytes and, above
// them, whether any character was invalid.
#define SS_B64_BAD 0x01000000u

#define SS_B64_D0(c) \
  (SS_B64_VAL(c) > 63 ? SS_B64_BAD : (uint32_t)SS_B64_VAL(c) << 2)
#define SS_B64_D1(c)                                    \
  (SS_B64_VAL(c) > 63 ? SS_B64_BAD                      \
                      : (uint32_t)SS_B64_VAL(c) >> 4 |  \
                            ((uint32_t)SS_B64_VAL(c) & 0x0f) << 12)
#define SS_B64_D2(c)                                         \
  (SS_B64_VAL(c) > 63 ? SS_B64_BAD                           \
                      : ((uint32_t)SS_B64_VAL(c) >> 2) << 8 | \
                            ((uint32_t)SS_B64_VAL(c) & 0x03) << 22)
#define SS_B64_D3(c) \
  (SS_B64_VAL(c) > 63 ? SS_B64_BAD : (uint32_t)SS_B64_VAL(c) << 16)

// Bits of the last character that fall outside the decoded bytes; RFC 7515
// requires them to be zero so that each byte string has one encoding.
#define SS_B64_TRAIL2 0x0000f000u  // low 4 bits of character 2 of 2
#define SS_B64_TRAIL3 0x00c00000u  // low 2 bits of character 3 of 3

#define SS_B64_ROW4(f, b) f(b), f((b) + 1), f((b) + 2), f((b) + 3)
#define SS_B64_ROW16(f, b)                                     \
  SS_B64_ROW4(f, b), SS_B64_ROW4(f, (b) + 4), SS_B64_ROW4(f, (b) + 8), \
      SS_B64_ROW4(f, (b) + 12)
#define SS_B64_ROW64(f, b)                                          \
  SS_B64_ROW16(f, b), SS_B64_ROW16(f, (b) + 16),                    \
      SS_B64_ROW16(f, (b) + 32), SS_B64_ROW16(f, (b) + 48)
#define SS_B64_TABLE(f) \
  {SS_B64_ROW64(f, 0), SS_B64_ROW64(f, 64), SS_B64_ROW64(f, 128), \
   SS_B64_ROW64(f, 192)}

// One table per position in a group of four characters.
static const uint32_t kDecode0[256] = SS_B64_TABLE(SS_B64_D0);
static const uint32_t kDecode1[256] = SS_B64_TABLE(SS_B64_D1);
static const uint32_t kDecode2[256] = SS_B64_TABLE(SS_B64_D2);
static const uint32_t kDecode3[256] = SS_B64_TABLE(SS_B64_D3);

static const char kAlphabet[65] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t ss_b64url_encoded_len(size_t len) {
  size_t groups = len / 3;
  size_t rem = len % 3;
  // No buffer that large can exist; saturating makes a later allocation of
  // the result fail instead of wrapping to a small size.
  if (groups > (SIZE_MAX - 3) / 4) {
    return SIZE_MAX;
  }
  return groups * 4 + (rem == 0 ? 0 : rem + 1);
}

size_t ss_b64url_decoded_len(size_t len) {
  size_t rem = len % 4;
  if (rem == 1) {
    return SIZE_MAX;
  }
  return len / 4 * 3 + (rem == 0 ? 0 : rem - 1);
}

static int b64url_fail_length(ss_status *st, size_t in_len) {
  return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                       "invalid base64url: length %zu is not possible "
                       "(one character more than a multiple of 4)",
                       in_len);
}

// b64url_fail_char reports the first invalid character in |in[pos..end)|,
// which the caller knows to hold one. Only the offending byte's value is
// named: it is not part of any encoded data.
static int b64url_fail_char(ss_status *st, const uint8_t *in, size_t pos,
                            size_t end) {
  for (size_t i = pos; i < end; i++) {
    uint8_t c = in[i];
    if ((kDecode0[c] & SS_B64_BAD) == 0) {
      continue;
    }
    const char *hint = "";
    if (c == '=') {
      hint = " (base64url in JOSE has no '=' padding)";
    } else if (c == '+' || c == '/') {
      hint = " (standard base64; base64url uses '-' and '_')";
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
               c == '\v' || c == '\f') {
      hint = " (whitespace is not allowed)";
    }
    return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                         "invalid base64url: character 0x%02x at offset %zu%s",
                         c, i, hint);
  }
  // Cannot happen: the caller saw SS_B64_BAD from one of these characters.
  return ss_status_set(st, GRPC_STATUS_INTERNAL,
                       "base64url: invalid character not found at %zu-%zu",
                       pos, end);
}

static int b64url_fail_trailing(ss_status *st, size_t pos) {
  return ss_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                       "invalid base64url: non-zero trailing bits at offset "
                       "%zu (not the canonical encoding)",
                       pos);
}

// b64url_store4 writes the three decoded bytes in |x| and one byte of no
// meaning; the caller has room for four.
static inline void b64url_store4(uint8_t *dst, uint32_t x) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(dst, &x, 4);
#else
  dst[0] = (uint8_t)x;
  dst[1] = (uint8_t)(x >> 8);
  dst[2] = (uint8_t)(x >> 16);
  dst[3] = 0;
#endif
}

// b64url_decode_from decodes |in[pos..in_len)| to |out + pos / 4 * 3|, where
// |pos| is a multiple of 4, |in_len| % 4 != 1 and |out| has room for
// ss_b64url_decoded_len(|in_len|) bytes. Errors name offsets in |in|.
static int b64url_decode_from(uint8_t *out, const uint8_t *in, size_t in_len,
                              size_t pos, ss_status *st) {
  size_t o = pos / 4 * 3;
  // While 8 or more characters remain, at least 6 bytes of room remain, so a
  // 4-byte store of a group's 3 bytes stays inside |out|.
  while (in_len - pos >= 8) {
    uint32_t x = kDecode0[in[pos]] | kDecode1[in[pos + 1]] |
                 kDecode2[in[pos + 2]] | kDecode3[in[pos + 3]];
    if (x & SS_B64_BAD) {
      return b64url_fail_char(st, in, pos, pos + 4);
    }
    b64url_store4(out + o, x);
    pos += 4;
    o += 3;
  }
  size_t rem = in_len - pos;  // 0, 2, 3, 4, 6 or 7
  if (rem >= 4) {
    uint32_t x = kDecode0[in[pos]] | kDecode1[in[pos + 1]] |
                 kDecode2[in[pos + 2]] | kDecode3[in[pos + 3]];
    if (x & SS_B64_BAD) {
      return b64url_fail_char(st, in, pos, pos + 4);
    }
    out[o] = (uint8_t)x;
    out[o + 1] = (uint8_t)(x >> 8);
    out[o + 2] = (uint8_t)(x >> 16);
    pos += 4;
    o += 3;
    rem -= 4;
  }
  if (rem == 2) {
    uint32_t x = kDecode0[in[pos]] | kDecode1[in[pos + 1]];
    if (x & SS_B64_BAD) {
      return b64url_fail_char(st, in, pos, pos + 2);
    }
    if (x & SS_B64_TRAIL2) {
      return b64url_fail_trailing(st, pos + 1);
    }
    out[o] = (uint8_t)x;
  } else if (rem == 3) {
    uint32_t x =
        kDecode0[in[pos]] | kDecode1[in[pos + 1]] | kDecode2[in[pos + 2]];
    if (x & SS_B64_BAD) {
      return b64url_fail_char(st, in, pos, pos + 3);
    }
    if (x & SS_B64_TRAIL3) {
      return b64url_fail_trailing(st, pos + 2);
    }
    out[o] = (uint8_t)x;
    out[o + 1] = (uint8_t)(x >> 8);
  } else if (rem != 0) {
    // Cannot happen: the caller refused lengths of 1 mod 4.
    return b64url_fail_length(st, in_len);
  }
  return 1;
}

// b64url_encode_from encodes |in[pos..in_len)| to |out + pos / 3 * 4|, where
// |pos| is a multiple of 3.
static void b64url_encode_from(char *out, const uint8_t *in, size_t in_len,
                               size_t pos) {
  size_t o = pos / 3 * 4;
  while (in_len - pos >= 3) {
    uint32_t x = (uint32_t)in[pos] << 16 | (uint32_t)in[pos + 1] << 8 |
                 in[pos + 2];
    out[o] = kAlphabet[x >> 18];
    out[o + 1] = kAlphabet[(x >> 12) & 63];
    out[o + 2] = kAlphabet[(x >> 6) & 63];
    out[o + 3] = kAlphabet[x & 63];
    pos += 3;
    o += 4;
  }
  size_t rem = in_len - pos;
  if (rem == 1) {
    out[o] = kAlphabet[in[pos] >> 2];
    out[o + 1] = kAlphabet[(in[pos] & 0x03) << 4];
  } else if (rem == 2) {
    out[o] = kAlphabet[in[pos] >> 2];
    out[o + 1] = kAlphabet[(in[pos] & 0x03) << 4 | in[pos + 1] >> 4];
    out[o + 2] = kAlphabet[(in[pos + 1] & 0x0f) << 2];
  }
}

#if SS_B64_HAVE_AVX2

#define SS_B64_AVX2 __attribute__((target("avx2")))

// Validation: a character with high nibble h and low nibble l is valid iff
// kCheckLo[l] & kCheckHi[h] is zero. kCheckHi gives each row of the ASCII
// table a class bit; kCheckLo[l] holds the classes in which column l is
// invalid:
//   0x01 rows 0-1 and 8-f: nothing valid (controls, bytes >= 0x80)
//   0x02 row 2: only 0x2d '-'
//   0x04 row 3: only 0x30-0x39 '0'-'9'
//   0x08 rows 4 and 6: all but 0x40 '@' and 0x60 '`'
//   0x10 row 5: 0x50-0x5a 'P'-'Z' and 0x5f '_'
//   0x20 row 7: 0x70-0x7a 'p'-'z'
#define SS_B64_CHECK_LO                                                      \
  0x0b, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x07, 0x37, \
      0x37, 0x35, 0x37, 0x27
#define SS_B64_CHECK_HI                                                      \
  0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x08, 0x20, 0x01, 0x01, 0x01, 0x01, \
      0x01, 0x01, 0x01, 0x01
// Translation: character + kShift[h] is its value, except for '_' (0x5f),
// which shares row 5 with 'P'-'Z' and so is looked up at index 0 instead (row
// 0 holds no valid character).
#define SS_B64_SHIFT \
  -32, 0, 17, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0
// Within each 128-bit lane, after packing, the 3 bytes of group i sit in
// bytes 4i..4i+2 in reverse order.
#define SS_B64_PACK_ORDER \
  2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1

typedef struct ss_b64_dec_consts {
  __m256i check_lo;
  __m256i check_hi;
  __m256i shift;
  __m256i nibble;
  __m256i underscore;
  __m256i merge_pairs;
  __m256i merge_quads;
  __m256i pack_order;
  __m256i pack_lanes;
} ss_b64_dec_consts;

SS_B64_AVX2 static inline void b64url_avx2_dec_consts(ss_b64_dec_consts *k) {
  k->check_lo = _mm256_setr_epi8(SS_B64_CHECK_LO, SS_B64_CHECK_LO);
  k->check_hi = _mm256_setr_epi8(SS_B64_CHECK_HI, SS_B64_CHECK_HI);
  k->shift = _mm256_setr_epi8(SS_B64_SHIFT, SS_B64_SHIFT);
  k->nibble = _mm256_set1_epi8(0x0f);
  k->underscore = _mm256_set1_epi8('_');
  // a*64 + b per 16-bit pair, then ab*4096 + cd per 32-bit group.
  k->merge_pairs = _mm256_set1_epi32(0x01400140);
  k->merge_quads = _mm256_set1_epi32(0x00011000);
  k->pack_order = _mm256_setr_epi8(SS_B64_PACK_ORDER, SS_B64_PACK_ORDER);
  k->pack_lanes = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7);
}

// b64url_avx2_load reads 32 bytes at |src|, which need no alignment.
SS_B64_AVX2 static inline __m256i b64url_avx2_load(const uint8_t *src) {
  return _mm256_loadu_si256((const __m256i *)(const void *)src);
}

// b64url_avx2_translate returns the 6-bit values of the 32 characters in |x|
// and ORs into |*bad| a non-zero byte for each invalid character (whose
// returned value is then meaningless).
SS_B64_AVX2 static inline __m256i b64url_avx2_translate(
    const ss_b64_dec_consts *k, __m256i x, __m256i *bad) {
  __m256i hi = _mm256_and_si256(_mm256_srli_epi32(x, 4), k->nibble);
  __m256i lo = _mm256_and_si256(x, k->nibble);
  __m256i check = _mm256_and_si256(_mm256_shuffle_epi8(k->check_lo, lo),
                                   _mm256_shuffle_epi8(k->check_hi, hi));
  *bad = _mm256_or_si256(*bad, check);
  __m256i row = _mm256_andnot_si256(_mm256_cmpeq_epi8(x, k->underscore), hi);
  return _mm256_add_epi8(x, _mm256_shuffle_epi8(k->shift, row));
}

// b64url_avx2_pack stores the 24 bytes that 32 values decode to at |dst|,
// followed by 8 bytes of no meaning; the caller has room for 32.
SS_B64_AVX2 static inline void b64url_avx2_pack(const ss_b64_dec_consts *k,
                                                __m256i v, uint8_t *dst) {
  __m256i pairs = _mm256_maddubs_epi16(v, k->merge_pairs);
  __m256i quads = _mm256_madd_epi16(pairs, k->merge_quads);
  __m256i bytes = _mm256_shuffle_epi8(quads, k->pack_order);
  bytes = _mm256_permutevar8x32_epi32(bytes, k->pack_lanes);
  _mm256_storeu_si256((__m256i *)(void *)dst, bytes);
}

// b64url_decode_avx2 decodes a prefix of |in| made of whole, valid
// 32-character blocks and returns its length (a multiple of 4). It stops
// before a block group holding an invalid character, and when fewer than 44
// characters remain, so that its 32-byte stores stay inside the
// ss_b64url_decoded_len(|in_len|) bytes of |out|; the scalar decoder
// finishes and reports any error.
SS_B64_AVX2 static size_t b64url_decode_avx2(uint8_t *out, const uint8_t *in,
                                             size_t in_len) {
  ss_b64_dec_consts k;
  b64url_avx2_dec_consts(&k);
  size_t pos = 0;
  size_t o = 0;
  // 160 characters left: 120 bytes of room, 104 needed by 4 blocks.
  while (in_len - pos >= 160) {
    __m256i bad = _mm256_setzero_si256();
    __m256i v0 = b64url_avx2_translate(&k, b64url_avx2_load(in + pos), &bad);
    __m256i v1 =
        b64url_avx2_translate(&k, b64url_avx2_load(in + pos + 32), &bad);
    __m256i v2 =
        b64url_avx2_translate(&k, b64url_avx2_load(in + pos + 64), &bad);
    __m256i v3 =
        b64url_avx2_translate(&k, b64url_avx2_load(in + pos + 96), &bad);
    if (!_mm256_testz_si256(bad, bad)) {
      return pos;
    }
    b64url_avx2_pack(&k, v0, out + o);
    b64url_avx2_pack(&k, v1, out + o + 24);
    b64url_avx2_pack(&k, v2, out + o + 48);
    b64url_avx2_pack(&k, v3, out + o + 72);
    pos += 128;
    o += 96;
  }
  // 44 characters left: 33 bytes of room, 32 needed.
  while (in_len - pos >= 44) {
    __m256i bad = _mm256_setzero_si256();
    __m256i v = b64url_avx2_translate(&k, b64url_avx2_load(in + pos), &bad);
    if (!_mm256_testz_si256(bad, bad)) {
      return pos;
    }
    b64url_avx2_pack(&k, v, out + o);
    pos += 32;
    o += 24;
  }
  return pos;
}

// Per 128-bit lane: bytes s0 s1 s2 of each group become the 32-bit word
// s1 s0 s2 s1, which puts every 6-bit field within one 16-bit half.
#define SS_B64_SPREAD_ORDER \
  1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10
// Value v plus kOffset[i] is its character, where i is v - 51 saturated at 0,
// or 13 for v < 26: 26-51 'a'-'z', 52-61 '0'-'9', 62 '-', 63 '_', 0-25 'A'-'Z'.
#define SS_B64_OFFSET \
  71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -17, 32, 65, 0, 0

// b64url_encode_avx2 encodes a prefix of |in| made of whole 24-byte blocks and
// returns its length (a multiple of 3). Each block is read as two 16-byte
// loads at +0 and +12, so 4 bytes past the block must be readable.
SS_B64_AVX2 static size_t b64url_encode_avx2(char *out, const uint8_t *in,
                                             size_t in_len) {
  const __m256i spread =
      _mm256_setr_epi8(SS_B64_SPREAD_ORDER, SS_B64_SPREAD_ORDER);
  const __m256i hi_fields = _mm256_set1_epi32(0x0fc0fc00);
  const __m256i hi_shifts = _mm256_set1_epi32(0x04000040);  // >> 6, >> 10
  const __m256i lo_fields = _mm256_set1_epi32(0x003f03f0);
  const __m256i lo_shifts = _mm256_set1_epi32(0x01000010);  // << 8, << 4
  const __m256i offsets = _mm256_setr_epi8(SS_B64_OFFSET, SS_B64_OFFSET);
  const __m256i v51 = _mm256_set1_epi8(51);
  const __m256i v26 = _mm256_set1_epi8(26);
  const __m256i v13 = _mm256_set1_epi8(13);
  size_t pos = 0;
  size_t o = 0;
  while (in_len - pos >= 28) {
    __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)(in + pos));
    __m128i hi =
        _mm_loadu_si128((const __m128i *)(const void *)(in + pos + 12));
    __m256i x = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
    x = _mm256_shuffle_epi8(x, spread);
    __m256i a = _mm256_mulhi_epu16(_mm256_and_si256(x, hi_fields), hi_shifts);
    __m256i b = _mm256_mullo_epi16(_mm256_and_si256(x, lo_fields), lo_shifts);
    __m256i v = _mm256_or_si256(a, b);
    __m256i idx = _mm256_subs_epu8(v, v51);
    idx = _mm256_or_si256(idx,
                          _mm256_and_si256(_mm256_cmpgt_epi8(v26, v), v13));
    __m256i chars = _mm256_add_epi8(v, _mm256_shuffle_epi8(offsets, idx));
    _mm256_storeu_si256((__m256i *)(void *)(out + o), chars);
    pos += 24;
    o += 32;
  }
  return pos;
}

// 0: not yet checked; 1: no vector path; 2: AVX2. Racing first callers store
// the same value.
static atomic_int g_b64url_isa;

static int b64url_have_avx2(void) {
  int isa = atomic_load_explicit(&g_b64url_isa, memory_order_relaxed);
  if (isa == 0) {
    // Also checks that the OS saves the YMM registers. Init first: this may
    // run before libgcc's constructor has filled in the CPU model.
    __builtin_cpu_init();
    isa = __builtin_cpu_supports("avx2") ? 2 : 1;
    atomic_store_explicit(&g_b64url_isa, isa, memory_order_relaxed);
  }
  return isa == 2;
}

#else  // !SS_B64_HAVE_AVX2

static int b64url_have_avx2(void) { return 0; }

#endif  // SS_B64_HAVE_AVX2

const char *ss__b64url_simd_name(void) {
  return b64url_have_avx2() ? "avx2" : "none";
}

static int b64url_decode(uint8_t *out, size_t *out_len, const char *in_chars,
                         size_t in_len, int allow_simd, ss_status *st) {
  *out_len = 0;
  if (in_len % 4 == 1) {
    return b64url_fail_length(st, in_len);
  }
  const uint8_t *in = (const uint8_t *)in_chars;
  size_t pos = 0;
#if SS_B64_HAVE_AVX2
  if (allow_simd && b64url_have_avx2()) {
    pos = b64url_decode_avx2(out, in, in_len);
  }
#else
  (void)allow_simd;
#endif
  if (!b64url_decode_from(out, in, in_len, pos, st)) {
    return 0;
  }
  *out_len = ss_b64url_decoded_len(in_len);
  return 1;
}

int ss_b64url_decode(uint8_t *out, size_t *out_len, const char *in,
                     size_t in_len, ss_status *st) {
  return b64url_decode(out, out_len, in, in_len, 1, st);
}

int ss__b64url_decode_scalar(uint8_t *out, size_t *out_len, const char *in,
                             size_t in_len, ss_status *st) {
  return b64url_decode(out, out_len, in, in_len, 0, st);
}

void ss_b64url_encode(char *out, const uint8_t *in, size_t in_len) {
  size_t pos = 0;
#if SS_B64_HAVE_AVX2
  if (b64url_have_avx2()) {
    pos = b64url_encode_avx2(out, in, in_len);
  }
#endif
  b64url_encode_from(out, in, in_len, pos);
}

void ss__b64url_encode_scalar(char *out, const uint8_t *in, size_t in_len) {
  b64url_encode_from(out, in, in_len, 0);
}

int ss_b64url_encode_to(ss_buf *buf, const uint8_t *in, size_t in_len,
                        ss_status *st) {
  size_t n = ss_b64url_encoded_len(in_len);
  uint8_t *dst;
  if (!ss_buf_reserve(buf, n, &dst)) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "base64url: output buffer cannot grow by %zu bytes",
                         n);
  }
  ss_b64url_encode((char *)dst, in, in_len);
  ss_buf_advance(buf, n);
  return 1;
}

int ss_b64url_decode_to(ss_buf *buf, const char *in, size_t in_len,
                        ss_status *st) {
  size_t n = ss_b64url_decoded_len(in_len);
  if (n == SIZE_MAX) {
    return b64url_fail_length(st, in_len);
  }
  uint8_t *dst;
  if (!ss_buf_reserve(buf, n, &dst)) {
    return ss_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "base64url: output buffer cannot grow by %zu bytes",
                         n);
  }
  size_t written;
  if (!ss_b64url_decode(dst, &written, in, in_len, st)) {
    // The bytes decoded before the error may be secret; they lie past the
    // buffer's length, where nothing else would wipe them before reuse.
    memset(dst, 0, n);
    return 0;
  }
  ss_buf_advance(buf, written);
  return 1;
}
