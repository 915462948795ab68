/* A blocking GET of an admin endpoint for `gatehouse status`: plain TCP, or
 * TLS that verifies the endpoint before the request (and its token) goes. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "get.h"

#define GET_MAX_BODY (64u << 20)

struct gh__get_ctx {
  SSL_CTX *ctx;
  X509 *pin;
};

static void tls_reason(char *buf, size_t len) {
  unsigned long e = ERR_peek_last_error();
  if (e)
    ERR_error_string_n(e, buf, len);
  else
    snprintf(buf, len, "%s", errno ? strerror(errno) : "connection closed");
  ERR_clear_error();
}

void gh__get_ctx_free(gh__get_ctx *c) {
  if (!c)
    return;
  X509_free(c->pin);
  SSL_CTX_free(c->ctx);
  free(c);
}

static X509 *read_cert(const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return NULL;
  }
  X509 *x = PEM_read_X509(f, NULL, NULL, NULL); /* the first: the leaf */
  fclose(f);
  if (!x)
    snprintf(err, errlen, "%s: no PEM certificate", path);
  ERR_clear_error();
  return x;
}

int gh__get_ctx_new(const gh__get_target *t, gh__get_ctx **out, char *err,
                    size_t errlen) {
  *out = NULL;
  if (!t->tls)
    return 0;
  gh__get_ctx *c = calloc(1, sizeof(*c));
  if (!c || !(c->ctx = SSL_CTX_new(TLS_client_method()))) {
    snprintf(err, errlen, "out of memory for TLS");
    gh__get_ctx_free(c);
    return -1;
  }
  SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
  /* a trusted certificate need not be a self-signed root: the endpoint's
   * own leaf may be what is trusted */
  X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(c->ctx),
                              X509_V_FLAG_PARTIAL_CHAIN);
  int ok;
  if (t->pin_cert) {
    ok = (c->pin = read_cert(t->pin_cert, err, errlen)) != NULL &&
         X509_STORE_add_cert(SSL_CTX_get_cert_store(c->ctx), c->pin) == 1;
  } else if (t->cacert) {
    ok = SSL_CTX_load_verify_locations(c->ctx, t->cacert, NULL) == 1;
    if (!ok)
      snprintf(err, errlen, "%s: no PEM CA certificate could be read",
               t->cacert);
  } else {
    ok = SSL_CTX_set_default_verify_paths(c->ctx) == 1;
    if (!ok)
      snprintf(err, errlen, "cannot load the system's CA certificates");
  }
  ERR_clear_error();
  if (!ok) {
    gh__get_ctx_free(c);
    return -1;
  }
  *out = c;
  return 0;
}

static int dial(const char *host, uint16_t port, char *err, size_t errlen) {
  char ps[8];
  snprintf(ps, sizeof(ps), "%u", port);
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_socktype = SOCK_STREAM;
  int r = getaddrinfo(host, ps, &hints, &ai);
  if (r != 0) {
    snprintf(err, errlen, "%s: %s", host, gai_strerror(r));
    return -1;
  }
  int fd = -1;
  for (struct addrinfo *a = ai; a; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0)
      continue;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
      break;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(ai);
  if (fd < 0)
    snprintf(err, errlen, "cannot connect to %s:%u: %s", host, port,
             strerror(errno));
  return fd;
}

static int is_address(const char *host) {
  unsigned char a[16];
  return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* The handshake, and the endpoint verified: the SSL, or NULL with err. */
static SSL *tls_open(const gh__get_target *t, gh__get_ctx *c, int fd, char *err,
                     size_t errlen) {
  SSL *ssl = SSL_new(c->ctx);
  if (!ssl || SSL_set_fd(ssl, fd) != 1) {
    snprintf(err, errlen, "out of memory for TLS");
    SSL_free(ssl);
    return NULL;
  }
  int named = 1;
  if (!is_address(t->host))
    named = SSL_set_tlsext_host_name(ssl, t->host) == 1;
  /* a pinned certificate is the endpoint's identity: no name to check */
  if (named && !c->pin)
    named =
        is_address(t->host)
            ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), t->host) == 1
            : SSL_set1_host(ssl, t->host) == 1;
  if (!named) {
    snprintf(err, errlen, "%s: not a name TLS can check", t->host);
    SSL_free(ssl);
    return NULL;
  }
  errno = 0;
  if (SSL_connect(ssl) != 1) {
    long v = SSL_get_verify_result(ssl);
    char why[256];
    if (v != X509_V_OK)
      snprintf(why, sizeof(why), "certificate not trusted: %s%s",
               X509_verify_cert_error_string(v),
               c->pin      ? " (expected the admin.tls.cert of the "
                             "configuration; or give --cacert)"
               : t->cacert ? ""
                           : " (give the endpoint's CA with --cacert)");
    else
      tls_reason(why, sizeof(why));
    snprintf(err, errlen, "TLS with %s:%u failed: %s", t->host, t->port, why);
    ERR_clear_error();
    SSL_free(ssl);
    return NULL;
  }
  if (c->pin) {
    X509 *peer = SSL_get1_peer_certificate(ssl);
    int same = peer && X509_cmp(peer, c->pin) == 0;
    X509_free(peer);
    if (!same) {
      snprintf(err, errlen,
               "TLS with %s:%u: the endpoint's certificate is not the "
               "configuration's admin.tls.cert (%s)",
               t->host, t->port, t->pin_cert);
      SSL_free(ssl);
      return NULL;
    }
  }
  return ssl;
}

static int send_all(int fd, SSL *ssl, const char *p, size_t n) {
  if (ssl)
    return SSL_write(ssl, p, (int)n) == (int)n ? 0 : -1;
  return send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

static ssize_t recv_some(int fd, SSL *ssl, char *p, size_t n) {
  if (!ssl)
    return recv(fd, p, n, 0);
  int k = SSL_read(ssl, p, (int)(n > 1u << 30 ? 1u << 30 : n));
  if (k <= 0)
    ERR_clear_error(); /* close_notify, or the end of the connection */
  return k;
}

int gh__get(const gh__get_target *t, gh__get_ctx *c, const char *path,
            const char *token, char **body, size_t *blen, char *err,
            size_t errlen) {
  int fd = dial(t->host, t->port, err, errlen);
  if (fd < 0)
    return -1;
  SSL *ssl = NULL;
  if (c && !(ssl = tls_open(t, c, fd, err, errlen))) {
    close(fd);
    return -1;
  }
  char req[1024];
  int n = snprintf(req, sizeof(req),
                   "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s%s%s"
                   "\r\n",
                   path, t->host, token ? "Authorization: Bearer " : "",
                   token ? token : "", token ? "\r\n" : "");
  int sent = n > 0 && (size_t)n < sizeof(req) &&
             send_all(fd, ssl, req, (size_t)n) == 0;
  explicit_bzero(req, sizeof(req));
  if (!sent) {
    snprintf(err, errlen, "cannot send to %s:%u", t->host, t->port);
    SSL_free(ssl);
    close(fd);
    return -1;
  }
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (!buf)
      break;
    if (len + 1 >= cap) {
      if (cap >= GET_MAX_BODY)
        break;
      char *nb = realloc(buf, cap * 2);
      if (!nb)
        break;
      buf = nb, cap *= 2;
    }
    ssize_t k = recv_some(fd, ssl, buf + len, cap - len - 1);
    if (k < 0 && errno == EINTR && !ssl)
      continue;
    if (k <= 0)
      break;
    len += (size_t)k;
  }
  SSL_free(ssl);
  close(fd);
  if (!buf || len == 0) {
    free(buf);
    snprintf(err, errlen, "no answer from %s:%u%s", t->host, t->port,
             t->tls ? "" : " (an HTTPS endpoint? --admin https://HOST:PORT)");
    return -1;
  }
  buf[len] = 0;
  int code = 0;
  char *hend = strstr(buf, "\r\n\r\n");
  if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1 || !hend) {
    free(buf);
    snprintf(err, errlen, "%s:%u: not an HTTP answer", t->host, t->port);
    return -1;
  }
  hend += 4;
  *blen = len - (size_t)(hend - buf);
  memmove(buf, hend, *blen + 1);
  *body = buf;
  return code;
}
