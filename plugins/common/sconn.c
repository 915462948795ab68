/* A byte-stream connection over a libuv stream: see sconn.h. */
#include "sconn.h"

#include <stddef.h>
#include <string.h>

#define SC_READ_BUF (64u * 1024u)

#define CONTAINER_OF(ptr, type, member)                                        \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static const gh_host *host;
static const sc_kind *kind;

/* One buffer for every read of every connection. libuv calls the read
 * callback right after the alloc callback, synchronously, and the host
 * copies what it keeps from send_up(): so the buffer is free again when
 * the next alloc comes, and an idle connection holds no buffer at all. */
static char read_buf[SC_READ_BUF];

/* A write of which the socket did not take everything at once: the rest,
 * copied, in one allocation with its request. */
typedef struct sc_wreq {
  uv_write_t req;
  uint32_t len;
  uint8_t data[];
} sc_wreq;

void sc_setup(const gh_host *h, const sc_kind *k) {
  host = h;
  kind = k;
}

static void on_conn_closed(uv_handle_t *h) {
  sc_conn *c = h->data;
  if (--c->handles)
    return;
  gh_link *link = c->link;
  host->free(c);
  if (link)
    host->closed(link);
}

sc_conn *sc_new(void) {
  sc_conn *c = host->alloc(sizeof *c);
  if (!c)
    return NULL;
  memset(c, 0, sizeof *c);
  int rc = kind->type == UV_TCP ? uv_tcp_init(host->uv_loop(), &c->h.tcp)
                                : uv_pipe_init(host->uv_loop(), &c->h.pipe, 0);
  if (rc != 0) {
    host->free(c);
    return NULL;
  }
  c->h.stream.data = c;
  c->handles = 1;
  return c;
}

static int timer_ensure(sc_conn *c) {
  if (c->timer_on)
    return 0;
  int rc = uv_timer_init(host->uv_loop(), &c->timer);
  if (rc)
    return rc;
  c->timer.data = c;
  c->timer_on = 1;
  c->handles++;
  return 0;
}

void sc_release(sc_conn *c, int reset) {
  if (c->released)
    return;
  c->released = 1;
  c->closing = 1;
  if (c->timer_on) {
    c->timer_on = 0;
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
  }
  if (reset && c->state == SC_OPEN && kind->close_reset) {
    kind->close_reset(c, on_conn_closed);
    return;
  }
  uv_close((uv_handle_t *)&c->h.stream, on_conn_closed);
}

static void report_abort(sc_conn *c, int32_t reason) {
  if (c->aborted || c->closing || !c->link)
    return;
  c->aborted = 1;
  host->abort(c->link, reason);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void stop_reading(sc_conn *c) {
  if (!c->reading)
    return;
  uv_read_stop(&c->h.stream);
  c->reading = 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  sc_conn *c = s->data;
  if (nread > 0) {
    if (c->closing)
      return;
    if (host->send_up(c->link, (const uint8_t *)buf->base, (uint32_t)nread) < 0)
      stop_reading(c);
    return;
  }
  if (nread == 0) /* EAGAIN */
    return;
  stop_reading(c);
  c->read_done = 1;
  if (c->closing)
    return;
  if (nread == UV_EOF) {
    host->eof_up(c->link);
    return;
  }
  GH_LOG(host, GH_LOG_DEBUG, c->link, "%s: read: %s", kind->name,
         uv_strerror((int)nread));
  report_abort(c, (int32_t)nread);
}

static void start_reading(sc_conn *c) {
  if (c->reading || c->read_done || c->closing || c->state != SC_OPEN)
    return;
  int rc = uv_read_start(&c->h.stream, on_alloc, on_read);
  if (rc == 0) {
    c->reading = 1;
    return;
  }
  GH_LOG(host, GH_LOG_DEBUG, c->link, "%s: read start: %s", kind->name,
         uv_strerror(rc));
  c->read_done = 1;
  report_abort(c, rc);
}

static void on_write(uv_write_t *req, int status) {
  sc_wreq *w = CONTAINER_OF(req, sc_wreq, req);
  sc_conn *c = req->handle->data;
  uint32_t len = w->len;
  host->free(w);
  c->writes--;
  if (c->closing) {
    if (c->lingering && c->writes == 0)
      sc_release(c, 0);
    return;
  }
  if (status < 0) {
    GH_LOG(host, GH_LOG_DEBUG, c->link, "%s: write: %s", kind->name,
           uv_strerror(status));
    report_abort(c, status);
    return;
  }
  host->written(c->link, len);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  sc_conn *c = req->handle->data;
  /* A failed half-close means the peer is gone; reading will tell. */
  if (status < 0 && status != UV_ECANCELED && status != UV_ENOTCONN &&
      !c->closing)
    GH_LOG(host, GH_LOG_DEBUG, c->link, "%s: shutdown: %s", kind->name,
           uv_strerror(status));
}

static void on_timer(uv_timer_t *t) {
  sc_conn *c = t->data;
  if (c->closing) {
    if (c->lingering) {
      GH_LOG(host, GH_LOG_DEBUG, c->link,
             "%s: close: queued bytes not written after %u ms, %s", kind->name,
             SC_LINGER_MS, kind->close_reset ? "resetting" : "closing");
      sc_release(c, 1);
    }
    return;
  }
  if (c->state != SC_CONNECTING)
    return;
  /* The connect callback that comes later (success, or UV_ECANCELED when
   * the core closes the link) sees SC_FAILED and reports nothing. */
  c->state = SC_FAILED;
  GH_LOG(host, GH_LOG_DEBUG, c->link, "%s: connect: timed out", kind->name);
  host->ready(c->link, GH_ETIMEDOUT);
}

void sc_on_connect(uv_connect_t *req, int status) {
  sc_conn *c = req->handle->data;
  if (c->timer_on)
    uv_timer_stop(&c->timer);
  if (c->closing || c->state != SC_CONNECTING)
    return;
  if (status < 0) {
    c->state = SC_FAILED;
    GH_LOG(host, GH_LOG_DEBUG, c->link, "%s: connect: %s", kind->name,
           uv_strerror(status));
    host->ready(c->link, status);
    return;
  }
  c->state = SC_OPEN;
  if (kind->connected)
    kind->connected(c);
  host->ready(c->link, 0);
  if (c->want_read)
    start_reading(c);
}

int sc_deadline(sc_conn *c, uint32_t timeout_ms) {
  if (timeout_ms == 0)
    return 0;
  int rc = timer_ensure(c);
  return rc ? rc : uv_timer_start(&c->timer, on_timer, timeout_ms, 0);
}

void sc_connecting(sc_conn *c, gh_link *link) {
  c->state = SC_CONNECTING;
  c->link = link;
  host->link_set_data(link, c);
}

sc_conn *sc_adopt(int fd, int *err) {
  sc_conn *c = sc_new();
  if (!c) {
    *err = UV_ENOMEM;
    return NULL;
  }
  c->closing = 1; /* belongs to no link until accept() says otherwise */
  int rc = kind->type == UV_TCP ? uv_tcp_open(&c->h.tcp, fd)
                                : uv_pipe_open(&c->h.pipe, fd);
  if (rc) {
    sc_release(c, 0);
    *err = rc;
    return NULL;
  }
  return c;
}

void sc_accepted(sc_conn *c, gh_listener *l, const gh_addr *peer,
                 const gh_addr *local) {
  c->state = SC_OPEN;
  c->closing = 0;
  /* The core may call read_start() (which sets c->link) before accept()
   * returns; the conn is complete by then. */
  gh_link *link = host->accept(l, c, peer, local);
  if (!link) {
    c->link = NULL;
    sc_release(c, 0);
    return;
  }
  c->link = link;
}

int32_t sc_write(gh_link *link, const uint8_t *data, uint32_t len) {
  sc_conn *c = host->link_data(link);
  if (!c || c->closing || c->shut)
    return GH_EPIPE;
  if (c->state != SC_OPEN)
    return GH_EINVAL;
  c->link = link;
  if (len == 0)
    return 0;

  /* Nothing queued: the socket usually takes it all, without a copy. */
  uint32_t done = 0;
  if (uv_stream_get_write_queue_size(&c->h.stream) == 0) {
    uv_buf_t b = uv_buf_init((char *)data, len);
    int n = uv_try_write(&c->h.stream, &b, 1);
    if (n >= 0)
      done = (uint32_t)n;
    else if (n != UV_EAGAIN && n != UV_ENOSYS)
      return n;
  }
  if (done < len) {
    uint32_t rest = len - done;
    sc_wreq *w = host->alloc(sizeof *w + rest);
    if (!w)
      return GH_ENOMEM;
    memcpy(w->data, data + done, rest);
    w->len = rest;
    uv_buf_t b = uv_buf_init((char *)w->data, rest);
    int rc = uv_write(&w->req, &c->h.stream, &b, 1, on_write);
    if (rc) {
      host->free(w);
      return rc;
    }
    c->writes++;
  }
  /* Last: the core may react to written() by closing the link. */
  if (done)
    host->written(link, done);
  return 0;
}

int32_t sc_shutdown(gh_link *link) {
  sc_conn *c = host->link_data(link);
  if (!c || c->closing)
    return GH_EPIPE;
  if (c->state != SC_OPEN)
    return GH_EINVAL;
  if (c->shut)
    return 0;
  c->shut = 1;
  /* Runs after the writes already queued. */
  int rc = uv_shutdown(&c->shutdown_req, &c->h.stream, on_shutdown);
  if (rc == UV_ENOTCONN) { /* the write side is gone already */
    GH_LOG(host, GH_LOG_DEBUG, link, "%s: shutdown: %s", kind->name,
           uv_strerror(rc));
    return 0;
  }
  return rc;
}

void sc_read_start(gh_link *link) {
  sc_conn *c = host->link_data(link);
  if (!c || c->closing)
    return;
  c->link = link;
  c->want_read = 1;
  start_reading(c);
}

void sc_read_stop(gh_link *link) {
  sc_conn *c = host->link_data(link);
  if (!c)
    return;
  c->want_read = 0;
  stop_reading(c);
}

void sc_close(gh_link *link, int32_t reason) {
  sc_conn *c = host->link_data(link);
  if (!c) { /* connect() never succeeded: nothing held */
    host->closed(link);
    return;
  }
  if (c->closing)
    return;
  c->link = link;
  c->closing = 1;
  stop_reading(c);
  if (c->timer_on)
    uv_timer_stop(&c->timer);
  if (reason >= 0 && c->writes > 0 && c->state == SC_OPEN &&
      timer_ensure(c) == 0 &&
      uv_timer_start(&c->timer, on_timer, SC_LINGER_MS, 0) == 0) {
    /* Orderly: the queued bytes go out first; the last write callback
     * closes (a shutdown request, if any, is cancelled harmlessly). */
    c->lingering = 1;
    return;
  }
  sc_release(c, reason < 0);
}
