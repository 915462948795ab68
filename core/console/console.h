/* The operator's console on the admin endpoint: the versioned JSON API
 * (/api/v1/...), its per-second sampler of each destination's traffic, and
 * the ring of recent events. Single-threaded: the loop's thread only. */
#ifndef GH_CONSOLE_H
#define GH_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "gatehouse/gatehouse.h"
#include "events.h" /* the ring the engine records into */

#define GH__CONSOLE_API_VERSION 1
#define GH__CONSOLE_HISTORY_S 300 /* seconds of traffic kept per destination */
#define GH__CONSOLE_IDLE_S 60     /* the sampler stops this long after a poll */

struct gh__rt;
struct gh__buf;

/* The body for a path under /api/: 0 with *out filled (free it with
 * gh__buf_free) and *type its media type, or GH_ENOENT for an unknown
 * path. Starts (or keeps) the sampler running. */
int gh__console_render(struct gh__rt *rt, const char *path,
                       struct gh__buf *out, const char **type);
/* The page (GET /), HTML with its CSS and JavaScript inlined, built into
 * the binary from core/console/page/ (generated console_page.c). */
extern const unsigned char gh__console_page[];
extern const size_t gh__console_page_len;
/* The headers the page is sent with: a Content-Security-Policy that lets
 * it reach this endpoint only, and no framing. */
#define GH__CONSOLE_PAGE_HEADERS                                               \
  "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "  \
  "style-src 'unsafe-inline'; connect-src 'self'; img-src data:; "             \
  "frame-ancestors 'none'; base-uri 'none'; form-action 'none'\r\n"           \
  "X-Frame-Options: DENY\r\nX-Content-Type-Options: nosniff\r\n"             \
  "Referrer-Policy: no-referrer\r\n"

/* Client: the [acl] decided on a resource for gateway's stream: the rule
 * at `line` of the client's file (0: no rule matched, the default deny). */
void gh__console_acl_hit(const char *gateway, int line, int allowed);

/* TLS on the admin endpoint: one per connection, over memory BIOs. */
typedef struct gh__console_tls gh__console_tls;
gh__console_tls *gh__console_tls_new(void *ssl_ctx); /* NULL: OpenSSL failed */
void gh__console_tls_free(gh__console_tls *t);
/* Takes n bytes from the network; appends what they decrypt to plain (up to
 * cap, *len its length) and what the TLS has for the network to out. 0, or
 * GH_EPROTO (a bad handshake or record: close) or GH_ENOMEM. */
int gh__console_tls_feed(gh__console_tls *t, const void *in, size_t n,
                         char *plain, size_t cap, size_t *len,
                         struct gh__buf *out);
/* Encrypts data, then close_notify, into out. */
int gh__console_tls_wrap(gh__console_tls *t, const void *data, size_t n,
                         struct gh__buf *out);

/* The endpoint closes: stop the sampler and forget its samples. */
void gh__console_stop(void);

/* 1 when an admin_listen host is loopback (absent: the default,
 * 127.0.0.1): 127.0.0.0/8, ::1, ::ffff:127.x, "localhost". */
int gh__console_loopback(const char *host);
/* 1 when the request head (len bytes) carries "Authorization: Bearer
 * TOKEN" with this token, compared in constant time. */
int gh__console_authorized(const char *head, size_t len, const char *token);

/* `gatehouse status ...` (argv[0] is "status"): its exit status. */
int gh__status_main(int argc, char **argv);

#endif
