// Published test vectors for JWE decryption (jwe.h): RFC 7516 Appendix A,
// RFC 7520 section 5 with the JOSE cookbook's X25519 example, and Wycheproof
// json_web_encryption_test.json. The RFC 7516 examples are inline; the rest
// is read at run time from ../shared/vectors. Each test tries every case,
// prints each wrong outcome with the case's id, prints how many cases it ran,
// and fails on any wrong outcome or when no case ran.
//
// RFC 8037 Appendix A.6 (ECDH-ES with X25519) is not used: it gives the
// inputs and the shared secret Z of the key agreement but no complete JWE,
// so there is nothing to decrypt. The key agreement is tested on its own
// elsewhere, and the cookbook's X25519 example below decrypts end to end.
#include "lib/jose/jwe.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/base/bytes.h"
#include "lib/base/status.h"
#include "lib/jose/jwk.h"
#include "lib/jose/jwk_testutil.h"
#include "lib/jose/jwks.h"
#include "lib/testing/vectors.h"

// A key for decryptors whose message must be refused before any key is
// used (a password-based message, a JSON serialization). 256 random bits.
static const char kAnyOctJwk[] =
    "{\"kty\":\"oct\",\"k\":\"5Q8ihbGkkfCYvMApoeHfpiM4SPZw-tpkKZbK1jxP_BU\"}";

// The outcome of one decryption, as open_once and open_with report it.
enum {
  OUTCOME_BROKEN = -1,  // the call broke the jwe.h contract; see the status
  OUTCOME_REFUSED = 0,
  OUTCOME_DECRYPTED = 1,
};

// check_outcome turns the result |ok| of an open call on |dec| into an
// outcome, checking what jwe.h promises: a failure sets a status, leaves
// |out| empty and, on a |fresh| decryptor, leaves no header behind; a success
// records the message's header.
static int check_outcome(const ss_jwe_decryptor *dec, int fresh, int ok,
                         const ss_buf *out, ss_status *st) {
  if (ok) {
    if (ss_jwe_decryptor_header(dec) == NULL) {
      ss_status_set(st, GRPC_STATUS_INTERNAL,
                    "decrypted, but the decryptor holds no header");
      return OUTCOME_BROKEN;
    }
    return OUTCOME_DECRYPTED;
  }
  if (ss_status_ok(st) || st->msg[0] == '\0') {
    ss_status_set(st, GRPC_STATUS_INTERNAL,
                  "refused without a status code and message");
    return OUTCOME_BROKEN;
  }
  if (out->len != 0) {
    ss_status_prefix(st, "left %zu bytes of output after refusing: ", out->len);
    return OUTCOME_BROKEN;
  }
  if (fresh && ss_jwe_decryptor_header(dec) != NULL) {
    ss_status_prefix(st, "kept a header after refusing its only message: ");
    return OUTCOME_BROKEN;
  }
  return OUTCOME_REFUSED;
}

// open_with decrypts |compact| with the existing decryptor |dec|, whose
// state (cached CEK, last header) may come from earlier messages.
static int open_with(ss_jwe_decryptor *dec, const char *compact, ss_buf *out,
                     ss_status *st) {
  ss_status_init(st);
  int ok =
      ss_jwe_decryptor_open_compact(dec, out, compact, strlen(compact), st);
  return check_outcome(dec, 0, ok, out, st);
}

// open_once decrypts |compact| with a new decryptor for |key| or, when |key|
// is NULL, for |keys|.
static int open_once(const ss_jwk *key, const ss_jwks *keys, int allow_dir,
                     const char *compact, ss_buf *out, ss_status *st) {
  ss_jwe_decrypt_opts opts;
  memset(&opts, 0, sizeof(opts));
  opts.allow_dir = allow_dir;
  ss_status_init(st);
  ss_buf_reset(out);
  ss_jwe_decryptor *dec = ss_jwe_decryptor_new(key, keys, &opts, st);
  if (dec == NULL) {
    ss_status_prefix(st, "cannot make a decryptor: ");
    return OUTCOME_BROKEN;
  }
  int ok =
      ss_jwe_decryptor_open_compact(dec, out, compact, strlen(compact), st);
  int outcome = check_outcome(dec, 1, ok, out, st);
  ss_jwe_decryptor_free(dec);
  return outcome;
}

// describe writes a one-line account of an outcome to |text|. It names
// lengths and status messages only, never plaintext.
static void describe(char *text, size_t text_size, int outcome,
                     const ss_buf *out, const ss_status *st) {
  if (outcome == OUTCOME_DECRYPTED) {
    snprintf(text, text_size, "decrypted %zu bytes", out->len);
  } else if (outcome == OUTCOME_REFUSED) {
    snprintf(text, text_size, "refused with %s: %s",
             ss_status_code_name(st->code), st->msg);
  } else {
    snprintf(text, text_size, "broke the jwe.h contract: %s", st->msg);
  }
}

static int same_bytes(const ss_buf *got, const uint8_t *want, size_t want_len) {
  return got->len == want_len &&
         (want_len == 0 || memcmp(got->data, want, want_len) == 0);
}

// is_refusal reports whether |outcome| is a refusal with |code| whose message
// contains |needle| (any message when NULL).
static int is_refusal(int outcome, const ss_status *st, grpc_status_code code,
                      const char *needle) {
  return outcome == OUTCOME_REFUSED && st->code == code &&
         (needle == NULL || strstr(st->msg, needle) != NULL);
}

// is_input_refusal reports whether |outcome| is a refusal with a code that
// jwe.h gives to bad messages: malformed or refused input, a key that does
// not fit, or tampering.
static int is_input_refusal(int outcome, const ss_status *st) {
  return outcome == OUTCOME_REFUSED &&
         (st->code == GRPC_STATUS_INVALID_ARGUMENT ||
          st->code == GRPC_STATUS_FAILED_PRECONDITION ||
          st->code == GRPC_STATUS_DATA_LOSS);
}

// ---------------------------------------------------------------------------
// RFC 7516 Appendix A. The values are those of the RFC; the RSA keys are
// 2048 bits.

static const char kRfc7516A1Jwk[] =
    "{\"kty\":\"RSA\",\"n\":\"oahUIoWw0K0usKNuOR6H4wkf4oBUXHTxRvgb48E-BVv"
    "xkeDNjbC4he8rUWcJoZmds2h7M70imEVhRU5djINXtqllXI4DFqcI1DgjT9LewND8MW2"
    "Krf3Spsk_ZkoFnilakGygTwpZ3uesH-PFABNIUYpOiN15dsQRkgr0vEhxN92i2asbOen"
    "SZeyaxziK72UwxrrKoExv6kc5twXTq4h-QChLOln0_mtUZwfsRaMStPs6mS6XrgxnxbW"
    "hojf663tuEQueGC-FCMfra36C9knDFGzKsNa7LZK2djYgyD3JR_MB_4NUJW_TqOQtwHY"
    "bxevoJArm-L5StowjzGy-_bq6Gw\",\"e\":\"AQAB\",\"d\":\"kLdtIj6GbDks_Ap"
    "CSTYQtelcNttlKiOyPzMrXHeI-yk1F7-kpDxY4-WY5NWV5KntaEeXS1j82E375xxhWMH"
    "XyvjYecPT9fpwR_M9gV8n9Hrh2anTpTD93Dt62ypW3yDsJzBnTnrYu1iwWRgBKrEYY46"
    "qAZIrA2xAwnm2X7uGR1hghkqDp0Vqj3kbSCz1XyfCs6_LehBwtxHIyh8Ripy40p24moO"
    "AbgxVw3rxT_vlt3UVe4WO3JkJOzlpUf-KTVI2Ptgm-dARxTEtE-id-4OJr0h-K-VFs3V"
    "SndVTIznSxfyrj8ILL6MG_Uv8YAu7VILSB3lOW085-4qE3DzgrTjgyQ\",\"p\":\"1r"
    "52Xk46c-LsfB5P442p7atdPUrxQSy4mti_tZI3Mgf2EuFVbUoDBvaRQ-SWxkbkmoEzL7"
    "JXroSBjSrK3YIQgYdMgyAEPTPjXv_hI2_1eTSPVZfzL0lffNn03IXqWF5MDFuoUYE0hz"
    "b2vhrlN_rKrbfDIwUbTrjjgieRbwC6Cl0\",\"q\":\"wLb35x7hmQWZsWJmB_vle87i"
    "hgZ19S8lBEROLIsZG4ayZVe9Hi9gDVCOBmUDdaDYVTSNx_8Fyw1YYa9XGrGnDew00J28"
    "cRUoeBB_jKI1oma0Orv1T9aXIWxKwd4gvxFImOWr3QRL9KEBRzk2RatUBnmDZJTIAfwT"
    "s0g68UZHvtc\",\"dp\":\"ZK-YwE7diUh0qR1tR7w8WHtolDx3MZ_OTowiFvgfeQ3Si"
    "resXjm9gZ5KLhMXvo-uz-KUJWDxS5pFQ_M0evdo1dKiRTjVw_x4NyqyXPM5nULPkcpU8"
    "27rnpZzAJKpdhWAgqrXGKAECQH0Xt4taznjnd_zVpAmZZq60WPMBMfKcuE\",\"dq\":"
    "\"Dq0gfgJ1DdFGXiLvQEZnuKEN0UUmsJBxkjydc3j4ZYdBiMRAy86x0vHCjywcMlYYg4"
    "yoC4YZa9hNVcsjqA3FeiL19rk8g6Qn29Tt0cj8qqyFpz9vNDBUfCAiJVeESOjJDZPYHd"
    "HY8v1b-o-Z2X5tvLx-TCekf7oxyeKDUqKWjis\",\"qi\":\"VIMpMYbPf47dT1w_zDU"
    "XfPimsSegnMOA1zTaX7aGk_8urY6R8-ZW1FxU7AlWAyLWybqq6t16VFd7hQd0y6flUK4"
    "SlOydB61gwanOsXGOAOv82cHq0E3eL4HrtZkUuKvnPrMnsUUFlfUdybVzxyjz9JF_Xya"
    "Y14ardLSjf4L_FNY\"}";
static const char kRfc7516A2Jwk[] =
    "{\"kty\":\"RSA\",\"n\":\"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsuer"
    "i23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8"
    "UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJ"
    "JQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynV"
    "JCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk"
    "1BzBZI0KQB0GaDWFLN-aEAw3vRw\",\"e\":\"AQAB\",\"d\":\"VFCWOqXr8nvZNya"
    "aJLXdnNPXZKRaWCjkU5Q2egQQpTBMwhprMzWzpR8Sxq1OPThh_J6MUD8Z35wky9b8eEO"
    "0pwNS8xlh1lOFRRBoNqDIKVOku0aZb-rynq8cxjDTLZQ6Fz7jSjR1Klop-YKaUHc9GsE"
    "ofQqYruPhzSA-QgajZGPbE_0ZaVDJHfyd7UUBUKunFMScbflYAAOYJqVIVwaYR5zWEEc"
    "eUjNnTNo_CVSj-VvXLO5VZfCUAVLgW4dpf1SrtZjSt34YLsRarSb127reG_DUwg9Ch-K"
    "yvjT1SkHgUWRVGcyly7uvVGRSDwsXypdrNinPA4jlhoNdizK2zF2CWQ\",\"p\":\"9g"
    "Y2w6I6S6L0juEKsbeDAwpd9WMfgqFoeA9vEyEUuk4kLwBKcoe1x4HG68ik918hdDSE9v"
    "DQSccA3xXHOAFOPJ8R9EeIAbTi1VwBYnbTp87X-xcPWlEPkrdoUKW60tgs1aNd_Nnc9L"
    "EVVPMS390zbFxt8TN_biaBgelNgbC95sM\",\"q\":\"uKlCKvKv_ZJMVcdIs5vVSU_6"
    "cPtYI1ljWytExV_skstvRSNi9r66jdd9-yBhVfuG4shsp2j7rGnIio901RBeHo6TPKWV"
    "VykPu1iYhQXw1jIABfw-MVsN-3bQ76WLdt2SDxsHs7q7zPyUyHXmps7ycZ5c72wGkUwN"
    "OjYelmkiNS0\",\"dp\":\"w0kZbV63cVRvVX6yk3C8cMxo2qCM4Y8nsq1lmMSYhG4Ec"
    "L6FWbX5h9yuvngs4iLEFk6eALoUS4vIWEwcL4txw9LsWH_zKI-hwoReoP77cOdSL4AVc"
    "raHawlkpyd2TWjE5evgbhWtOxnZee3cXJBkAi64Ik6jZxbvk-RR3pEhnCs\",\"dq\":"
    "\"o_8V14SezckO6CNLKs_btPdFiO9_kC1DsuUTd2LAfIIVeMZ7jn1Gus_Ff7B7IVx3p5"
    "KuBGOVF8L-qifLb6nQnLysgHDh132NDioZkhH7mI7hPG-PYE_odApKdnqECHWw0J-F0J"
    "WnUd6D2B_1TvF9mXA2Qx-iGYn8OVV1Bsmp6qU\",\"qi\":\"eNho5yRBEBxhGBtQRww"
    "9QirZsB66TrfFReG_CcteI1aCneT0ELGhYlRlCtUkTRclIfuEPmNsNDPbLoLqqCVznFb"
    "vdB7x-Tl-m0l_eFTj2KiqwGqE9PZB9nNTwMVvH3VRRSLWACvPnSiwP8N5Usy-WRXS-V7"
    "TbpxIhvepTfE0NNo\"}";
static const char kRfc7516A1Jwe[] =
    "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.OKOawDo13gRp2ojaHV7LF"
    "pZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGeipsEdY3mx_etLbbWSrFr05kLz"
    "cSr4qKAq7YN7e9jwQRb23nfa6c9d-StnImGyFDbSv04uVuxIp5Zms1gNxKKK2Da14B8S"
    "4rzVRltdYwam_lDp5XnZAYpQdb76FdIKLaVmqgfwX7XWRxv2322i-vDxRfqNzo_tETKz"
    "pVLzfiwQyeyPGLBIO56YJ7eObdv0je81860ppamavo35UgoRdbYaBcoh9QcfylQr66oc"
    "6vFWXRcZ_ZT2LawVCWTIy3brGPi6UklfCpIMfIjf7iGdXKHzg.48V1_ALb6US04U3b.5"
    "eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6jiSdiwk"
    "Ir3ajwQzaBtQD_A.XFBoMYUZodetZdvTiFvSkQ";
static const char kRfc7516A2Jwe[] =
    "eyJhbGciOiJSU0ExXzUiLCJlbmMiOiJBMTI4Q0JDLUhTMjU2In0.UGhIOguC7IuEvf_N"
    "PVaXsGMoLOmwvc1GyqlIKOK1nN94nHPoltGRhWhw7Zx0-kFm1NJn8LE9XShH59_i8J0P"
    "H5ZZyNfGy2xGdULU7sHNF6Gp2vPLgNZ__deLKxGHZ7PcHALUzoOegEI-8E66jX2E4zyJ"
    "Kx-YxzZIItRzC5hlRirb6Y5Cl_p-ko3YvkkysZIFNPccxRU7qve1WYPxqbb2Yw8kZqa2"
    "rMWI5ng8OtvzlV7elprCbuPhcCdZ6XDP0_F8rkXds2vE4X-ncOIM8hAYHHi29NX0mcKi"
    "RaD0-D-ljQTP-cFPgwCp6X-nZZd9OHBv-B3oWh2TbqmScqXMR4gp_A.AxY8DCtDaGlsb"
    "Gljb3RoZQ.KDlTtXchhZTGufMYmOYGS4HffxPSUrfmqCHXaI9wOGY.9hH0vgRfYgPnAH"
    "Od8stkvw";
static const char kRfc7516A3Jwe[] =
    "eyJhbGciOiJBMTI4S1ciLCJlbmMiOiJBMTI4Q0JDLUhTMjU2In0.6KB707dM9YTIgHtL"
    "vtgWQ8mKwboJW3of9locizkDTHzBC2IlrT1oOQ.AxY8DCtDaGlsbGljb3RoZQ.KDlTtX"
    "chhZTGufMYmOYGS4HffxPSUrfmqCHXaI9wOGY.U0m_YmjN04DJvceFICbCVQ";
static const char kRfc7516A3Jwk[] =
    "{\"kty\":\"oct\",\"k\":\"GawgguFyGrWKav7AX4VKUg\"}";

typedef struct rfc7516_case {
  const char *name;
  const char *jwk;
  const char *jwe;
  const char *plaintext;  // NULL when the example must be refused
  const char *refusal;    // text the refusal message must contain
} rfc7516_case;

static const rfc7516_case kRfc7516Cases[] = {
    {"A.1 (RSA-OAEP, A256GCM)", kRfc7516A1Jwk, kRfc7516A1Jwe,
     "The true sign of intelligence is not knowledge but imagination.", NULL},
    // PKCS#1 v1.5 key encryption is refused whatever the key.
    {"A.2 (RSA1_5, A128CBC-HS256)", kRfc7516A2Jwk, kRfc7516A2Jwe, NULL,
     "RSA1_5"},
    {"A.3 (A128KW, A128CBC-HS256)", kRfc7516A3Jwk, kRfc7516A3Jwe,
     "Live long and prosper.", NULL},
};

static void test_rfc7516_appendix_a_examples_give_expected_results(
    void **state) {
  (void)state;
  int cases = 0, decrypted = 0, refused = 0, failures = 0;
  ss_buf out;
  ss_buf_init(&out, 0);
  for (size_t i = 0; i < sizeof(kRfc7516Cases) / sizeof(kRfc7516Cases[0]);
       i++) {
    const rfc7516_case *c = &kRfc7516Cases[i];
    cases++;
    ss_status st;
    ss_status_init(&st);
    ss_jwk *key = ss_jwk_parse(c->jwk, strlen(c->jwk), &st);
    if (key == NULL) {
      printf("RFC 7516 %s: the published JWK was refused: %s\n", c->name,
             st.msg);
      failures++;
      continue;
    }
    int outcome = open_once(key, NULL, 0, c->jwe, &out, &st);
    char got[512];
    describe(got, sizeof(got), outcome, &out, &st);
    if (c->plaintext != NULL) {
      if (outcome == OUTCOME_DECRYPTED &&
          same_bytes(&out, (const uint8_t *)c->plaintext,
                     strlen(c->plaintext))) {
        decrypted++;
      } else {
        printf(
            "RFC 7516 %s: expected the published plaintext (%zu bytes); "
            "%s\n",
            c->name, strlen(c->plaintext), got);
        failures++;
      }
    } else if (is_refusal(outcome, &st, GRPC_STATUS_INVALID_ARGUMENT,
                          c->refusal)) {
      refused++;
    } else {
      printf("RFC 7516 %s: expected INVALID_ARGUMENT naming %s; %s\n", c->name,
             c->refusal, got);
      failures++;
    }
    ss_jwk_free(key);
  }
  ss_buf_cleanup(&out);
  printf(
      "RFC 7516 appendix A: %d cases (%d decrypted, %d refused by "
      "policy)\n",
      cases, decrypted, refused);
  fflush(stdout);
  assert_int_equal(failures, 0);
  assert_true(cases > 0);
}

// ---------------------------------------------------------------------------
// RFC 7520 section 5, from the JOSE cookbook files.

typedef enum cookbook_expect {
  COOKBOOK_DECRYPTS,
  COOKBOOK_REFUSED,    // by policy, with |refusal| in the message
  COOKBOOK_JSON_ONLY,  // published in JSON serialization only
} cookbook_expect;

typedef struct cookbook_case {
  const char *path;  // under ../shared/vectors
  cookbook_expect expect;
  int allow_dir;
  const char *refusal;
} cookbook_case;

static const cookbook_case kCookbookCases[] = {
    {"jose-cookbook/jwe/5_1.key_encryption_using_rsa_v15_and_aes-hmac-sha2"
     ".json",
     COOKBOOK_REFUSED, 0, "RSA1_5"},
    {"jose-cookbook/jwe/5_2.key_encryption_using_rsa-oaep_with_aes-gcm.json",
     COOKBOOK_DECRYPTS, 0, NULL},
    {"jose-cookbook/jwe/5_3.key_wrap_using_pbes2-aes-keywrap_with-aes-cbc-"
     "hmac-sha2.json",
     COOKBOOK_REFUSED, 0, "password-based"},
    {"jose-cookbook/jwe/5_4.key_agreement_with_key_wrapping_using_ecdh-es_"
     "and_aes-keywrap_with_aes-gcm.json",
     COOKBOOK_DECRYPTS, 0, NULL},
    {"jose-cookbook/jwe/5_5.key_agreement_using_ecdh-es_with_aes-cbc-hmac-"
     "sha2.json",
     COOKBOOK_DECRYPTS, 0, NULL},
    {"jose-cookbook/jwe/5_6.direct_encryption_using_aes-gcm.json",
     COOKBOOK_DECRYPTS, 1, NULL},
    {"jose-cookbook/jwe/5_7.key_wrap_using_aes-gcm_keywrap_with_aes-cbc-"
     "hmac-sha2.json",
     COOKBOOK_DECRYPTS, 0, NULL},
    {"jose-cookbook/jwe/5_8.key_wrap_using_aes-keywrap_with_aes-gcm.json",
     COOKBOOK_DECRYPTS, 0, NULL},
    {"jose-cookbook/jwe/5_9.compressed_content.json", COOKBOOK_DECRYPTS, 0,
     NULL},
    {"jose-cookbook/jwe/5_10.including_additional_authentication_data.json",
     COOKBOOK_JSON_ONLY, 0, NULL},
    {"jose-cookbook/jwe/5_11.protecting_specific_header_fields.json",
     COOKBOOK_JSON_ONLY, 0, NULL},
    {"jose-cookbook/jwe/5_12.protecting_content_only.json", COOKBOOK_JSON_ONLY,
     0, NULL},
    {"jose-cookbook/jwe/5_13.encrypting_to_multiple_recipients.json",
     COOKBOOK_JSON_ONLY, 0, NULL},
    // X25519 ECDH-ES. Upstream, encrypting_key.epk.x does not match epk.d;
    // the epk in the protected header is the right one, and it is the only
    // one decryption reads.
    {"jose-cookbook/curve25519/ecdh-es.json", COOKBOOK_DECRYPTS, 0, NULL},
};

// cookbook_keys makes the recipient key of an example: input.key as one JWK,
// or as a set when the example has several recipients. The password of a
// PBES2 example is no JWK; its decryptor gets kAnyOctJwk, since the message
// must be refused before a key is used.
static int cookbook_keys(const json_t *input, ss_jwk **out_key,
                         ss_jwks **out_keys, ss_status *st) {
  *out_key = NULL;
  *out_keys = NULL;
  const json_t *key = json_object_get(input, "key");
  if (json_is_object(key)) {
    *out_key = ss_test_jwk_from_object(key, st);
    return *out_key != NULL;
  }
  if (json_is_array(key)) {
    json_t *set = json_pack("{s:O}", "keys", key);
    char *text = set != NULL ? json_dumps(set, JSON_COMPACT) : NULL;
    if (text != NULL) {
      *out_keys = ss_jwks_parse(text, strlen(text), st);
    }
    free(text);
    json_decref(set);
    return *out_keys != NULL;
  }
  *out_key = ss_jwk_parse(kAnyOctJwk, strlen(kAnyOctJwk), st);
  return *out_key != NULL;
}

static void test_rfc7520_cookbook_examples_give_expected_results(void **state) {
  (void)state;
  int cases = 0, decrypted = 0, refused = 0, skipped = 0, json_refused = 0;
  int failures = 0;
  ss_buf out;
  ss_buf_init(&out, 0);
  for (size_t i = 0; i < sizeof(kCookbookCases) / sizeof(kCookbookCases[0]);
       i++) {
    const cookbook_case *c = &kCookbookCases[i];
    const char *name = strrchr(c->path, '/') + 1;
    json_t *doc = ss_test_vectors_load(c->path);
    if (doc == NULL) {
      printf("cookbook %s: cannot load\n", name);
      failures++;
      continue;
    }
    const json_t *input = json_object_get(doc, "input");
    const json_t *output = json_object_get(doc, "output");
    const char *compact = json_string_value(json_object_get(output, "compact"));
    const char *plaintext =
        json_string_value(json_object_get(input, "plaintext"));
    ss_jwk *key = NULL;
    ss_jwks *keys = NULL;
    ss_status st;
    ss_status_init(&st);
    char got[512];
    if (plaintext == NULL || !cookbook_keys(input, &key, &keys, &st)) {
      printf("cookbook %s: no plaintext, or its key was refused: %s\n", name,
             st.msg);
      failures++;
      json_decref(doc);
      continue;
    }
    if (compact == NULL && c->expect == COOKBOOK_JSON_ONLY) {
      printf(
          "cookbook %s: skipped: published in JSON serialization only, "
          "and only compact serialization is supported\n",
          name);
      skipped++;
    } else if (compact == NULL) {
      printf("cookbook %s: no compact serialization in the file\n", name);
      failures++;
    } else {
      // An example published in both forms is decrypted from its compact
      // form even when listed as JSON only.
      cases++;
      int outcome = open_once(key, keys, c->allow_dir, compact, &out, &st);
      describe(got, sizeof(got), outcome, &out, &st);
      if (c->expect == COOKBOOK_REFUSED) {
        if (is_refusal(outcome, &st, GRPC_STATUS_INVALID_ARGUMENT,
                       c->refusal)) {
          refused++;
        } else {
          printf("cookbook %s: expected INVALID_ARGUMENT mentioning %s; %s\n",
                 name, c->refusal, got);
          failures++;
        }
      } else if (outcome == OUTCOME_DECRYPTED &&
                 same_bytes(&out, (const uint8_t *)plaintext,
                            strlen(plaintext))) {
        decrypted++;
      } else {
        printf(
            "cookbook %s: expected the published plaintext (%zu bytes); "
            "%s\n",
            name, strlen(plaintext), got);
        failures++;
      }
      if (c->allow_dir) {
        // "dir" makes the key itself the CEK: off unless asked for.
        outcome = open_once(key, keys, 0, compact, &out, &st);
        if (!is_refusal(outcome, &st, GRPC_STATUS_INVALID_ARGUMENT, "dir")) {
          describe(got, sizeof(got), outcome, &out, &st);
          printf(
              "cookbook %s without allow_dir: expected INVALID_ARGUMENT "
              "naming dir; %s\n",
              name, got);
          failures++;
        }
      }
    }
    // Only compact serialization is accepted: the JSON forms of every
    // example are refused as malformed.
    static const char *const kJsonForms[] = {"json", "json_flat"};
    for (size_t f = 0; f < sizeof(kJsonForms) / sizeof(kJsonForms[0]); f++) {
      const json_t *form = json_object_get(output, kJsonForms[f]);
      if (form == NULL) {
        continue;
      }
      char *text = json_dumps(form, JSON_COMPACT);
      assert_non_null(text);
      int outcome = open_once(key, keys, c->allow_dir, text, &out, &st);
      free(text);
      if (is_refusal(outcome, &st, GRPC_STATUS_INVALID_ARGUMENT, NULL)) {
        json_refused++;
      } else {
        describe(got, sizeof(got), outcome, &out, &st);
        printf("cookbook %s output.%s: expected INVALID_ARGUMENT; %s\n", name,
               kJsonForms[f], got);
        failures++;
      }
    }
    ss_jwk_free(key);
    ss_jwks_free(keys);
    json_decref(doc);
  }
  ss_buf_cleanup(&out);
  printf(
      "RFC 7520 cookbook JWE: %d compact cases (%d decrypted, %d refused "
      "by policy), %d skipped as JSON only; %d JSON serializations "
      "refused\n",
      cases, decrypted, refused, skipped, json_refused);
  fflush(stdout);
  assert_int_equal(failures, 0);
  assert_true(cases > 0);
}

// ---------------------------------------------------------------------------
// Wycheproof json_web_encryption_test.json.

typedef struct wycheproof_counts {
  int cases;
  int valid_decrypted;
  int invalid_refused;
  int invalid_rsa1_5;   // of |invalid_refused|: RSA1_5 messages
  int invalid_key_alg;  // of |invalid_refused|: key "alg" mismatch
  int invalid_json;     // of |invalid_refused|: JSON serialization
  int policy_refused;   // "valid" RSA1_5 cases, refused by policy
  int acceptable;
  int failures;
} wycheproof_counts;

// One test group: its key and a decryptor kept across the group's cases,
// so that CEKs cached from one message meet the tampered copies of it.
typedef struct wycheproof_group {
  ss_jwk *key;               // NULL when ss_jwk_parse refused the group key
  ss_status key_status;      // why |key| is NULL
  ss_jwk *key_without_alg;   // RSA1_5-only key parsed without "alg", or NULL
  ss_jwe_decryptor *shared;  // may be NULL
} wycheproof_group;

static void report_case(wycheproof_counts *counts, int id, const char *comment,
                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report_case(wycheproof_counts *counts, int id, const char *comment,
                        const char *fmt, ...) {
  printf("wycheproof tc %d (%s): ", id, comment != NULL ? comment : "");
  va_list args;
  va_start(args, fmt);
  vprintf(fmt, args);
  va_end(args);
  printf("\n");
  counts->failures++;
}

static int has_flag(const json_t *tc, const char *flag) {
  size_t i;
  const json_t *value;
  json_array_foreach(json_object_get(tc, "flags"), i, value) {
    if (json_is_string(value) && strcmp(json_string_value(value), flag) == 0) {
      return 1;
    }
  }
  return 0;
}

static void check_wycheproof_case(wycheproof_group *group, const json_t *tc,
                                  wycheproof_counts *counts) {
  int id = (int)json_integer_value(json_object_get(tc, "tcId"));
  const char *comment = json_string_value(json_object_get(tc, "comment"));
  const char *result = json_string_value(json_object_get(tc, "result"));
  const char *jwe = json_string_value(json_object_get(tc, "jwe"));
  const char *pt_hex = json_string_value(json_object_get(tc, "pt"));
  counts->cases++;
  ss_buf want, out, shared_out;
  ss_buf_init(&want, 0);
  ss_buf_init(&out, 0);
  ss_buf_init(&shared_out, 0);
  ss_status st, shared_st;
  char got[512], shared_got[512];
  if (result == NULL || jwe == NULL ||
      (pt_hex != NULL && !ss_test_hex_decode(&want, pt_hex))) {
    report_case(counts, id, comment, "malformed test case");
    goto done;
  }
  char alg[32];
  ss_test_compact_alg(jwe, alg, sizeof(alg));
  int rsa1_5 = strcmp(alg, "RSA1_5") == 0;
  int dir = strcmp(alg, "dir") == 0;
  const ss_jwk *key = group->key;
  if (key == NULL && rsa1_5) {
    key = group->key_without_alg;
  }
  if (key == NULL) {
    report_case(counts, id, comment, "group key refused by ss_jwk_parse: %s",
                group->key_status.msg);
    goto done;
  }

  // "dir" is enabled only for messages that use it, so every other case
  // runs with the default options.
  int outcome = open_once(key, NULL, dir, jwe, &out, &st);
  describe(got, sizeof(got), outcome, &out, &st);
  if (outcome == OUTCOME_BROKEN) {
    report_case(counts, id, comment, "%s", got);
    goto done;
  }
  if (group->shared != NULL) {
    int shared_outcome = open_with(group->shared, jwe, &shared_out, &shared_st);
    describe(shared_got, sizeof(shared_got), shared_outcome, &shared_out,
             &shared_st);
    if (shared_outcome != outcome ||
        (outcome == OUTCOME_DECRYPTED &&
         !same_bytes(&shared_out, out.data, out.len))) {
      report_case(counts, id, comment,
                  "a new decryptor %s, but the group's decryptor %s", got,
                  shared_got);
      goto done;
    }
  }

  if (rsa1_5) {
    // Refused by policy whatever the key and the result Wycheproof expects
    // from a library that supports RSA1_5.
    if (!is_refusal(outcome, &st, GRPC_STATUS_INVALID_ARGUMENT, "RSA1_5")) {
      report_case(counts, id, comment,
                  "expected INVALID_ARGUMENT naming RSA1_5; %s", got);
    } else if (strcmp(result, "valid") == 0) {
      counts->policy_refused++;
    } else {
      counts->invalid_refused++;
      counts->invalid_rsa1_5++;
    }
  } else if (strcmp(result, "valid") == 0) {
    if (outcome != OUTCOME_DECRYPTED ||
        !same_bytes(&out, want.data, want.len)) {
      report_case(counts, id, comment,
                  "expected %zu bytes of published plaintext; %s", want.len,
                  got);
      goto done;
    }
    if (dir) {
      outcome = open_once(key, NULL, 0, jwe, &out, &st);
      if (!is_refusal(outcome, &st, GRPC_STATUS_INVALID_ARGUMENT, "dir")) {
        describe(got, sizeof(got), outcome, &out, &st);
        report_case(counts, id, comment,
                    "without allow_dir: expected INVALID_ARGUMENT naming "
                    "dir; %s",
                    got);
        goto done;
      }
    }
    counts->valid_decrypted++;
  } else if (strcmp(result, "invalid") == 0) {
    if (has_flag(tc, "JsonSerialization")) {
      // Compact serialization only: JSON is malformed input.
      if (!is_refusal(outcome, &st, GRPC_STATUS_INVALID_ARGUMENT, NULL)) {
        report_case(counts, id, comment,
                    "expected INVALID_ARGUMENT for JSON serialization; %s",
                    got);
        goto done;
      }
      counts->invalid_json++;
    } else if (has_flag(tc, "WrongCipher")) {
      // The key's own "alg" names another algorithm of the same key size.
      if (!is_refusal(outcome, &st, GRPC_STATUS_FAILED_PRECONDITION, NULL)) {
        report_case(counts, id, comment,
                    "expected FAILED_PRECONDITION: the key's alg does not "
                    "match the message; %s",
                    got);
        goto done;
      }
      counts->invalid_key_alg++;
    } else if (!is_input_refusal(outcome, &st)) {
      report_case(counts, id, comment,
                  "expected a refusal (INVALID_ARGUMENT, FAILED_PRECONDITION "
                  "or DATA_LOSS); %s",
                  got);
      goto done;
    }
    counts->invalid_refused++;
  } else if (strcmp(result, "acceptable") == 0) {
    if (outcome == OUTCOME_DECRYPTED &&
        !same_bytes(&out, want.data, want.len)) {
      report_case(counts, id, comment,
                  "decrypted to something other than the %zu published "
                  "bytes",
                  want.len);
      goto done;
    }
    counts->acceptable++;
  } else {
    report_case(counts, id, comment, "unknown result \"%s\"", result);
  }

done:
  ss_buf_cleanup(&want);
  ss_buf_cleanup(&out);
  ss_buf_cleanup(&shared_out);
}

static void run_wycheproof_group(const json_t *group_json,
                                 wycheproof_counts *counts) {
  wycheproof_group group;
  memset(&group, 0, sizeof(group));
  ss_status_init(&group.key_status);
  const json_t *jwk = json_object_get(group_json, "private");
  group.key = ss_test_jwk_from_object(jwk, &group.key_status);
  const char *key_alg = json_string_value(json_object_get(jwk, "alg"));
  if (group.key == NULL && key_alg != NULL && strcmp(key_alg, "RSA1_5") == 0) {
    // A key meant for RSA1_5 only may itself be refused. The policy on
    // RSA1_5 messages is checked all the same, with the key minus its alg.
    json_t *copy = json_deep_copy(jwk);
    assert_non_null(copy);
    json_object_del(copy, "alg");
    ss_status st;
    ss_status_init(&st);
    group.key_without_alg = ss_test_jwk_from_object(copy, &st);
    json_decref(copy);
    printf(
        "wycheproof: RSA1_5 key refused by ss_jwk_parse (%s); RSA1_5 "
        "messages checked with the key minus its alg\n",
        group.key_status.msg);
  }
  const ss_jwk *shared_key =
      group.key != NULL ? group.key : group.key_without_alg;
  if (shared_key != NULL) {
    ss_jwe_decrypt_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.allow_dir = 1;
    ss_status st;
    ss_status_init(&st);
    group.shared = ss_jwe_decryptor_new(shared_key, NULL, &opts, &st);
    assert_non_null(group.shared);
  }
  size_t i;
  const json_t *tc;
  json_array_foreach(json_object_get(group_json, "tests"), i, tc) {
    check_wycheproof_case(&group, tc, counts);
  }
  ss_jwe_decryptor_free(group.shared);
  ss_jwk_free(group.key);
  ss_jwk_free(group.key_without_alg);
}

static void test_wycheproof_jwe_cases_give_expected_results(void **state) {
  (void)state;
  json_t *doc =
      ss_test_vectors_load("wycheproof/json_web_encryption_test.json");
  assert_non_null(doc);
  wycheproof_counts counts;
  memset(&counts, 0, sizeof(counts));
  size_t i;
  const json_t *group;
  json_array_foreach(json_object_get(doc, "testGroups"), i, group) {
    run_wycheproof_group(group, &counts);
  }
  int declared = (int)json_integer_value(json_object_get(doc, "numberOfTests"));
  json_decref(doc);
  printf(
      "wycheproof JWE: %d cases (%d valid decrypted, %d invalid refused, "
      "%d refused by policy, %d acceptable), %d wrong\n",
      counts.cases, counts.valid_decrypted, counts.invalid_refused,
      counts.policy_refused, counts.acceptable, counts.failures);
  printf(
      "wycheproof JWE invalid refused: %d RSA1_5, %d key alg mismatch, %d "
      "JSON serialization, %d tampered or malformed\n",
      counts.invalid_rsa1_5, counts.invalid_key_alg, counts.invalid_json,
      counts.invalid_refused - counts.invalid_rsa1_5 - counts.invalid_key_alg -
          counts.invalid_json);
  fflush(stdout);
  assert_int_equal(counts.failures, 0);
  assert_true(counts.cases > 0);
  assert_int_equal(counts.cases, declared);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc7516_appendix_a_examples_give_expected_results),
      cmocka_unit_test(test_rfc7520_cookbook_examples_give_expected_results),
      cmocka_unit_test(test_wycheproof_jwe_cases_give_expected_results),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
