/* TLS contexts of the tunnel: TLS 1.2 at least, 1.3 preferred, modern
 * ciphers, certificates from PEM in memory (files are read by the caller,
 * so that `gatehouse demo` needs none). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "log.h"
#include "tls.h"
#include "util.h"

#define GH__TLS12_CIPHERS                                                      \
  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                 \
  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                 \
  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

const char *gh__tls_error(char *buf, size_t len) {
  unsigned long e = ERR_get_error();
  if (!e) {
    snprintf(buf, len, "unknown TLS error");
  } else {
    ERR_error_string_n(e, buf, len);
  }
  ERR_clear_error();
  return buf;
}

static int fail(char *err, size_t errlen, const char *what) {
  char tls[256];
  snprintf(err, errlen, "%s: %s", what, gh__tls_error(tls, sizeof(tls)));
  return -1;
}

static SSL_CTX *ctx_new(const SSL_METHOD *m, char *err, size_t errlen) {
  SSL_CTX *ctx = SSL_CTX_new(m);
  if (!ctx) {
    fail(err, errlen, "cannot create a TLS context");
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx, GH__TLS12_CIPHERS);
  /* AES-128-GCM first: as safe here, and the fastest with AES-NI. */
  SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:"
                                "TLS_CHACHA20_POLY1305_SHA256:"
                                "TLS_AES_256_GCM_SHA384");
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return ctx;
}

/* A daemon must never stop to prompt on a terminal for the passphrase of
 * an encrypted key: it is refused instead ("cannot read the private key"). */
static int no_passphrase(char *buf, int size, int rwflag, void *u) {
  (void)buf, (void)size, (void)rwflag, (void)u;
  return 0;
}

/* The certificate chain and its key. */
static int use_cert(SSL_CTX *ctx, const gh__tls_files *f, char *err,
                    size_t errlen) {
  BIO *b = BIO_new_mem_buf(f->cert, (int)f->cert_len);
  X509 *leaf = b ? PEM_read_bio_X509(b, NULL, no_passphrase, NULL) : NULL;
  if (!leaf || SSL_CTX_use_certificate(ctx, leaf) != 1) {
    X509_free(leaf);
    BIO_free(b);
    return fail(err, errlen, "cannot read the certificate");
  }
  X509_free(leaf);
  X509 *extra;
  while ((extra = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) != NULL) {
    if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
      X509_free(extra);
      BIO_free(b);
      return fail(err, errlen, "cannot add a chain certificate");
    }
  }
  ERR_clear_error(); /* the end of the PEM stream */
  BIO_free(b);
  b = BIO_new_mem_buf(f->key, (int)f->key_len);
  EVP_PKEY *pk = b ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
  BIO_free(b);
  if (!pk || SSL_CTX_use_PrivateKey(ctx, pk) != 1) {
    EVP_PKEY_free(pk);
    return fail(err, errlen,
                "cannot read the private key (PEM, not encrypted)");
  }
  EVP_PKEY_free(pk);
  if (SSL_CTX_check_private_key(ctx) != 1)
    return fail(err, errlen, "the key does not match the certificate");
  return 0;
}

/* Trust exactly the CAs of the PEM given. */
static int use_ca(SSL_CTX *ctx, const gh__tls_files *f, char *err,
                  size_t errlen) {
  X509_STORE *store = SSL_CTX_get_cert_store(ctx);
  BIO *b = BIO_new_mem_buf(f->ca, (int)f->ca_len);
  int n = 0;
  X509 *x;
  while (b && (x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) != NULL) {
    X509_STORE_add_cert(store, x);
    X509_free(x);
    n++;
  }
  ERR_clear_error();
  BIO_free(b);
  if (n == 0) {
    snprintf(err, errlen, "no certificate found in the CA file");
    return -1;
  }
  return 0;
}

/* Every CRL of a PEM buffer into store; how many, or -1. */
static int add_crls(X509_STORE *store, const uint8_t *pem, size_t len) {
  BIO *b = BIO_new_mem_buf(pem, (int)len);
  int n = 0;
  X509_CRL *c;
  while (b && (c = PEM_read_bio_X509_CRL(b, NULL, no_passphrase, NULL))) {
    int ok = !store || X509_STORE_add_crl(store, c) == 1;
    X509_CRL_free(c);
    if (!ok) {
      n = -1;
      break;
    }
    n++;
  }
  ERR_clear_error(); /* the end of the PEM stream */
  BIO_free(b);
  return n;
}

int gh__crl_file_check(const char *path, char *why, size_t len) {
  uint8_t *data = NULL;
  size_t n = 0;
  int r = gh__file_read(path, &data, &n);
  if (r < 0) {
    snprintf(why, len, "cannot read it: %s", strerror(-r));
    return GH_EINVAL;
  }
  r = add_crls(NULL, data, n);
  free(data);
  if (r <= 0) {
    snprintf(why, len, "no CRL found in it (PEM, -----BEGIN X509 CRL-----)");
    return GH_EINVAL;
  }
  return 0;
}

/* Peers' certificates are checked against the CRLs given, the whole chain
 * as a reload checks live tunnels: the issuer of every certificate of the
 * chain must have one (a CRL that goes missing fails closed). */
static int use_crl(SSL_CTX *ctx, const gh__tls_files *f, char *err,
                   size_t errlen) {
  X509_STORE *store = SSL_CTX_get_cert_store(ctx);
  if (add_crls(store, f->crl, f->crl_len) <= 0) {
    snprintf(err, errlen, "no CRL found in the CRL file");
    return -1;
  }
  X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  return 0;
}

int gh__tls_peer_revoked(SSL *ssl, SSL_CTX *ctx) {
  if (!ssl || !ctx)
    return 0;
  X509_STORE *store = SSL_CTX_get_cert_store(ctx);
  STACK_OF(X509) *chain = SSL_get0_verified_chain(ssl);
  X509 *peer = SSL_get0_peer_certificate(ssl);
  STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
  int revoked = 0;
  int n = chain ? sk_X509_num(chain) : peer ? 1 : 0;
  for (int i = 0; i < n && !revoked; i++) {
    X509 *x = chain ? sk_X509_value(chain, i) : peer;
    for (int k = 0; k < sk_X509_OBJECT_num(objs) && !revoked; k++) {
      X509_CRL *crl = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(objs, k));
      X509_REVOKED *rev = NULL;
      if (crl &&
          X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(x)) ==
              0 &&
          X509_CRL_get0_by_cert(crl, &rev, x) == 1)
        revoked = 1;
    }
  }
  return revoked;
}

SSL_CTX *gh__tls_server_ctx(const gh__tls_files *f, char *err, size_t errlen) {
  SSL_CTX *ctx = ctx_new(TLS_server_method(), err, errlen);
  if (!ctx)
    return NULL;
  if (use_cert(ctx, f, err, errlen) < 0)
    goto bad;
  if (f->ca) {
    if (use_ca(ctx, f, err, errlen) < 0)
      goto bad;
    if (f->crl && use_crl(ctx, f, err, errlen) < 0)
      goto bad;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       NULL);
  }
  /* Clients reconnect often after a restart: tickets make that cheap. */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  return ctx;
bad:
  SSL_CTX_free(ctx);
  return NULL;
}

SSL_CTX *gh__tls_client_ctx(const gh__tls_files *f, char *err, size_t errlen) {
  SSL_CTX *ctx = ctx_new(TLS_client_method(), err, errlen);
  if (!ctx)
    return NULL;
  if (f->cert && use_cert(ctx, f, err, errlen) < 0)
    goto bad;
  if (!f->ca) {
    snprintf(err, errlen, "a CA is required to verify the server");
    goto bad;
  }
  if (use_ca(ctx, f, err, errlen) < 0)
    goto bad;
  if (f->crl && use_crl(ctx, f, err, errlen) < 0)
    goto bad;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  return ctx;
bad:
  SSL_CTX_free(ctx);
  return NULL;
}

SSL_CTX *gh__tls_ctx_from_files(int server, const char *cert, const char *key,
                                const char *ca, const char *crl, char *err,
                                size_t errlen) {
  const char *path[4] = {cert, key, ca, crl};
  uint8_t *data[4] = {NULL, NULL, NULL, NULL};
  size_t len[4] = {0, 0, 0, 0};
  SSL_CTX *ctx = NULL;
  int i;
  for (i = 0; i < 4; i++) {
    int r = path[i] ? gh__file_read(path[i], &data[i], &len[i]) : 0;
    if (r < 0) {
      snprintf(err, errlen, "cannot read %s: %s", path[i], strerror(-r));
      break;
    }
  }
  if (i == 4) {
    gh__tls_files f = {data[0], len[0], data[1], len[1],
                       data[2], len[2], data[3], len[3]};
    char why[256];
    ctx = server ? gh__tls_server_ctx(&f, why, sizeof(why))
                 : gh__tls_client_ctx(&f, why, sizeof(why));
    if (!ctx)
      snprintf(err, errlen, "%s", why);
  }
  if (data[1])
    OPENSSL_cleanse(data[1], len[1]); /* the private key */
  for (i = 0; i < 4; i++)
    free(data[i]);
  return ctx;
}
