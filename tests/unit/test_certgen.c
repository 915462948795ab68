/* In-memory certificates (core/certgen.c): the chain verifies with host and
 * IP checks, the extensions are what a CA and a leaf need, a foreign leaf
 * fails, and the results carry a real TLS 1.3 handshake, mutual, over BIO
 * pairs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the above first */
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certgen.h"
#include "gatehouse/gatehouse.h"

static const char *const server_sans[] = {"DNS:localhost", "IP:127.0.0.1",
                                          "IP:::1"};

typedef struct set {
  gh__pem ca, server, client, other_ca, other_leaf;
} set;

static int setup(void **state) {
  static set s;
  memset(&s, 0, sizeof s);
  if (gh__certgen_ca("gatehouse test CA", 30, &s.ca) ||
      gh__certgen_leaf(&s.ca, "localhost", server_sans, 3, 1, 30, &s.server) ||
      gh__certgen_leaf(&s.ca, "client-1", NULL, 0, 0, 30, &s.client) ||
      gh__certgen_ca("another CA", 30, &s.other_ca) ||
      gh__certgen_leaf(&s.other_ca, "localhost", server_sans, 3, 1, 30,
                       &s.other_leaf))
    return -1;
  *state = &s;
  return 0;
}

static int teardown(void **state) {
  set *s = *state;
  gh__pem_free(&s->ca);
  gh__pem_free(&s->server);
  gh__pem_free(&s->client);
  gh__pem_free(&s->other_ca);
  gh__pem_free(&s->other_leaf);
  return 0;
}

static X509 *cert_of(const gh__pem *p) {
  BIO *b = BIO_new_mem_buf(p->cert, -1);
  assert_non_null(b);
  X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
  BIO_free(b);
  assert_non_null(x);
  return x;
}

static EVP_PKEY *key_of(const gh__pem *p) {
  BIO *b = BIO_new_mem_buf(p->key, -1);
  assert_non_null(b);
  EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  assert_non_null(k);
  return k;
}

/* X509_verify_cert of leaf against a store holding ca; host/ip may be NULL.
 * Returns the verification error (X509_V_OK on success). */
static int verify(const gh__pem *ca, const gh__pem *leaf, int purpose,
                  const char *host, const char *ip) {
  X509_STORE *store = X509_STORE_new();
  X509 *cax = cert_of(ca), *lx = cert_of(leaf);
  assert_int_equal(X509_STORE_add_cert(store, cax), 1);
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  assert_int_equal(X509_STORE_CTX_init(ctx, store, lx, NULL), 1);
  X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
  if (purpose)
    assert_int_equal(X509_STORE_CTX_set_purpose(ctx, purpose), 1);
  if (host)
    assert_int_equal(X509_VERIFY_PARAM_set1_host(param, host, 0), 1);
  if (ip)
    assert_int_equal(X509_VERIFY_PARAM_set1_ip_asc(param, ip), 1);
  int ok = X509_verify_cert(ctx);
  int err = X509_STORE_CTX_get_error(ctx);
  assert_true(ok == 1 ? err == X509_V_OK : err != X509_V_OK);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  X509_free(cax);
  X509_free(lx);
  return err;
}

static void test_pem_and_keys(void **state) {
  set *s = *state;
  const gh__pem *all[] = {&s->ca, &s->server, &s->client};
  for (size_t i = 0; i < 3; i++) {
    assert_non_null(strstr(all[i]->cert, "-----BEGIN CERTIFICATE-----"));
    assert_non_null(strstr(all[i]->key, "-----BEGIN PRIVATE KEY-----"));
    X509 *x = cert_of(all[i]);
    EVP_PKEY *k = key_of(all[i]);
    assert_int_equal(X509_check_private_key(x, k), 1);
    assert_true(EVP_PKEY_is_a(k, "EC"));
    char group[64];
    size_t glen = 0;
    assert_int_equal(EVP_PKEY_get_group_name(k, group, sizeof group, &glen), 1);
    assert_string_equal(group, "prime256v1");
    assert_int_equal(X509_get_version(x), X509_VERSION_3);
    assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
    /* 128-bit positive serial */
    const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
    assert_int_equal(ASN1_STRING_length(sn), 16);
    assert_int_equal(ASN1_STRING_type(sn), V_ASN1_INTEGER);
    /* valid now, for about 30 days */
    assert_true(X509_cmp_current_time(X509_get0_notBefore(x)) < 0);
    assert_true(X509_cmp_current_time(X509_get0_notAfter(x)) > 0);
    int days = 0, secs = 0;
    assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x),
                                    X509_get0_notAfter(x)),
                     1);
    assert_int_equal(days, 30);
    EVP_PKEY_free(k);
    X509_free(x);
  }
  /* keys do not cross */
  X509 *x = cert_of(&s->server);
  EVP_PKEY *k = key_of(&s->client);
  assert_int_equal(X509_check_private_key(x, k), 0);
  ERR_clear_error();
  EVP_PKEY_free(k);
  /* serials differ */
  X509 *y = cert_of(&s->client);
  assert_int_not_equal(
      ASN1_INTEGER_cmp(X509_get0_serialNumber(x), X509_get0_serialNumber(y)),
      0);
  X509_free(x);
  X509_free(y);
}

static int ext_critical(X509 *x, int nid) {
  int i = X509_get_ext_by_NID(x, nid, -1);
  assert_true(i >= 0);
  return X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static void test_extensions(void **state) {
  set *s = *state;
  X509 *ca = cert_of(&s->ca), *sv = cert_of(&s->server),
       *cl = cert_of(&s->client);

  /* CA: self-signed, CA:TRUE critical, keyCertSign */
  assert_true(X509_check_ca(ca) >= 1);
  assert_int_equal(X509_self_signed(ca, 1), 1);
  assert_int_equal(ext_critical(ca, NID_basic_constraints), 1);
  assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
  assert_non_null(X509_get0_subject_key_id(ca));
  assert_non_null(X509_get0_authority_key_id(ca));
  assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_subject_key_id(ca),
                                         X509_get0_authority_key_id(ca)),
                   0);

  /* leaves: CA:FALSE, the right EKU, AKID = the CA's SKID */
  X509 *leaves[] = {sv, cl};
  for (int i = 0; i < 2; i++) {
    X509 *x = leaves[i];
    assert_int_equal(X509_check_ca(x), 0);
    assert_true(X509_get_extension_flags(x) & EXFLAG_BCONS);
    assert_false(X509_get_extension_flags(x) & EXFLAG_CA);
    assert_true(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE);
    assert_false(X509_get_key_usage(x) & KU_KEY_CERT_SIGN);
    assert_non_null(X509_get0_subject_key_id(x));
    assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x),
                                           X509_get0_subject_key_id(ca)),
                     0);
    assert_int_equal(X509_check_issued(ca, x), X509_V_OK);
  }
  assert_true(X509_get_extended_key_usage(sv) & XKU_SSL_SERVER);
  assert_false(X509_get_extended_key_usage(sv) & XKU_SSL_CLIENT);
  assert_true(X509_get_extended_key_usage(cl) & XKU_SSL_CLIENT);
  assert_false(X509_get_extended_key_usage(cl) & XKU_SSL_SERVER);

  /* names */
  assert_int_equal(X509_check_host(sv, "localhost", 0, 0, NULL), 1);
  assert_int_equal(X509_check_ip_asc(sv, "127.0.0.1", 0), 1);
  assert_int_equal(X509_check_ip_asc(sv, "::1", 0), 1);
  assert_int_equal(X509_check_host(sv, "example.com", 0, 0, NULL), 0);
  assert_int_equal(X509_get_ext_by_NID(cl, NID_subject_alt_name, -1), -1);
  char cn[128];
  assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(cl),
                                        NID_commonName, cn, sizeof cn) > 0);
  assert_string_equal(cn, "client-1");
  assert_int_equal(
      X509_NAME_cmp(X509_get_issuer_name(cl), X509_get_subject_name(ca)), 0);

  X509_free(ca);
  X509_free(sv);
  X509_free(cl);
}

static void test_verify_chain(void **state) {
  set *s = *state;
  assert_int_equal(
      verify(&s->ca, &s->server, X509_PURPOSE_SSL_SERVER, "localhost", NULL),
      X509_V_OK);
  assert_int_equal(
      verify(&s->ca, &s->server, X509_PURPOSE_SSL_SERVER, NULL, "127.0.0.1"),
      X509_V_OK);
  assert_int_equal(
      verify(&s->ca, &s->server, X509_PURPOSE_SSL_SERVER, NULL, "::1"),
      X509_V_OK);
  assert_int_equal(
      verify(&s->ca, &s->client, X509_PURPOSE_SSL_CLIENT, NULL, NULL),
      X509_V_OK);
  /* the CA verifies itself */
  assert_int_equal(verify(&s->ca, &s->ca, 0, NULL, NULL), X509_V_OK);

  /* wrong names, wrong purposes */
  assert_int_equal(
      verify(&s->ca, &s->server, X509_PURPOSE_SSL_SERVER, "example.com", NULL),
      X509_V_ERR_HOSTNAME_MISMATCH);
  assert_int_equal(
      verify(&s->ca, &s->server, X509_PURPOSE_SSL_SERVER, NULL, "10.0.0.1"),
      X509_V_ERR_IP_ADDRESS_MISMATCH);
  assert_int_equal(
      verify(&s->ca, &s->client, X509_PURPOSE_SSL_SERVER, NULL, NULL),
      X509_V_ERR_INVALID_PURPOSE);
  assert_int_equal(
      verify(&s->ca, &s->server, X509_PURPOSE_SSL_CLIENT, NULL, NULL),
      X509_V_ERR_INVALID_PURPOSE);

  /* a leaf of another CA */
  assert_int_equal(verify(&s->ca, &s->other_leaf, X509_PURPOSE_SSL_SERVER,
                          "localhost", NULL),
                   X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  assert_int_equal(verify(&s->other_ca, &s->server, X509_PURPOSE_SSL_SERVER,
                          "localhost", NULL),
                   X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  assert_int_equal(verify(&s->other_ca, &s->other_leaf, X509_PURPOSE_SSL_SERVER,
                          "localhost", NULL),
                   X509_V_OK);
  ERR_clear_error();
}

/* ----------------------------------------------- TLS over BIO pairs */

static SSL_CTX *ctx_new(int server, const gh__pem *own, const gh__pem *ca) {
  SSL_CTX *ctx =
      SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  assert_non_null(ctx);
  assert_int_equal(SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION), 1);
  if (own) {
    X509 *x = cert_of(own);
    EVP_PKEY *k = key_of(own);
    assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ctx, k), 1);
    assert_int_equal(SSL_CTX_check_private_key(ctx), 1);
    X509_free(x);
    EVP_PKEY_free(k);
  }
  X509 *cax = cert_of(ca);
  assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cax), 1);
  X509_free(cax);
  SSL_CTX_set_verify(
      ctx, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
      NULL);
  return ctx;
}

/* Drives both ends until both finish; 1 when both succeeded. */
static int handshake(SSL *c, SSL *s) {
  int cdone = 0, sdone = 0;
  for (int i = 0; i < 100 && !(cdone && sdone); i++) {
    if (!cdone) {
      int r = SSL_do_handshake(c);
      if (r == 1)
        cdone = 1;
      else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
        return 0;
    }
    if (!sdone) {
      int r = SSL_do_handshake(s);
      if (r == 1)
        sdone = 1;
      else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
        return 0;
    }
  }
  return cdone && sdone;
}

typedef struct tls_pair {
  SSL_CTX *cctx, *sctx;
  SSL *c, *s;
} tls_pair;

static void pair_new(tls_pair *p, const gh__pem *srv, const gh__pem *srv_ca,
                     const gh__pem *cli, const gh__pem *cli_ca) {
  p->sctx = ctx_new(1, srv, cli_ca);
  p->cctx = ctx_new(0, cli, srv_ca);
  p->s = SSL_new(p->sctx);
  p->c = SSL_new(p->cctx);
  assert_non_null(p->s);
  assert_non_null(p->c);
  BIO *bc = NULL, *bs = NULL;
  assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
  SSL_set_bio(p->c, bc, bc);
  SSL_set_bio(p->s, bs, bs);
  SSL_set_connect_state(p->c);
  SSL_set_accept_state(p->s);
  assert_int_equal(SSL_set_tlsext_host_name(p->c, "localhost"), 1);
  assert_int_equal(SSL_set1_host(p->c, "localhost"), 1);
}

static void pair_free(tls_pair *p) {
  SSL_free(p->c);
  SSL_free(p->s);
  SSL_CTX_free(p->cctx);
  SSL_CTX_free(p->sctx);
  ERR_clear_error();
}

static void test_tls13_handshake(void **state) {
  set *s = *state;
  tls_pair p;
  pair_new(&p, &s->server, &s->ca, &s->client, &s->ca);
  assert_int_equal(handshake(p.c, p.s), 1);
  assert_int_equal(SSL_version(p.c), TLS1_3_VERSION);
  assert_int_equal(SSL_get_verify_result(p.c), X509_V_OK);
  assert_int_equal(SSL_get_verify_result(p.s), X509_V_OK);

  X509 *peer = SSL_get1_peer_certificate(p.s);
  assert_non_null(peer);
  char cn[128];
  assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
                                        NID_commonName, cn, sizeof cn) > 0);
  assert_string_equal(cn, "client-1");
  X509_free(peer);

  /* application data both ways */
  char buf[64];
  assert_int_equal(SSL_write(p.c, "hello", 5), 5);
  assert_int_equal(SSL_read(p.s, buf, sizeof buf), 5);
  assert_memory_equal(buf, "hello", 5);
  assert_int_equal(SSL_write(p.s, "world!", 6), 6);
  assert_int_equal(SSL_read(p.c, buf, sizeof buf), 6);
  assert_memory_equal(buf, "world!", 6);
  pair_free(&p);
}

static void test_tls_refuses_foreign(void **state) {
  set *s = *state;
  tls_pair p;
  /* the server shows a certificate of another CA: the client refuses */
  pair_new(&p, &s->other_leaf, &s->ca, &s->client, &s->ca);
  assert_int_equal(handshake(p.c, p.s), 0);
  assert_int_equal(SSL_get_verify_result(p.c),
                   X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  pair_free(&p);

  /* a client certificate of another CA: the server refuses */
  gh__pem stranger = {0};
  assert_int_equal(
      gh__certgen_leaf(&s->other_ca, "stranger", NULL, 0, 0, 1, &stranger), 0);
  pair_new(&p, &s->server, &s->ca, &stranger, &s->ca);
  assert_int_equal(handshake(p.c, p.s), 0);
  assert_int_not_equal(SSL_get_verify_result(p.s), X509_V_OK);
  pair_free(&p);
  gh__pem_free(&stranger);
}

static void test_bad_arguments(void **state) {
  set *s = *state;
  gh__pem out = {(char *)1, (char *)1};
  assert_int_equal(gh__certgen_ca(NULL, 30, &out), GH_EINVAL);
  assert_null(out.cert);
  assert_null(out.key);
  assert_int_equal(gh__certgen_ca("", 30, &out), GH_EINVAL);
  assert_int_equal(gh__certgen_ca("ca", 0, &out), GH_EINVAL);
  assert_int_equal(gh__certgen_ca("ca", 40000, &out), GH_EINVAL);
  assert_int_equal(gh__certgen_ca("ca", 1, NULL), GH_EINVAL);

  const char *bad[][1] = {{"URI:http://x"}, {"IP:999.1.1.1"}, {"DNS:"},
                          {"IP:"},          {"localhost"},    {NULL}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(gh__certgen_leaf(&s->ca, "x", bad[i], 1, 1, 1, &out),
                     GH_EINVAL);
    assert_null(out.cert);
  }
  assert_int_equal(gh__certgen_leaf(&s->ca, "x", NULL, 1, 1, 1, &out),
                   GH_EINVAL);
  /* a CA that does not parse, a CA key of another CA, a leaf as CA */
  gh__pem junk = {"not a cert", "not a key"};
  assert_int_equal(gh__certgen_leaf(&junk, "x", NULL, 0, 1, 1, &out),
                   GH_EINVAL);
  gh__pem mixed = {s->ca.cert, s->other_ca.key};
  assert_int_equal(gh__certgen_leaf(&mixed, "x", NULL, 0, 1, 1, &out),
                   GH_EINVAL);
  assert_int_equal(gh__certgen_leaf(&s->server, "x", NULL, 0, 1, 1, &out),
                   GH_EINVAL);
  assert_int_equal(gh__certgen_leaf(NULL, "x", NULL, 0, 1, 1, &out), GH_EINVAL);
  ERR_clear_error();

  gh__pem_free(NULL);
  gh__pem empty = {0};
  gh__pem_free(&empty);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pem_and_keys),
      cmocka_unit_test(test_extensions),
      cmocka_unit_test(test_verify_chain),
      cmocka_unit_test(test_tls13_handshake),
      cmocka_unit_test(test_tls_refuses_foreign),
      cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests_name("certgen", tests, setup, teardown);
}
