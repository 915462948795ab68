/* The TLS layer: terminates TLS on the listen side (optionally requiring a
 * client certificate signed by tls.client_ca) and originates it on the
 * resource side (verifying the resource's chain and name, optionally showing
 * a client certificate), above whatever byte-stream transport is below.
 * Built against the SDK header and OpenSSL only; the one exported symbol is
 * gh_plugin_entry.
 *
 * Bytes never wait here. OpenSSL reads ciphertext through a BIO that serves
 * the buffer up() was given, in place; it writes records through a BIO that
 * hands them to send_down() at once (during the handshake a flight is
 * gathered first, so that it leaves in one write). Plaintext goes up as soon
 * as a record is decrypted. What a link holds is OpenSSL's own partial
 * record, so the core's flow control sees the transport's pace.
 *
 * Lifetimes
 *   - A tls_inst (one per destination side using tls) lives from
 *     inst_init() to inst_free(): its SSL_CTX, options, and on the resource
 *     side the newest resumable session, offered to the next connection.
 *   - A tls_conn lives from open() to close(): its SSL (which owns both
 *     BIOs) and its handshake timer (freed once the handshake ends).
 *   - Every callback leaves OpenSSL's error queue empty: it is per thread,
 *     and the core's tunnel shares the thread (SSL_get_error reads it).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "gatehouse/gatehouse.h"

#define TLS_RECORD 16384u
/* AEAD ciphers with forward secrecy only; AES-128-GCM first: as safe here,
 * and the fastest with AES-NI. */
#define TLS12_CIPHERS                                                          \
  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                 \
  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                 \
  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES                                                           \
  "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"

static const gh_host *host;
static BIO_METHOD *link_bio; /* the BIO that moves records to and from a link */

/* ------------------------------------------------------------ options */

static const char *const tls_versions[] = {"1.2", "1.3", NULL};

static const gh_option tls_options[] = {
    {.name = "cert",
     .type = GH_OPT_FILE,
     .help = "listen side: the certificate chain (PEM, leaf first) shown to "
             "applications (required there); resource side: a client "
             "certificate shown to the resource (mutual authentication)"},
    {.name = "key",
     .type = GH_OPT_FILE,
     .help = "both sides: the unencrypted PEM private key of tls.cert"},
    {.name = "client_ca",
     .type = GH_OPT_FILE,
     .help = "listen side: mutual authentication: applications must present "
             "a certificate signed by one of these CAs (PEM), or are refused "
             "in the handshake"},
    {.name = "ca",
     .type = GH_OPT_FILE,
     .help = "resource side: the CAs (PEM) the resource's certificate must "
             "chain to; default: the system's trust store"},
    {.name = "verify",
     .type = GH_OPT_BOOL,
     .def = "yes",
     .help = "resource side: verify the resource's certificate and name; "
             "`no` lets anyone on the path pose as the resource (logged as "
             "a warning)"},
    {.name = "server_name",
     .type = GH_OPT_STRING,
     .help = "resource side: the name sent as SNI and checked in the "
             "resource's certificate; default: the resource host"},
    {.name = "min_version",
     .type = GH_OPT_ENUM,
     .choices = tls_versions,
     .def = "1.2",
     .help = "both sides: the oldest TLS version accepted, 1.2 or 1.3"},
    {.name = "handshake_timeout",
     .type = GH_OPT_INT,
     .min = 1,
     .max = 300,
     .def = "10",
     .help = "both sides: seconds a handshake may take before the "
             "connection is refused"},
};

typedef struct tls_inst {
  SSL_CTX *ctx;
  uint32_t side; /* GH_SIDE_* */
  int verify;    /* resource side */
  int min_version;
  uint32_t timeout_s;
  char *server_name;    /* resource side; NULL: the resource host */
  SSL_SESSION *session; /* resource side: the newest resumable one */
} tls_inst;

static const char *side_name(uint32_t side) {
  return side == GH_SIDE_LISTEN ? "listen" : "resource";
}

static int32_t inst_fail(char *err, uint32_t errlen, int32_t code,
                         const char *fmt, ...) GH_PRINTF(4, 5);
static int32_t inst_fail(char *err, uint32_t errlen, int32_t code,
                         const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  ERR_clear_error();
  return code;
}

/* OpenSSL's reason for the first error queued, and an empty queue. */
static const char *ssl_reason(char *buf, size_t len) {
  unsigned long e = ERR_peek_error();
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  if (r)
    snprintf(buf, len, "%s", r);
  else if (e)
    ERR_error_string_n(e, buf, len);
  else
    snprintf(buf, len, "no detail");
  ERR_clear_error();
  return buf;
}

/* A key must never make OpenSSL prompt on a terminal for a passphrase. */
static int no_passphrase(char *buf, int size, int rwflag, void *u) {
  (void)buf;
  (void)size;
  (void)rwflag;
  (void)u;
  return 0;
}

/* The certificate chain (leaf first) and its key, from the blobs. */
static int32_t use_cert(SSL_CTX *ctx, const char *sn, const uint8_t *cert,
                        uint32_t cert_len, const uint8_t *key, uint32_t key_len,
                        char *err, uint32_t errlen) {
  char why[256];
  BIO *b = BIO_new_mem_buf(cert, (int)cert_len);
  X509 *x = b ? PEM_read_bio_X509(b, NULL, no_passphrase, NULL) : NULL;
  if (!x || SSL_CTX_use_certificate(ctx, x) != 1) {
    X509_free(x);
    BIO_free(b);
    return inst_fail(err, errlen, GH_EINVAL,
                     "%s.tls.cert: no usable PEM certificate (%s)", sn,
                     ssl_reason(why, sizeof why));
  }
  X509_free(x);
  while ((x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) != NULL) {
    if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
      X509_free(x);
      BIO_free(b);
      return inst_fail(err, errlen, GH_EINVAL,
                       "%s.tls.cert: cannot add a chain certificate (%s)", sn,
                       ssl_reason(why, sizeof why));
    }
  }
  ERR_clear_error(); /* the end of the PEM text */
  BIO_free(b);
  b = BIO_new_mem_buf(key, (int)key_len);
  EVP_PKEY *pk =
      b ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
  BIO_free(b);
  if (!pk)
    return inst_fail(err, errlen, GH_EINVAL,
                     "%s.tls.key: no usable PEM private key (it must not be "
                     "encrypted) (%s)",
                     sn, ssl_reason(why, sizeof why));
  /* OpenSSL checks the key against the certificate here already */
  int used = SSL_CTX_use_PrivateKey(ctx, pk) == 1;
  EVP_PKEY_free(pk);
  if (!used || SSL_CTX_check_private_key(ctx) != 1)
    return inst_fail(err, errlen, GH_EINVAL,
                     "%s.tls.key does not match %s.tls.cert", sn, sn);
  return 0;
}

/* Trust the CAs of a PEM blob; with `names`, also list them to clients as
 * the acceptable issuers. Returns how many were read. */
static int load_cas(X509_STORE *store, STACK_OF(X509_NAME) * names,
                    const uint8_t *pem, uint32_t len) {
  BIO *b = BIO_new_mem_buf(pem, (int)len);
  int n = 0;
  X509 *x;
  while (b && (x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) != NULL) {
    if (X509_STORE_add_cert(store, x) == 1)
      n++;
    if (names) {
      X509_NAME *nm = X509_NAME_dup(X509_get_subject_name(x));
      if (nm && !sk_X509_NAME_push(names, nm))
        X509_NAME_free(nm);
    }
    X509_free(x);
  }
  ERR_clear_error();
  BIO_free(b);
  return n;
}

static int on_new_session(SSL *ssl, SSL_SESSION *sess);
static int on_cert_request(SSL *ssl, X509 **x509, EVP_PKEY **pkey);

static SSL_CTX *ctx_new(uint32_t side, int min_version) {
  SSL_CTX *ctx = SSL_CTX_new(side == GH_SIDE_LISTEN ? TLS_server_method()
                                                    : TLS_client_method());
  if (!ctx)
    return NULL;
  if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1 ||
      SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
      SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1) {
    SSL_CTX_free(ctx);
    return NULL;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
  /* An idle connection gives its record buffers back. */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

static int32_t listen_setup(gh_inst *inst, tls_inst *ti, char *err,
                            uint32_t errlen) {
  const uint8_t *ca;
  uint32_t ca_len;
  if (host->opt_blob(inst, "client_ca", &ca, &ca_len) == 0) {
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
    if (!names)
      return inst_fail(err, errlen, GH_ENOMEM, "tls: out of memory");
    if (load_cas(SSL_CTX_get_cert_store(ti->ctx), names, ca, ca_len) == 0) {
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      return inst_fail(err, errlen, GH_EINVAL,
                       "listen.tls.client_ca: no PEM certificate in it");
    }
    SSL_CTX_set_client_CA_list(ti->ctx, names); /* takes names */
    SSL_CTX_set_verify(ti->ctx,
                       SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  }
  /* Resumed sessions must belong to this destination (and OpenSSL refuses
   * to resume a verified session without an id context). */
  const char *dest = host->inst_destination(inst);
  unsigned char sid[SSL_MAX_SID_CTX_LENGTH];
  size_t n = strlen(dest);
  if (n > sizeof sid)
    n = sizeof sid;
  memcpy(sid, dest, n);
  SSL_CTX_set_session_id_context(ti->ctx, sid, (unsigned)n);
  static const char *const resource_only[] = {"ca", "server_name", "verify"};
  for (size_t i = 0; i < 3; i++)
    if (host->opt_count(inst, resource_only[i]) > 0)
      GH_LOG(host, GH_LOG_WARN, NULL,
             "destination %s: tls.%s concerns the resource side; it has no "
             "effect on the listen side",
             dest, resource_only[i]);
  return 0;
}

static int32_t resource_setup(gh_inst *inst, tls_inst *ti, char *err,
                              uint32_t errlen) {
  const char *dest = host->inst_destination(inst);
  const uint8_t *ca;
  uint32_t ca_len;
  ti->verify = host->opt_bool(inst, "verify") != 0;
  if (host->opt_blob(inst, "ca", &ca, &ca_len) == 0) {
    if (load_cas(SSL_CTX_get_cert_store(ti->ctx), NULL, ca, ca_len) == 0)
      return inst_fail(err, errlen, GH_EINVAL,
                       "resource.tls.ca: no PEM certificate in it");
  } else if (SSL_CTX_set_default_verify_paths(ti->ctx) != 1) {
    char why[256];
    return inst_fail(err, errlen, GH_EINVAL,
                     "cannot load the system's trust store (%s); give "
                     "resource.tls.ca",
                     ssl_reason(why, sizeof why));
  }
  SSL_CTX_set_verify(ti->ctx, ti->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                     NULL);
  if (!ti->verify)
    GH_LOG(host, GH_LOG_WARN, NULL,
           "destination %s: resource.tls.verify = no: the resource's "
           "certificate is not verified, so anyone on the path to it can "
           "pose as the resource",
           dest);
  const char *sn = host->opt_get(inst, "server_name", 0);
  if (sn && !*sn)
    return inst_fail(err, errlen, GH_EINVAL,
                     "resource.tls.server_name is empty");
  if (sn && strlen(sn) > 255)
    return inst_fail(err, errlen, GH_EINVAL,
                     "resource.tls.server_name is longer than 255 bytes");
  if (sn) {
    size_t n = strlen(sn) + 1;
    ti->server_name = host->alloc(n);
    if (!ti->server_name)
      return inst_fail(err, errlen, GH_ENOMEM, "tls: out of memory");
    memcpy(ti->server_name, sn, n);
  }
  /* Resumption toward the resource: the newest session is offered to the
   * next connection, which then skips the full handshake. */
  SSL_CTX_set_session_cache_mode(ti->ctx, SSL_SESS_CACHE_CLIENT |
                                              SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ti->ctx, on_new_session);
  SSL_CTX_set_client_cert_cb(ti->ctx, on_cert_request);
  if (host->opt_count(inst, "client_ca") > 0)
    GH_LOG(host, GH_LOG_WARN, NULL,
           "destination %s: tls.client_ca concerns the listen side; it has "
           "no effect on the resource side (resource.tls.ca is the CA the "
           "resource must chain to)",
           dest);
  return 0;
}

static void inst_release(tls_inst *ti) {
  if (!ti)
    return;
  SSL_CTX_free(ti->ctx);
  SSL_SESSION_free(ti->session);
  host->free(ti->server_name);
  host->free(ti);
}

static int32_t tls_inst_init(gh_inst *inst, char *err, uint32_t errlen) {
  uint32_t side = host->inst_side(inst);
  const char *sn = side_name(side);
  ERR_clear_error();
  const char *mv = host->opt_get(inst, "min_version", 0);
  int min_version;
  if (!mv || strcmp(mv, "1.2") == 0)
    min_version = TLS1_2_VERSION;
  else if (strcmp(mv, "1.3") == 0)
    min_version = TLS1_3_VERSION;
  else
    return inst_fail(err, errlen, GH_EINVAL,
                     "%s.tls.min_version must be 1.2 or 1.3, not '%.32s'", sn,
                     mv);
  int64_t timeout = host->opt_int(inst, "handshake_timeout");
  if (timeout < 1 || timeout > 300)
    return inst_fail(err, errlen, GH_ERANGE,
                     "%s.tls.handshake_timeout must be 1 to 300 seconds", sn);

  const uint8_t *cert = NULL, *key = NULL;
  uint32_t cert_len = 0, key_len = 0;
  int has_cert = host->opt_blob(inst, "cert", &cert, &cert_len) == 0;
  int has_key = host->opt_blob(inst, "key", &key, &key_len) == 0;
  if (has_cert != has_key)
    return inst_fail(err, errlen, GH_EINVAL,
                     "%s.tls.cert and %s.tls.key go together: give both", sn,
                     sn);
  if (side == GH_SIDE_LISTEN && !has_cert)
    return inst_fail(err, errlen, GH_EINVAL,
                     "the listen side needs listen.tls.cert and "
                     "listen.tls.key (the certificate shown to applications)");

  tls_inst *ti = host->alloc(sizeof *ti);
  if (!ti)
    return inst_fail(err, errlen, GH_ENOMEM, "tls: out of memory");
  memset(ti, 0, sizeof *ti);
  ti->side = side;
  ti->min_version = min_version;
  ti->timeout_s = (uint32_t)timeout;
  ti->ctx = ctx_new(side, min_version);
  int32_t rc = 0;
  if (!ti->ctx) {
    char why[256];
    rc = inst_fail(err, errlen, GH_ENOMEM, "cannot create a TLS context (%s)",
                   ssl_reason(why, sizeof why));
  }
  if (rc == 0 && has_cert)
    rc = use_cert(ti->ctx, sn, cert, cert_len, key, key_len, err, errlen);
  if (rc == 0)
    rc = side == GH_SIDE_LISTEN ? listen_setup(inst, ti, err, errlen)
                                : resource_setup(inst, ti, err, errlen);
  ERR_clear_error();
  if (rc < 0) {
    inst_release(ti);
    return rc;
  }
  host->inst_set_data(inst, ti);
  return 0;
}

static void tls_inst_free(gh_inst *inst) {
  inst_release(host->inst_data(inst));
  host->inst_set_data(inst, NULL);
}

/* ----------------------------------------------------------- links */

typedef struct tls_conn {
  gh_link *link;
  tls_inst *ti;
  SSL *ssl;
  gh_timer *timer; /* the handshake's deadline */
  /* The ciphertext up() is giving OpenSSL (borrowed for the call). */
  const uint8_t *in;
  size_t in_len;
  /* The handshake flight being gathered. */
  uint8_t *flight;
  size_t flight_len, flight_cap;
  /* The peer's first bytes: is it TLS at all, which version it offers. */
  uint8_t head[16];
  uint8_t head_len;
  uint8_t hs_done;    /* the handshake completed: ready(0) was called */
  uint8_t failed;     /* an error was reported: nothing more is done */
  uint8_t gone;       /* send_down() failed: the stream is ending */
  uint8_t eof_sent;   /* eof_up() was called */
  uint8_t shut_sent;  /* our close_notify and eof_down() went */
  uint8_t want_shut;  /* down_eof() came before the handshake ended */
  uint8_t cert_asked; /* resource side: asked for a certificate we lack */
  uint8_t got_data;   /* some application data came from the peer */
  char who[80];       /* "from 192.0.2.1:5555" / "with resource db:5432" */
  char name[256];     /* resource side: the name checked and sent as SNI */
} tls_conn;

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static int bio_destroy(BIO *b) {
  BIO_set_data(b, NULL);
  return 1;
}

/* Records from OpenSSL: the flight gathers during the handshake; then they
 * go straight down. */
static int bio_write(BIO *b, const char *data, int len) {
  tls_conn *c = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (!c || len < 0 || c->gone)
    return -1;
  if (c->shut_sent)
    return len; /* after our close_notify nothing more may go down */
  if (!c->hs_done) {
    size_t need = c->flight_len + (size_t)len;
    if (need > c->flight_cap) {
      size_t cap = c->flight_cap ? c->flight_cap : 4096;
      while (cap < need)
        cap *= 2;
      uint8_t *p = host->realloc(c->flight, cap);
      if (!p)
        return -1;
      c->flight = p;
      c->flight_cap = cap;
    }
    memcpy(c->flight + c->flight_len, data, (size_t)len);
    c->flight_len = need;
    return len;
  }
  if (host->send_down(c->link, (const uint8_t *)data, (uint32_t)len) < 0) {
    c->gone = 1;
    return -1;
  }
  return len;
}

/* Ciphertext for OpenSSL, from what up() is giving: none left is "retry",
 * which OpenSSL reports as SSL_ERROR_WANT_READ. */
static int bio_read(BIO *b, char *out, int len) {
  tls_conn *c = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (!c || len <= 0)
    return 0;
  if (c->in_len == 0) {
    BIO_set_retry_read(b);
    return -1;
  }
  size_t n = (size_t)len < c->in_len ? (size_t)len : c->in_len;
  memcpy(out, c->in, n);
  c->in += n;
  c->in_len -= n;
  return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b;
  (void)num;
  (void)ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int flight_send(tls_conn *c) {
  if (c->flight_len == 0 || c->gone)
    return c->gone ? -1 : 0;
  size_t n = c->flight_len;
  c->flight_len = 0;
  if (host->send_down(c->link, c->flight, (uint32_t)n) < 0) {
    c->gone = 1;
    return -1;
  }
  return 0;
}

static void timer_done(tls_conn *c) {
  if (c->timer) {
    host->timer_free(c->timer);
    c->timer = NULL;
  }
}

static void addr_str(const gh_addr *a, char *buf, size_t len) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (a->family == GH_AF_INET6) {
    inet_ntop(AF_INET6, a->addr, ip, sizeof ip);
    snprintf(buf, len, "[%s]:%u", ip, (unsigned)a->port);
  } else if (a->family == GH_AF_INET) {
    inet_ntop(AF_INET, a->addr, ip, sizeof ip);
    snprintf(buf, len, "%s:%u", ip, (unsigned)a->port);
  } else {
    snprintf(buf, len, "an unknown address");
  }
}

static int is_ip_literal(const char *s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static const char *version_name(int v) {
  switch (v) {
  case 0x0300:
    return "SSLv3";
  case 0x0301:
    return "TLSv1.0";
  case 0x0302:
    return "TLSv1.1";
  case 0x0303:
    return "TLSv1.2";
  case 0x0304:
    return "TLSv1.3";
  default:
    return "an unknown version";
  }
}

/* The version in the peer's hello (ClientHello or ServerHello, whose
 * version field sits at the same place); 0 when unknown. A hello offering
 * TLS 1.3 says 1.2 here (1.3 is in an extension); it is named only when
 * the handshake failed for its version, which an offer of 1.3 never does. */
static int head_version(const tls_conn *c) {
  if (c->head_len < 11 || c->head[0] != 0x16 ||
      (c->head[5] != 1 && c->head[5] != 2))
    return 0;
  return c->head[9] << 8 | c->head[10];
}

/* The first byte of a TLS record is its type (20..23); an SSLv2-style
 * ClientHello has its top bit set. Anything else is someone speaking
 * another protocol: HTTP, SSH, a database's greeting. */
static int looks_tls(uint8_t b) {
  return (b >= 0x14 && b <= 0x17) || (b & 0x80);
}

/* src quoted in a log line: at most 255 bytes, control characters and
 * quotes as '?'. */
static void printable(char *dst, size_t len, const char *src) {
  size_t i = 0;
  for (; src[i] && i < 255 && i + 1 < len; i++) {
    unsigned char ch = (unsigned char)src[i];
    dst[i] = ch < 0x20 || ch == 0x7f || ch == '\'' ? '?' : (char)ch;
  }
  dst[i] = '\0';
}

/* A certificate's subject, RFC 2253 (which escapes control characters). */
static void subject_of(X509 *x, char *buf, size_t len) {
  buf[0] = '\0';
  if (!x)
    return;
  BIO *b = BIO_new(BIO_s_mem());
  if (!b)
    return;
  if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >=
      0) {
    char *p;
    long n = BIO_get_mem_data(b, &p);
    if (n > 0)
      snprintf(buf, len, "%.*s", (int)n, p);
  }
  BIO_free(b);
}

static int cert_alert(int reason) {
  switch (reason - SSL_AD_REASON_OFFSET) {
  case SSL_AD_BAD_CERTIFICATE:
  case SSL_AD_UNSUPPORTED_CERTIFICATE:
  case SSL_AD_CERTIFICATE_REVOKED:
  case SSL_AD_CERTIFICATE_EXPIRED:
  case SSL_AD_CERTIFICATE_UNKNOWN:
  case SSL_AD_UNKNOWN_CA:
  case SSL_AD_CERTIFICATE_REQUIRED:
    return 1;
  default:
    return 0;
  }
}

/* Why the handshake (or a later read) failed, in words, and the code for
 * the core: GH_ECERT for certificates, GH_EHANDSHAKE otherwise. */
static int32_t describe(tls_conn *c, int ssl_err, char *buf, size_t len) {
  unsigned long e = ERR_peek_error();
  int reason = e ? ERR_GET_REASON(e) : 0;
  long vr = SSL_get_verify_result(c->ssl);
  const char *peer_kind =
      c->ti->side == GH_SIDE_LISTEN ? "application" : "resource";
  const char *rs = e ? ERR_reason_error_string(e) : NULL;
  char rbuf[160];
  if (!rs && e) {
    ERR_error_string_n(e, rbuf, sizeof rbuf);
    rs = rbuf;
  }
  int32_t code = GH_EHANDSHAKE;
  if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED && vr != X509_V_OK) {
    char subj[200];
    subject_of(SSL_get0_peer_certificate(c->ssl), subj, sizeof subj);
    char what[400];
    if (vr == X509_V_ERR_HOSTNAME_MISMATCH ||
        vr == X509_V_ERR_IP_ADDRESS_MISMATCH)
      snprintf(what, sizeof what,
               "certificate verify failed (%s: the certificate is not for "
               "'%.255s')",
               vr == X509_V_ERR_HOSTNAME_MISMATCH ? "hostname mismatch"
                                                  : "IP address mismatch",
               c->name);
    else
      snprintf(what, sizeof what, "certificate verify failed (%s)",
               X509_verify_cert_error_string(vr));
    if (subj[0])
      snprintf(buf, len, "%s; certificate subject '%s'", what, subj);
    else
      snprintf(buf, len, "%s", what);
    code = GH_ECERT;
  } else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
    snprintf(buf, len,
             "no client certificate (listen.tls.client_ca requires one)");
    code = GH_ECERT;
  } else if (reason == SSL_R_UNSUPPORTED_PROTOCOL ||
             reason == SSL_R_VERSION_TOO_LOW ||
             reason == SSL_R_WRONG_SSL_VERSION ||
             reason == SSL_R_UNSUPPORTED_SSL_VERSION ||
             reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION) {
    int v = head_version(c);
    int min = c->ti->min_version == TLS1_3_VERSION ? 3 : 2;
    if (v && v < c->ti->min_version)
      snprintf(buf, len, "protocol version too old (%s)", version_name(v));
    else if (reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION)
      /* the peer named no version: it has none of ours */
      snprintf(buf, len,
               "protocol version too old: the %s accepts no version from "
               "TLSv1.%d up (%s)",
               peer_kind, min, rs ? rs : "alert");
    else
      snprintf(buf, len,
               "protocol version too old (%s; TLSv1.%d at least is required)",
               rs ? rs : "refused", min);
  } else if (reason > SSL_AD_REASON_OFFSET &&
             reason < SSL_AD_REASON_OFFSET + 256) {
    if (cert_alert(reason)) {
      snprintf(buf, len, "the %s refused our certificate (%s)", peer_kind,
               rs ? rs : "alert");
      code = GH_ECERT;
    } else {
      snprintf(buf, len, "the %s sent an alert (%s)", peer_kind, rs ? rs : "?");
    }
  } else if (reason == SSL_R_WRONG_VERSION_NUMBER ||
             reason == SSL_R_HTTP_REQUEST ||
             reason == SSL_R_HTTPS_PROXY_REQUEST ||
             reason == SSL_R_UNKNOWN_PROTOCOL ||
             reason == SSL_R_PACKET_LENGTH_TOO_LONG) {
    snprintf(buf, len, "not TLS (%s)", rs ? rs : "?");
  } else if (rs) {
    snprintf(buf, len, "%s", rs);
  } else if (ssl_err == SSL_ERROR_SYSCALL || ssl_err == SSL_ERROR_ZERO_RETURN) {
    snprintf(buf, len, "connection closed");
  } else {
    snprintf(buf, len, "TLS error %d", ssl_err);
  }
  ERR_clear_error();
  return code;
}

/* Ends a link whose handshake failed. The resource side fails its start,
 * so that the core tells the other end why (OPEN_FAIL). The listen side
 * ends in order: the alert already passed down still reaches the
 * application (a reset could destroy it unread), which then learns why
 * (e.g. "certificate required") instead of seeing a bare reset. */
static void hs_end(tls_conn *c, int32_t code) {
  if (c->ti->side == GH_SIDE_LISTEN)
    host->abort(c->link, 0);
  else
    host->ready(c->link, code);
}

/* The handshake failed: one line, then the core ends the stream (unless
 * it is ending already: a write failed). */
static void hs_fail(tls_conn *c, int32_t code, int level, const char *why) {
  if (c->failed)
    return;
  c->failed = 1;
  timer_done(c);
  if (c->ti->session && c->ti->side == GH_SIDE_RESOURCE) {
    /* a changed resource is met with a full handshake next time */
    SSL_SESSION_free(c->ti->session);
    c->ti->session = NULL;
  }
  GH_LOG(host, level, c->link, "TLS handshake %s failed: %s", c->who, why);
  if (!c->gone)
    hs_end(c, code);
}

static void log_up(tls_conn *c) {
  if (!host->log_enabled(GH_LOG_DEBUG))
    return;
  char subj[200], cert[240] = "";
  subject_of(SSL_get0_peer_certificate(c->ssl), subj, sizeof subj);
  if (subj[0])
    snprintf(cert, sizeof cert, ", %s certificate '%s'",
             c->ti->side == GH_SIDE_LISTEN ? "client" : "server", subj);
  if (c->ti->side == GH_SIDE_LISTEN) {
    const char *sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
    char name[300] = "none";
    if (sni) /* the application's text: no control characters in our log */
      printable(name, sizeof name, sni);
    host->log(GH_LOG_DEBUG, c->link, "TLS %s: %s %s, SNI %s%s%s%s", c->who,
              SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl),
              sni ? "'" : "", name, sni ? "'" : "", cert);
  } else {
    host->log(GH_LOG_DEBUG, c->link, "TLS %s: %s %s, %s session%s", c->who,
              SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl),
              SSL_session_reused(c->ssl) ? "resumed" : "new", cert);
  }
}

static void send_shutdown(tls_conn *c) {
  if (c->shut_sent)
    return;
  ERR_clear_error();
  (void)SSL_shutdown(c->ssl); /* our close_notify, through bio_write */
  ERR_clear_error();
  c->shut_sent = 1;
  host->eof_down(c->link);
}

/* Drives the handshake with what has arrived: 1 done (ready(0) was
 * called), 0 more is needed, -1 failed (reported). */
static int hs_step(tls_conn *c) {
  ERR_clear_error();
  int r = SSL_do_handshake(c->ssl);
  if (r != 1) {
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      ERR_clear_error();
      return flight_send(c) < 0 ? -1 : 0;
    }
    char why[512];
    int32_t code = describe(c, e, why, sizeof why);
    (void)flight_send(c); /* the alert, so that the peer learns why */
    hs_fail(c, code, GH_LOG_WARN, why);
    return -1;
  }
  if (flight_send(c) < 0)
    return -1;
  c->hs_done = 1;
  timer_done(c);
  log_up(c);
  host->ready(c->link, 0);
  if (c->want_shut)
    send_shutdown(c);
  return 1;
}

static void on_timeout(gh_timer *t, void *arg) {
  tls_conn *c = arg;
  (void)t;
  timer_done(c);
  if (c->hs_done || c->failed)
    return;
  c->failed = 1;
  GH_LOG(host, GH_LOG_WARN, c->link, "TLS handshake %s timed out after %u s",
         c->who, c->ti->timeout_s);
  hs_end(c, GH_ETIMEDOUT);
}

static void conn_free(tls_conn *c) {
  timer_done(c);
  SSL_free(c->ssl); /* and both BIOs */
  host->free(c->flight);
  host->free(c);
}

static int32_t tls_open(gh_link *link) {
  gh_inst *inst = host->link_inst(link);
  tls_inst *ti = host->inst_data(inst);
  gh_link_info info;
  memset(&info, 0, sizeof info);
  info.size = GH_LINK_INFO_SIZE_1_0;
  if (!ti || host->link_info(link, &info) < 0)
    return GH_EINVAL;
  tls_conn *c = host->alloc(sizeof *c);
  if (!c)
    return GH_ENOMEM;
  memset(c, 0, sizeof *c);
  c->link = link;
  c->ti = ti;
  ERR_clear_error();
  c->ssl = SSL_new(ti->ctx);
  BIO *b = c->ssl ? BIO_new(link_bio) : NULL;
  c->timer = host->timer_new(on_timeout, c);
  if (!b || !c->timer) {
    BIO_free(b);
    conn_free(c);
    ERR_clear_error();
    return GH_ENOMEM;
  }
  BIO_set_data(b, c);
  SSL_set_bio(c->ssl, b, b); /* the same BIO both ways: one reference */
  SSL_set_app_data(c->ssl, c);
  host->link_set_data(link, c);
  host->timer_start(c->timer, (uint64_t)ti->timeout_s * 1000u, 0);

  if (ti->side == GH_SIDE_LISTEN) {
    char peer[64];
    addr_str(&info.peer, peer, sizeof peer);
    snprintf(c->who, sizeof c->who, "from %s", peer);
    SSL_set_accept_state(c->ssl);
    return GH_PENDING; /* the ClientHello comes through up() */
  }

  const char *rh = info.resource_host ? info.resource_host : "";
  snprintf(c->who, sizeof c->who,
           strchr(rh, ':') ? "with resource [%s]:%u" : "with resource %s:%u",
           rh, (unsigned)info.resource_port);
  snprintf(c->name, sizeof c->name, "%s",
           ti->server_name ? ti->server_name : rh);
  SSL_set_connect_state(c->ssl);
  int ok = 1;
  if (is_ip_literal(c->name)) {
    /* no SNI for an address (RFC 6066); the certificate must name it */
    if (ti->verify)
      ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), c->name) == 1;
  } else {
    ok = SSL_set_tlsext_host_name(c->ssl, c->name) == 1 &&
         (!ti->verify || SSL_set1_host(c->ssl, c->name) == 1);
  }
  if (ok && ti->session)
    (void)SSL_set_session(c->ssl, ti->session);
  int r = ok ? SSL_do_handshake(c->ssl) : -1;
  int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
  if (!ok || (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)) {
    char why[256];
    GH_LOG(host, GH_LOG_WARN, link, "TLS handshake %s failed: %s", c->who,
           ok ? ssl_reason(why, sizeof why) : "bad server name");
    host->link_set_data(link, NULL);
    conn_free(c);
    ERR_clear_error();
    return GH_EHANDSHAKE;
  }
  ERR_clear_error();
  if (flight_send(c) < 0)
    c->failed = 1; /* the stream is ending: the core closes the link */
  return GH_PENDING;
}

/* Decrypts what arrived and passes it up; after a close_notify, says EOF. */
static int32_t read_records(tls_conn *c) {
  uint8_t buf[TLS_RECORD];
  for (;;) {
    ERR_clear_error();
    int n = SSL_read(c->ssl, buf, sizeof buf);
    if (n > 0) {
      c->got_data = 1;
      if (host->send_up(c->link, buf, (uint32_t)n) < 0)
        return 0; /* the stream is ending */
      continue;
    }
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      ERR_clear_error();
      return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
      ERR_clear_error();
      c->in_len = 0; /* nothing may follow a close_notify */
      if (!c->eof_sent) {
        c->eof_sent = 1;
        GH_LOG(host, GH_LOG_DEBUG, c->link, "TLS %s: close_notify", c->who);
        host->eof_up(c->link);
      }
      return 0;
    }
    if (c->gone)
      return 0; /* a write inside SSL_read failed: the stream is ending */
    char why[512];
    int32_t code = describe(c, e, why, sizeof why);
    c->failed = 1;
    GH_LOG(host, GH_LOG_WARN, c->link, "TLS %s failed: %s", c->who, why);
    return code == GH_ECERT ? GH_ECERT : GH_EPROTO;
  }
}

static int32_t tls_up(gh_link *link, const uint8_t *data, uint32_t len) {
  tls_conn *c = host->link_data(link);
  if (!c || c->failed || c->eof_sent || len == 0)
    return 0;
  if (!c->hs_done && c->head_len < sizeof c->head) {
    size_t n = sizeof c->head - c->head_len;
    if (n > len)
      n = len;
    int first = c->head_len == 0;
    memcpy(c->head + c->head_len, data, n);
    c->head_len = (uint8_t)(c->head_len + n);
    if (first && !looks_tls(c->head[0])) {
      hs_fail(c, GH_EHANDSHAKE, GH_LOG_WARN, "plaintext (not TLS)");
      return 0;
    }
  }
  c->in = data;
  c->in_len = len;
  int32_t rc = 0;
  if (c->hs_done || hs_step(c) == 1)
    rc = c->failed ? 0 : read_records(c);
  c->in = NULL;
  c->in_len = 0; /* what is left follows a close_notify or a failure */
  ERR_clear_error();
  return rc;
}

static int32_t tls_down(gh_link *link, const uint8_t *data, uint32_t len) {
  tls_conn *c = host->link_data(link);
  if (!c || c->failed || c->gone)
    return GH_ECANCELED;
  if (!c->hs_done) {
    /* The core passes nothing down before the link is ready. */
    GH_LOG(host, GH_LOG_DEBUG, link, "TLS %s: data before the handshake",
           c->who);
    return GH_EPROTO;
  }
  if (c->shut_sent)
    return GH_EPIPE;
  uint32_t off = 0;
  while (off < len) {
    uint32_t n = len - off < TLS_RECORD ? len - off : TLS_RECORD;
    ERR_clear_error();
    int r = SSL_write(c->ssl, data + off, (int)n);
    if (r <= 0) {
      int32_t code = GH_ECANCELED;
      if (!c->gone) {
        char why[256];
        c->failed = 1;
        GH_LOG(host, GH_LOG_WARN, link, "TLS %s: write failed: %s", c->who,
               ssl_reason(why, sizeof why));
        code = GH_EPROTO;
      }
      ERR_clear_error();
      return code;
    }
    off += (uint32_t)r;
  }
  return 0;
}

static int refused_silently(tls_conn *c);

static void tls_up_eof(gh_link *link) {
  tls_conn *c = host->link_data(link);
  if (!c || c->failed || c->eof_sent)
    return;
  if (!c->hs_done) {
    if (c->head_len == 0 && c->ti->side == GH_SIDE_LISTEN)
      /* a port probe or a health check: worth a line, not a warning */
      hs_fail(c, GH_EHANDSHAKE, GH_LOG_INFO,
              "connection closed before any byte was sent");
    else if (c->head_len == 0)
      hs_fail(c, GH_EHANDSHAKE, GH_LOG_WARN,
              "the resource closed the connection without answering (is it "
              "a TLS server?)");
    else
      hs_fail(c, GH_EHANDSHAKE, GH_LOG_WARN,
              "connection closed during the handshake");
    return;
  }
  if (refused_silently(c)) {
    host->abort(link, GH_ECERT);
    return;
  }
  /* Many peers close without a close_notify; what came is complete as far
   * as the layer above can tell. */
  GH_LOG(host, GH_LOG_DEBUG, link, "TLS %s: EOF without close_notify", c->who);
  c->eof_sent = 1;
  host->eof_up(link);
}

static void tls_down_eof(gh_link *link) {
  tls_conn *c = host->link_data(link);
  if (!c || c->failed || c->gone)
    return;
  if (!c->hs_done) {
    c->want_shut = 1;
    return;
  }
  send_shutdown(c);
}

static void tls_close(gh_link *link, int32_t reason) {
  tls_conn *c = host->link_data(link);
  if (c && reason < 0 && !c->failed && !c->eof_sent)
    (void)refused_silently(c);
  if (c)
    conn_free(c);
  ERR_clear_error();
}

/* TLS 1.3 ends the client's handshake before the server has checked the
 * client's certificate: a resource that wants one we do not have refuses
 * afterwards, with an alert that a reset may destroy unread. Says so, with
 * what to configure, when the connection ends before any data came. */
static int refused_silently(tls_conn *c) {
  if (!c->hs_done || !c->cert_asked || c->got_data)
    return 0;
  c->failed = 1;
  GH_LOG(host, GH_LOG_WARN, c->link,
         "TLS %s failed: the connection ended before any data; the resource "
         "asked for a client certificate and none is configured "
         "(resource.tls.cert, resource.tls.key)",
         c->who);
  return 1;
}

/* Called by OpenSSL only when the resource asks for a client certificate
 * and the destination has none: the handshake goes on without one. */
static int on_cert_request(SSL *ssl, X509 **x509, EVP_PKEY **pkey) {
  tls_conn *c = SSL_get_app_data(ssl);
  (void)x509;
  (void)pkey;
  if (c)
    c->cert_asked = 1;
  return 0;
}

/* The resource side keeps the newest resumable session of the instance. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess) {
  tls_conn *c = SSL_get_app_data(ssl);
  if (!c || !SSL_SESSION_is_resumable(sess))
    return 0;
  SSL_SESSION_free(c->ti->session);
  c->ti->session = sess;
  return 1; /* we keep the reference */
}

/* -------------------------------------------------------------- plugin */

static int32_t tls_init(const gh_host *h) {
  if (!h || h->abi_major != GH_ABI_MAJOR || !GH_HOST_HAS(h, closed))
    return GH_ENOTSUP;
  host = h;
  int idx = BIO_get_new_index();
  link_bio = idx > 0
                 ? BIO_meth_new(idx | BIO_TYPE_SOURCE_SINK, "gatehouse link")
                 : NULL;
  if (!link_bio || BIO_meth_set_write(link_bio, bio_write) != 1 ||
      BIO_meth_set_read(link_bio, bio_read) != 1 ||
      BIO_meth_set_ctrl(link_bio, bio_ctrl) != 1 ||
      BIO_meth_set_create(link_bio, bio_create) != 1 ||
      BIO_meth_set_destroy(link_bio, bio_destroy) != 1) {
    BIO_meth_free(link_bio);
    link_bio = NULL;
    ERR_clear_error();
    return GH_ENOMEM;
  }
  return 0;
}

static void tls_fini(void) {
  BIO_meth_free(link_bio);
  link_bio = NULL;
}

static const gh_handler tls_handler = {
    GH_HANDLER_HEADER,
    .kind = GH_KIND_LAYER,
    .flags = 0,
    .n_options = sizeof tls_options / sizeof tls_options[0],
    .name = "tls",
    .help = "TLS 1.2/1.3: terminates TLS for applications (listen side, "
            "optionally requiring client certificates) or speaks TLS to the "
            "resource (resource side, verified, optionally with a client "
            "certificate)",
    .options = tls_options,
    .inst_init = tls_inst_init,
    .inst_free = tls_inst_free,
    .open = tls_open,
    .up = tls_up,
    .down = tls_down,
    .up_eof = tls_up_eof,
    .down_eof = tls_down_eof,
    .close = tls_close,
};

static const gh_handler *const tls_handlers[] = {&tls_handler};

/* A side written "tls" alone is TLS over TCP. */
static const gh_alias tls_aliases[] = {{"tls", "tcp+tls"}};

static const gh_plugin tls_plugin = {
    GH_PLUGIN_HEADER,
    .n_handlers = 1,
    .name = "tls",
    .version = GH_VERSION_STRING,
    .description = "the TLS layer (tls, and https under http)",
    .handlers = tls_handlers,
    .init = tls_init,
    .fini = tls_fini,
    .aliases = tls_aliases,
    .n_aliases = sizeof(tls_aliases) / sizeof(tls_aliases[0]),
};

GH_PLUGIN_ENTRY(tls_plugin)
