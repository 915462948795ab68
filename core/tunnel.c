/* The tunnel: one TLS connection over a libuv TCP handle, carrying frames.
 *
 * TLS runs over one BIO on the socket (tlsio.c): SSL_read takes records
 * from what the socket read, SSL_write's records are written in batches.
 * Frames to send are staged in plaintext during a loop turn and encrypted
 * at its end (or once GH__STAGE_FLUSH bytes wait) in full 16 KiB records,
 * so that many small frames cost one record and one write. */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "console/events.h"
#include "frame.h"
#include "gateway.h"
#include "log.h"
#include "loop.h"
#include "mux.h"
#include "runtime.h"
#include "tls.h"
#include "tlsio.h"
#include "tunnel.h"

#define GH__RX_INIT (64u * 1024u)
#define GH__RX_PREAUTH 2048u /* before the tunnel is up */
/* Plaintext decrypted before its frames are handled: DATA runs (mux.c)
 * form within it. */
#define GH__RX_BATCH (128u * 1024u)
#define GH__CLOSE_GRACE_MS 2000u

/* What the socket reads: lent to OpenSSL during the read callback. Large,
 * so that a busy tunnel costs few reads. */
static uint8_t rx_scratch[256 * 1024];

static void tunnel_handle_closed(uv_handle_t *h);

/* A runtime that installed no callbacks (a test's) gets none called. */
static const gh__tunnel_cbs no_cbs;

static const gh__tunnel_cbs *cbs(const gh__tunnel *t) {
  return t->rt->tunnel_cbs ? t->rt->tunnel_cbs : &no_cbs;
}

/* The TLS state of t: an SSL over the tunnel's socket BIO. */
static int tunnel_tls_new(gh__tunnel *t, SSL_CTX *ctx) {
  t->ssl = SSL_new(ctx);
  BIO *b = t->ssl ? gh__tlsio_bio(&t->io) : NULL;
  if (!b) {
    SSL_free(t->ssl);
    t->ssl = NULL;
    return GH_ENOMEM;
  }
  SSL_set_bio(t->ssl, b, b); /* one reference, for both ways */
  return 0;
}

static void on_written(gh__tlsio *io, int status);

gh__tunnel *gh__tunnel_new(gh__rt *rt, SSL_CTX *ctx) {
  gh__tunnel *t = gh__xcalloc(1, sizeof(*t));
  t->rt = rt;
  /* Before the handles exist: a tunnel that fails here is only memory
   * (the BIO keeps &t->io, which gh__tlsio_init fills below). */
  if (ctx && tunnel_tls_new(t, ctx) < 0) {
    free(t);
    return NULL;
  }
  uv_tcp_init(gh__g.loop, &t->tcp);
  uv_timer_init(gh__g.loop, &t->timer);
  gh__tlsio_init(&t->io, (uv_stream_t *)&t->tcp, on_written);
  t->tcp.data = t;
  t->timer.data = t;
  t->state = GH__T_TLS;
  t->send_session = GH__SESSION_WINDOW;
  t->rx_session_avail = GH__SESSION_WINDOW;
  t->peer_window = GH__WINDOW_INIT;
  gh__list_init(&t->sendq);
  gh__list_init(&t->credq);
  gh__list_init(&t->out_heldq);
  gh__list_init(&t->openq);
  gh__list_init(&t->dirty_node);
  gh__list_init(&t->lazy_node);
  gh__list_init(&t->unauth_node);
  gh__list_push(&rt->tunnels, &t->node);
  snprintf(t->subject, sizeof(t->subject), "tunnel");
  return t;
}

/* ---- writing ---- */

static void tunnel_finish_close(gh__tunnel *t);

static void on_written(gh__tlsio *io, int status) {
  gh__tunnel *t = GH__CONTAINER_OF(io, gh__tunnel, io);
  if (t->state == GH__T_CLOSING) {
    if (gh__tlsio_queued(io) == 0)
      tunnel_finish_close(t);
    return;
  }
  if (status < 0) {
    char why[128];
    snprintf(why, sizeof(why), "write failed: %s", uv_strerror(status));
    gh__tunnel_close(t, why);
    return;
  }
  if (t->congested && gh__tlsio_queued(io) < GH__TX_LOW) {
    t->congested = 0;
    gh__mux_pump(t);
  }
}

/* Writes what OpenSSL produced; congested above GH__TX_HIGH unwritten. */
static int tls_flush(gh__tunnel *t) {
  int r = gh__tlsio_flush(&t->io);
  if (gh__tlsio_queued(&t->io) > GH__TX_HIGH)
    t->congested = 1;
  return r;
}

void gh__tunnel_flush(gh__tunnel *t) {
  /* WINDOW frames owed are emitted at the end of the turn: a flush forced
   * by a full stage must leave the tunnel on the dirty list for them. */
  if (gh__list_linked(&t->dirty_node) && gh__list_empty(&t->credq))
    gh__list_del(&t->dirty_node);
  if (t->state == GH__T_CLOSING || t->state == GH__T_TLS)
    return;
  size_t off = 0;
  while (off < t->stage_len) {
    size_t n = GH__MIN((size_t)GH__TLS_RECORD, t->stage_len - off);
    int r = SSL_write(t->ssl, t->stage + off, (int)n);
    if (r <= 0) {
      char tls[256];
      char why[320];
      snprintf(why, sizeof(why), "TLS write failed: %s",
               gh__tls_error(tls, sizeof(tls)));
      t->stage_len = 0;
      gh__tunnel_close(t, why);
      return;
    }
    off += (size_t)r;
  }
  t->stage_len = 0;
  int r = tls_flush(t);
  if (r < 0) {
    char why[128];
    snprintf(why, sizeof(why), "write failed: %s", uv_strerror(r));
    gh__tunnel_close(t, why);
    return;
  }
  /* Streams stop at GH__TX_HIGH; only answers the peer provokes (pings,
   * resets of its opens) grow past it: a peer that asks and never reads. */
  if (gh__tlsio_queued(&t->io) > GH__TX_HARD && !t->closing)
    gh__tunnel_close(t, "the peer does not read what it is sent");
}

void gh__tunnel_dirty(gh__tunnel *t) {
  if (!gh__list_linked(&t->dirty_node)) {
    gh__list_push(&gh__g.dirty, &t->dirty_node);
    gh__core_kick();
  }
}

int gh__tunnel_send(gh__tunnel *t, uint8_t type, uint8_t flags, uint32_t stream,
                    const void *payload, size_t len) {
  if (t->state == GH__T_CLOSING || len > gh__frame_max(type))
    return GH_EPIPE;
  size_t need = t->stage_len + GH__FRAME_HDR + len;
  if (need > t->stage_cap) {
    size_t cap = t->stage_cap ? t->stage_cap : 32768;
    while (cap < need)
      cap *= 2;
    t->stage = gh__xrealloc(t->stage, cap);
    t->stage_cap = cap;
  }
  gh__frame_header(t->stage + t->stage_len, type, flags, stream, (uint32_t)len);
  if (len)
    memcpy(t->stage + t->stage_len + GH__FRAME_HDR, payload, len);
  t->stage_len += GH__FRAME_HDR + len;
  if (t->stage_len >= GH__STAGE_FLUSH)
    gh__tunnel_flush(t);
  else
    gh__tunnel_dirty(t);
  return 0;
}

int gh__tunnel_can_send(const gh__tunnel *t) {
  return t->state == GH__T_UP && !t->congested && t->send_session > 0;
}

/* ---- closing ---- */

static void tunnel_finish_close(gh__tunnel *t) {
  if (t->closed_handle)
    return;
  t->closed_handle = 1;
  /* Freed when the last of the two closes finishes: libuv runs close
   * callbacks newest first, and finishes each close in the handle. */
  t->open_handles = 2;
  uv_close((uv_handle_t *)&t->timer, tunnel_handle_closed);
  uv_close((uv_handle_t *)&t->tcp, tunnel_handle_closed);
}

static void tunnel_handle_closed(uv_handle_t *h) {
  gh__tunnel *t = h->data;
  if (--t->open_handles > 0)
    return;
  gh__list_del(&t->node);
  if (gh__list_linked(&t->lazy_node))
    gh__list_del(&t->lazy_node);
  if (gh__list_linked(&t->dirty_node)) /* never left linked to freed memory */
    gh__list_del(&t->dirty_node);
  gh__map_free(&t->streams);
  SSL_free(t->ssl);
  gh__tlsio_discard(&t->io);
  free(t->rx);
  free(t->stage);
  free(t->cfg_acc);
  free(t);
}

static void on_close_grace(uv_timer_t *tm) {
  tunnel_finish_close(tm->data);
}

void gh__tunnel_close(gh__tunnel *t, const char *why) {
  if (t->state == GH__T_CLOSING || t->closing)
    return;
  t->closing = 1; /* the last flush below must not close it again */
  int was_up = t->state == GH__T_UP;
  const gh__tunnel_cbs *cb = cbs(t);
  if (was_up) {
    gh__info(t->subject, "tunnel closed: %s", why);
    gh__event(GH__EV_TUNNEL_DOWN, t->subject, "tunnel closed: %s", why);
  } else if (cb->log_failure)
    cb->log_failure(t, why);
  else
    gh__warn(t->subject, "tunnel failed: %s", why);
  if (cb->on_closing)
    cb->on_closing(t);
  /* Whatever is staged (a REFUSE, a GOAWAY) still goes out, with a
   * close_notify, before the socket closes. */
  if (t->state != GH__T_TLS) {
    gh__tunnel_flush(t);
    (void)SSL_shutdown(t->ssl);
    (void)tls_flush(t);
  }
  t->state = GH__T_CLOSING;
  if (gh__list_linked(&t->dirty_node))
    gh__list_del(&t->dirty_node);
  if (t->gw)
    gh__gw_del_live(t->gw, t); /* first: its streams may move to another */
  gh__mux_tunnel_down(t);
  if (cb->on_gone)
    cb->on_gone(t);
  uv_read_stop((uv_stream_t *)&t->tcp);
  uv_timer_stop(&t->timer);
  if (gh__tlsio_queued(&t->io) == 0) {
    tunnel_finish_close(t);
    return;
  }
  uv_timer_start(&t->timer, on_close_grace, GH__CLOSE_GRACE_MS, 0);
}

/* ---- keepalive ---- */

static void send_ping(gh__tunnel *t, uint64_t now) {
  uint8_t ping[8];
  for (int i = 0; i < 8; i++)
    ping[i] = (uint8_t)(now >> (56 - 8 * i));
  t->ping_sent_ms = now;
  gh__tunnel_send(t, GH__FT_PING, 0, 0, ping, sizeof(ping));
}

static void on_keepalive(uv_timer_t *tm) {
  gh__tunnel *t = tm->data;
  uint64_t now = gh__now_ms();
  if (now - t->last_rx_ms > t->rt->keepalive_timeout_ms) {
    char why[96];
    snprintf(why, sizeof(why), "peer silent for %llu ms",
             (unsigned long long)(now - t->last_rx_ms));
    gh__tunnel_close(t, why);
    return;
  }
  send_ping(t, now);
}

/* A PING answer: our own send time comes back, so the round trip is
 * measured without trusting the peer's clock. */
static void on_pong(gh__tunnel *t, const gh__frame *f) {
  if (f->len != 8)
    return;
  uint64_t sent = 0;
  for (int i = 0; i < 8; i++)
    sent = sent << 8 | f->payload[i];
  uint64_t now = gh__now_ms();
  if (sent > now || now - sent > 600000u)
    return;
  uint32_t rtt = (uint32_t)(now - sent);
  t->rtt_ms = t->rtt_ms ? (7u * t->rtt_ms + rtt) / 8u : rtt;
}

static void on_handshake_timeout(uv_timer_t *tm) {
  gh__tunnel *t = tm->data;
  t->rt->hs_failures[GH__HSF_TIMEOUT]++;
  gh__tunnel_close(t, "handshake timed out");
}

void gh__tunnel_deadline(gh__tunnel *t, uint64_t ms) {
  uv_timer_start(&t->timer, on_handshake_timeout, ms, 0);
}

void gh__tunnel_set_up(gh__tunnel *t) {
  t->state = GH__T_UP;
  t->up_since_ms = gh__now_ms();
  uv_timer_stop(&t->timer);
  uv_timer_start(&t->timer, on_keepalive, t->rt->keepalive_ms,
                 t->rt->keepalive_ms);
  send_ping(t, t->up_since_ms); /* a first round-trip time at once */
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  buf->base = (char *)rx_scratch;
  buf->len = sizeof(rx_scratch);
}

static void dispatch(gh__tunnel *t, const gh__frame *f) {
  const gh__tunnel_cbs *cb = cbs(t);
  if (t->state == GH__T_HELLO) {
    if (!cb->on_first_frame || cb->on_first_frame(t, f) == GH_EPROTO)
      gh__tunnel_close(t, "protocol error: unexpected frame before hello");
    return;
  }
  switch (f->type) {
  case GH__FT_PING:
    if (!(f->flags & GH__FF_ACK))
      gh__tunnel_send(t, GH__FT_PING, GH__FF_ACK, 0, f->payload, f->len);
    else
      on_pong(t, f);
    return;
  case GH__FT_GOAWAY:
    if (!t->peer_goaway) /* once: a peer may send any number of them */
      gh__info(t->subject, "peer is going away: no new streams on this tunnel");
    t->peer_goaway = 1;
    if (t->gw)
      gh__gw_del_live(t->gw, t);
    return;
  case GH__FT_CONFIG:
  case GH__FT_NOTICE:
    /* The role's own control frames; another is a protocol error. */
    if (!cb->on_control || cb->on_control(t, f) == GH_EPROTO)
      break;
    return;
  case GH__FT_HELLO:
  case GH__FT_WELCOME:
  case GH__FT_REFUSE:
    break;
  default:
    gh__mux_frame(t, f);
    return;
  }
  char why[96];
  snprintf(why, sizeof(why), "protocol error: unexpected frame type %u",
           f->type);
  gh__tunnel_close(t, why);
}

static void process_rx(gh__tunnel *t) {
  size_t off = 0;
  while (t->state != GH__T_CLOSING) {
    gh__frame f;
    int r = gh__frame_decode(t->rx + off, t->rx_len - off, &f);
    if (r == 0)
      break;
    if (r < 0) {
      gh__tunnel_close(t, "protocol error: malformed frame");
      return;
    }
    off += (size_t)r;
    if (f.type != GH__FT_DATA)
      gh__mux_rx_flush(t); /* frames act in order */
    dispatch(t, &f);
  }
  gh__mux_rx_flush(t);
  if (t->state == GH__T_CLOSING)
    return;
  if (off) {
    memmove(t->rx, t->rx + off, t->rx_len - off);
    t->rx_len -= off;
  }
}

static void log_handshake_failure(gh__tunnel *t) {
  char tls[256];
  char why[400];
  long v = SSL_get_verify_result(t->ssl);
  unsigned long e = ERR_peek_error();
  int kind = GH__HSF_TLS;
  if (v != X509_V_OK) {
    kind = GH__HSF_CERT;
    snprintf(why, sizeof(why), "TLS handshake failed: certificate: %s",
             X509_verify_cert_error_string(v));
    ERR_clear_error();
  } else if (e) {
    const char *reason = ERR_reason_error_string(e);
    snprintf(why, sizeof(why), "TLS handshake failed: %s",
             reason ? reason : gh__tls_error(tls, sizeof(tls)));
    ERR_clear_error();
  } else {
    snprintf(why, sizeof(why), "TLS handshake failed: connection closed");
    kind = GH__HSF_CLOSED;
  }
  t->rt->hs_failures[kind]++;
  (void)tls_flush(t); /* the alert, so the peer learns why */
  gh__tunnel_close(t, why);
}

/* A handshake begun before a reload ran on the context of its start, so
 * its peer's certificate was checked against the CRL read then: check it
 * against the CRL of now (the context a reload made). */
static int handshake_revoked(gh__tunnel *t) {
  SSL_CTX *now = cbs(t)->crl_ctx ? cbs(t)->crl_ctx(t) : NULL;
  return now && SSL_get_SSL_CTX(t->ssl) != now &&
         gh__tls_peer_revoked(t->ssl, now);
}

static int do_handshake(gh__tunnel *t) {
  int r = SSL_do_handshake(t->ssl);
  if (r == 1 && handshake_revoked(t)) {
    t->rt->hs_failures[GH__HSF_CERT]++;
    gh__tunnel_close(t, "TLS handshake failed: certificate: certificate "
                        "revoked (by a CRL reloaded during the handshake)");
    return -1;
  }
  if (r == 1) {
    gh__debug(t->subject, "TLS up: %s %s", SSL_get_version(t->ssl),
              SSL_get_cipher_name(t->ssl));
    t->state = GH__T_HELLO;
    return 1;
  }
  int e = SSL_get_error(t->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    (void)tls_flush(t);
    return 0;
  }
  log_handshake_failure(t);
  return -1;
}

/* Decrypts into t->rx: GH__RX_BATCH once the tunnel is up, a record
 * before. 1: there may be more; 0: OpenSSL wants input; -1: closed. */
static int fill_rx(gh__tunnel *t) {
  do {
    /* Until the tunnel is up a small buffer will do (a HELLO is small):
     * SSL_read hands a record over in parts, OpenSSL keeps the rest. */
    size_t room = t->state == GH__T_UP ? GH__TLS_RECORD + GH__FRAME_HDR
                                       : GH__RX_PREAUTH;
    if (t->rx_cap - t->rx_len < room) {
      size_t cap = t->state == GH__T_UP ? GH__RX_INIT : GH__RX_PREAUTH;
      while (cap < t->rx_len + room)
        cap *= 2;
      t->rx = gh__xrealloc(t->rx, cap);
      t->rx_cap = cap;
    }
    int n = SSL_read(t->ssl, t->rx + t->rx_len, (int)(t->rx_cap - t->rx_len));
    if (n <= 0) {
      int e = SSL_get_error(t->ssl, n);
      if (e == SSL_ERROR_WANT_READ)
        return 0;
      if (e == SSL_ERROR_ZERO_RETURN) {
        gh__tunnel_close(t, "peer closed the connection");
      } else {
        char tls[256];
        char why[320];
        snprintf(why, sizeof(why), "TLS error: %s",
                 gh__tls_error(tls, sizeof(tls)));
        gh__tunnel_close(t, why);
      }
      return -1;
    }
    t->rx_len += (size_t)n;
  } while (t->state == GH__T_UP && t->rx_len < GH__RX_BATCH);
  return 1;
}

static void read_plaintext(gh__tunnel *t) {
  for (;;) {
    int more = fill_rx(t);
    if (more < 0)
      return;
    process_rx(t);
    if (t->state == GH__T_CLOSING)
      return;
    /* Before the tunnel is up only a HELLO, WELCOME or REFUSE may come,
     * each well under GH__RX_PREAUTH: a frame still partial past it is
     * none of them (else a DGRAM header grows the buffer to 128 KiB). */
    if (t->state != GH__T_UP && t->rx_len > GH__RX_PREAUTH) {
      gh__tunnel_close(t, "protocol error: frame larger than allowed before "
                          "hello");
      return;
    }
    /* Bound what a peer can make us hold: a frame never exceeds its max. */
    if (t->rx_len > GH__RX_INIT + GH__DGRAM_MAX) {
      gh__tunnel_close(t, "protocol error: frame larger than allowed");
      return;
    }
    if (!more)
      return;
  }
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  gh__tunnel *t = st->data;
  if (nread == 0 || t->state == GH__T_CLOSING)
    return;
  if (nread < 0) {
    char why[128];
    if (nread == UV_EOF)
      snprintf(why, sizeof(why), "connection closed by peer");
    else
      snprintf(why, sizeof(why), "connection lost: %s",
               uv_strerror((int)nread));
    if (t->state == GH__T_TLS)
      t->rt->hs_failures[GH__HSF_CLOSED]++;
    gh__tunnel_close(t, why);
    return;
  }
  t->last_rx_ms = gh__now_ms();
  t->bytes_received += (uint64_t)nread;
  if (!t->ssl) { /* a server's connection: its first bytes */
    if (tunnel_tls_new(t, t->rt->ctx) < 0) {
      gh__tunnel_close(t, "out of memory for TLS");
      return;
    }
    SSL_set_accept_state(t->ssl);
  }
  gh__tlsio_input(&t->io, buf->base, (size_t)nread);
  if (t->state == GH__T_TLS) {
    int r = do_handshake(t);
    if (r > 0 && cbs(t)->on_tls_up)
      cbs(t)->on_tls_up(t);
  }
  if (t->state != GH__T_TLS && t->state != GH__T_CLOSING)
    read_plaintext(t);
  /* buf is rx_scratch: what OpenSSL left is kept, unless nothing more
   * will be read (a peer that fails its handshake pins nothing) */
  gh__tlsio_input_done(&t->io, t->state != GH__T_CLOSING);
  if (t->state != GH__T_CLOSING && t->io.pending > 0)
    gh__tunnel_dirty(t); /* e.g. TLS 1.3 tickets, key updates */
}

void gh__tunnel_name_peer(gh__tunnel *t, int is_server) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  if (uv_tcp_getpeername(&t->tcp, (struct sockaddr *)&ss, &len) == 0) {
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss.ss_family == AF_INET6) {
      uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
      port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
      snprintf(t->peer, sizeof(t->peer), "[%s]:%d", host, port);
    } else {
      uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
      port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
      snprintf(t->peer, sizeof(t->peer), "%s:%d", host, port);
    }
  }
  if (is_server)
    snprintf(t->subject, sizeof(t->subject), "tunnel %s", t->peer);
}

int gh__tunnel_start(gh__tunnel *t, int is_server, const char *verify_name) {
  if (!t->peer[0])
    gh__tunnel_name_peer(t, is_server);
  uv_tcp_nodelay(&t->tcp, 1);
  uv_tcp_keepalive(&t->tcp, 1, 60);
  t->last_rx_ms = gh__now_ms();
  if (is_server) {
    if (t->ssl)
      SSL_set_accept_state(t->ssl);
  } else {
    SSL_set_connect_state(t->ssl);
    if (verify_name && *verify_name) {
      X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
      if (X509_VERIFY_PARAM_set1_ip_asc(vp, verify_name) != 1) {
        SSL_set_tlsext_host_name(t->ssl, verify_name);
        if (SSL_set1_host(t->ssl, verify_name) != 1)
          return GH_EINVAL;
      }
    }
  }
  gh__tunnel_deadline(t, t->rt->handshake_ms ? t->rt->handshake_ms
                                              : GH__HANDSHAKE_MS);
  int r = uv_read_start((uv_stream_t *)&t->tcp, on_alloc, on_read);
  if (r < 0)
    return r;
  if (!is_server && do_handshake(t) < 0)
    return GH_EHANDSHAKE;
  return 0;
}
