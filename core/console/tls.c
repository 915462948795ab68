/* TLS for the admin endpoint (admin.tls.cert / admin.tls.key): one SSL
 * object over memory BIOs per connection; the caller moves the bytes. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>

#include "../util.h"
#include "console.h"

struct gh__console_tls {
  SSL *ssl;
  BIO *rbio, *wbio; /* network -> SSL, SSL -> network */
};

gh__console_tls *gh__console_tls_new(void *ssl_ctx) {
  gh__console_tls *t = gh__xcalloc(1, sizeof(*t));
  t->ssl = SSL_new((SSL_CTX *)ssl_ctx);
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  if (!t->ssl || !t->rbio || !t->wbio) {
    BIO_free(t->rbio);
    BIO_free(t->wbio);
    SSL_free(t->ssl);
    free(t);
    return NULL;
  }
  SSL_set_bio(t->ssl, t->rbio, t->wbio); /* the SSL owns them now */
  SSL_set_accept_state(t->ssl);
  return t;
}

void gh__console_tls_free(gh__console_tls *t) {
  if (!t)
    return;
  SSL_free(t->ssl);
  free(t);
}

/* What the SSL has for the network, appended to out. */
static int drain(gh__console_tls *t, gh__buf *out) {
  char buf[4096];
  int n;
  while ((n = BIO_read(t->wbio, buf, sizeof(buf))) > 0)
    if (gh__buf_append(out, buf, (size_t)n) < 0)
      return GH_ENOMEM;
  return 0;
}

int gh__console_tls_feed(gh__console_tls *t, const void *in, size_t n,
                         char *plain, size_t cap, size_t *len,
                         gh__buf *out) {
  if (n && BIO_write(t->rbio, in, (int)n) != (int)n)
    return GH_ENOMEM;
  for (;;) {
    if (*len >= cap)
      break; /* the caller's head is full: it answers 431 */
    int r = SSL_read(t->ssl, plain + *len, (int)(cap - *len));
    if (r > 0) {
      *len += (size_t)r;
      continue;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
      break;
    ERR_clear_error();
    drain(t, out); /* an alert, if any */
    return GH_EPROTO;
  }
  return drain(t, out);
}

int gh__console_tls_wrap(gh__console_tls *t, const void *data, size_t n,
                         gh__buf *out) {
  size_t off = 0;
  while (off < n) {
    size_t w = 0;
    if (SSL_write_ex(t->ssl, (const char *)data + off, n - off, &w) != 1) {
      ERR_clear_error();
      return GH_EPROTO;
    }
    off += w;
    if (drain(t, out) < 0)
      return GH_ENOMEM;
  }
  SSL_shutdown(t->ssl); /* close_notify: the answer is whole */
  return drain(t, out);
}
