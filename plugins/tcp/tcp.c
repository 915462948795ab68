/* The TCP transport: listens for applications, connects to resources, and
 * moves bytes between their sockets and the core, with half-close and
 * abortive close. Built against the SDK header and libuv only; the one
 * exported symbol is gh_plugin_entry.
 *
 * Lifetimes
 *   - A tcp_listener lives from a successful listen() to the close callback
 *     of its handles after unlisten(); then host->listener_closed().
 *   - A tcp_conn lives from accept/connect to the close callback of its
 *     handles (the socket, and the timer when one was needed); then
 *     host->closed() if the conn still belongs to a link. A conn the core
 *     refused, or whose connect() failed synchronously, belongs to no link
 *     and is freed silently.
 *   - Once close() came (c->closing), no host function but log() and
 *     closed() is called for that link: libuv still runs the pending write
 *     and connect callbacks (with UV_ECANCELED) before the close callback;
 *     they only free what they own.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "gatehouse/gatehouse.h"
#include "netaddr.h"
#include "slisten.h"

#define TCP_READ_BUF (64u * 1024u)
/* How long an orderly close() waits for queued bytes to reach the socket
 * before it resets the connection: a peer that never reads must not pin
 * the connection (and the core's stream) for ever. */
#define TCP_LINGER_MS 30000u
#define TCP_WARN_INTERVAL_MS 1000u

#define CONTAINER_OF(ptr, type, member)                                        \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static const gh_host *host;

/* One buffer for every read of every connection. libuv calls the read
 * callback right after the alloc callback, synchronously, and the host
 * copies what it keeps from send_up(): so the buffer is free again when
 * the next alloc comes, and an idle connection holds no buffer at all. */
static char read_buf[TCP_READ_BUF];

/* ------------------------------------------------------------ options */

typedef struct tcp_opts {
  int32_t nodelay;
  int32_t keepalive; /* seconds; 0: off */
} tcp_opts;

static const tcp_opts tcp_defaults = {1, 60};

static const gh_option tcp_options[] = {
    {.name = "nodelay",
     .type = GH_OPT_BOOL,
     .def = "yes",
     .help = "send small writes at once (TCP_NODELAY, no Nagle delay)"},
    {.name = "keepalive",
     .type = GH_OPT_INT,
     .min = 0,
     .max = 86400,
     .def = "60",
     .help = "seconds of idleness before TCP keep-alive probes; 0 turns "
             "them off"},
};

static const tcp_opts *opts_of(const gh_inst *inst) {
  const tcp_opts *o = inst ? host->inst_data(inst) : NULL;
  return o ? o : &tcp_defaults;
}

static void set_err(char *err, uint32_t errlen, const char *msg) {
  if (err && errlen)
    snprintf(err, errlen, "%s", msg);
}

static int32_t tcp_inst_init(gh_inst *inst, char *err, uint32_t errlen) {
  int64_t ka = host->opt_int(inst, "keepalive");
  if (ka < 0 || ka > 86400) {
    set_err(err, errlen, "tcp.keepalive must be within 0..86400 seconds");
    return GH_ERANGE;
  }
  tcp_opts *o = host->alloc(sizeof *o);
  if (!o) {
    set_err(err, errlen, "tcp: out of memory");
    return GH_ENOMEM;
  }
  o->nodelay = host->opt_bool(inst, "nodelay") != 0;
  o->keepalive = (int32_t)ka;
  host->inst_set_data(inst, o);
  return 0;
}

static void tcp_inst_free(gh_inst *inst) {
  host->free(host->inst_data(inst));
  host->inst_set_data(inst, NULL);
}

/* ------------------------------------------------------------ addresses */

static uv_loop_t *loop(void) {
  return host->uv_loop();
}

/* ---------------------------------------------------------- connections */

#define C_IDLE 0
#define C_CONNECTING 1 /* connect() issued, result not reported yet */
#define C_OPEN 2       /* accepted, or connected and reported */
#define C_FAILED 3     /* connect failed or timed out (reported) */

typedef struct tcp_conn {
  uv_tcp_t tcp;
  uv_timer_t timer; /* connect deadline, then the linger bound of close() */
  uv_connect_t connect_req;
  uv_shutdown_t shutdown_req;
  gh_link *link;   /* NULL while the conn belongs to no link */
  uint32_t writes; /* uv_write requests whose callback has not run */
  uint8_t handles; /* initialised handles not yet closed back */
  uint8_t state;   /* C_* */
  uint8_t timer_on;
  uint8_t want_read; /* the core asked to read */
  uint8_t reading;   /* uv_read_start is in effect */
  uint8_t read_done; /* EOF or a read error came: never read again */
  uint8_t shut;      /* shutdown() was requested */
  uint8_t aborted;   /* host->abort() was called */
  uint8_t closing;   /* close() came, or the conn belongs to no link */
  uint8_t lingering; /* orderly close waiting for queued writes */
  uint8_t released;  /* uv_close was called */
} tcp_conn;

/* A write of which the socket did not take everything at once: the rest,
 * copied, in one allocation with its request. */
typedef struct tcp_wreq {
  uv_write_t req;
  uint32_t len;
  uint8_t data[];
} tcp_wreq;

static void on_conn_closed(uv_handle_t *h) {
  tcp_conn *c = h->data;
  if (--c->handles)
    return;
  gh_link *link = c->link;
  host->free(c);
  if (link)
    host->closed(link);
}

static tcp_conn *conn_new(void) {
  tcp_conn *c = host->alloc(sizeof *c);
  if (!c)
    return NULL;
  memset(c, 0, sizeof *c);
  if (uv_tcp_init(loop(), &c->tcp) != 0) {
    host->free(c);
    return NULL;
  }
  c->tcp.data = c;
  c->handles = 1;
  return c;
}

static int timer_ensure(tcp_conn *c) {
  if (c->timer_on)
    return 0;
  int rc = uv_timer_init(loop(), &c->timer);
  if (rc)
    return rc;
  c->timer.data = c;
  c->timer_on = 1;
  c->handles++;
  return 0;
}

/* SO_LINGER {on, 0}: close() then sends a RST. uv_tcp_close_reset() does
 * the same but refuses a handle with a shutdown request; Linux does not
 * mind, and an abortive close must abort whatever was pending. */
static void linger_zero(tcp_conn *c) {
  uv_os_fd_t fd;
  struct linger lg = {1, 0};
  if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) == 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

/* Closes the conn's handles; on_conn_closed() frees it. */
static void conn_release(tcp_conn *c, int reset) {
  if (c->released)
    return;
  c->released = 1;
  c->closing = 1;
  if (c->timer_on) {
    c->timer_on = 0;
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
  }
  if (reset && c->state == C_OPEN) {
    if (uv_tcp_close_reset(&c->tcp, on_conn_closed) == 0)
      return;
    linger_zero(c);
  }
  uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void report_abort(tcp_conn *c, int32_t reason) {
  if (c->aborted || c->closing || !c->link)
    return;
  c->aborted = 1;
  host->abort(c->link, reason);
}

static void apply_opts(tcp_conn *c, const tcp_opts *o) {
  int rc = uv_tcp_nodelay(&c->tcp, o->nodelay);
  if (rc == 0)
    rc = uv_tcp_keepalive(&c->tcp, o->keepalive > 0,
                          (unsigned)(o->keepalive > 0 ? o->keepalive : 0));
  if (rc)
    GH_LOG(host, GH_LOG_DEBUG, c->link, "tcp: socket options: %s",
           uv_strerror(rc));
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void stop_reading(tcp_conn *c) {
  if (!c->reading)
    return;
  uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  tcp_conn *c = s->data;
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
  GH_LOG(host, GH_LOG_DEBUG, c->link, "tcp: read: %s", uv_strerror((int)nread));
  report_abort(c, (int32_t)nread);
}

static void start_reading(tcp_conn *c) {
  if (c->reading || c->read_done || c->closing || c->state != C_OPEN)
    return;
  int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (rc == 0) {
    c->reading = 1;
    return;
  }
  GH_LOG(host, GH_LOG_DEBUG, c->link, "tcp: read start: %s", uv_strerror(rc));
  c->read_done = 1;
  report_abort(c, rc);
}

static void on_write(uv_write_t *req, int status) {
  tcp_wreq *w = CONTAINER_OF(req, tcp_wreq, req);
  tcp_conn *c = req->handle->data;
  uint32_t len = w->len;
  host->free(w);
  c->writes--;
  if (c->closing) {
    if (c->lingering && c->writes == 0)
      conn_release(c, 0);
    return;
  }
  if (status < 0) {
    GH_LOG(host, GH_LOG_DEBUG, c->link, "tcp: write: %s", uv_strerror(status));
    report_abort(c, status);
    return;
  }
  host->written(c->link, len);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  tcp_conn *c = req->handle->data;
  /* A failed half-close means the peer is gone; reading will tell. */
  if (status < 0 && status != UV_ECANCELED && status != UV_ENOTCONN &&
      !c->closing)
    GH_LOG(host, GH_LOG_DEBUG, c->link, "tcp: shutdown: %s",
           uv_strerror(status));
}

static void on_timer(uv_timer_t *t) {
  tcp_conn *c = t->data;
  if (c->closing) {
    if (c->lingering) {
      GH_LOG(host, GH_LOG_DEBUG, c->link,
             "tcp: close: queued bytes not written after %u ms, resetting",
             TCP_LINGER_MS);
      conn_release(c, 1);
    }
    return;
  }
  if (c->state != C_CONNECTING)
    return;
  /* The connect callback that comes later (success, or UV_ECANCELED when
   * the core closes the link) sees C_FAILED and reports nothing. */
  c->state = C_FAILED;
  GH_LOG(host, GH_LOG_DEBUG, c->link, "tcp: connect: timed out");
  host->ready(c->link, GH_ETIMEDOUT);
}

static void on_connect(uv_connect_t *req, int status) {
  tcp_conn *c = req->handle->data;
  if (c->timer_on)
    uv_timer_stop(&c->timer);
  if (c->closing || c->state != C_CONNECTING)
    return;
  if (status < 0) {
    c->state = C_FAILED;
    GH_LOG(host, GH_LOG_DEBUG, c->link, "tcp: connect: %s",
           uv_strerror(status));
    host->ready(c->link, status);
    return;
  }
  c->state = C_OPEN;
  apply_opts(c, opts_of(host->link_inst(c->link)));
  host->ready(c->link, 0);
  if (c->want_read)
    start_reading(c);
}

/* ------------------------------------------------------------ listeners */

/* The listening socket is ours (slisten.h), accepted with accept4():
 * libuv's own listener sheds load at EMFILE silently (it accepts and
 * closes with its reserved descriptor and never calls back), and the
 * operator must be told that connections are being turned away.
 *
 * At EMFILE/ENFILE the reserve descriptor below is given up to accept
 * and reset the waiting connections, then taken back; without it (another
 * thread took the slot) the listener pauses for SL_PAUSE_MS instead of
 * spinning on a readable socket it cannot accept from. Other accept
 * errors (ENOBUFS, ENOMEM) pause it the same way. */
#define TCP_SHED_MAX 1024u /* connections reset per EMFILE episode */

static int reserve_fd = -1;

static void reserve_take(void) {
  if (reserve_fd < 0)
    reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

typedef struct tcp_listener {
  sl_listener sl; /* first: the accept loop's */
  uint8_t warned;
  uint32_t suppressed;  /* reports not logged since the last one */
  uint64_t turned_away; /* connections reset unserved, since the last line */
  uint64_t warned_at;
  char name[INET6_ADDRSTRLEN + 16];
} tcp_listener;

/* Accept failures (EMFILE, ENFILE, ENOMEM) come in bursts: one line per
 * second at most, with the connections turned away and the reports left
 * out since the previous line. */
static void warn_accept(tcp_listener *tl, int err, uint32_t turned_away) {
  uint64_t now = uv_now(loop());
  tl->turned_away += turned_away;
  if (tl->warned && now - tl->warned_at < TCP_WARN_INTERVAL_MS) {
    tl->suppressed++;
    return;
  }
  GH_LOG(host, GH_LOG_WARN, NULL,
         "tcp: accept on %s: %s: %llu connection(s) reset unserved since "
         "the last report (%u report(s) left out)",
         tl->name, uv_strerror(err), (unsigned long long)tl->turned_away,
         tl->suppressed);
  tl->warned = 1;
  tl->warned_at = now;
  tl->suppressed = 0;
  tl->turned_away = 0;
}

static void reset_close(int fd) {
  struct linger lg = {1, 0};
  (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

/* Out of descriptors: frees the reserve to accept and reset what waits. */
static uint32_t shed_load(tcp_listener *tl) {
  if (reserve_fd < 0)
    return 0;
  close(reserve_fd);
  reserve_fd = -1;
  uint32_t n = 0;
  while (n < TCP_SHED_MAX) {
    int fd = accept4(tl->sl.fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0) {
      reset_close(fd);
      n++;
    } else if (errno != EINTR && errno != ECONNABORTED) {
      break;
    }
  }
  reserve_take();
  return n;
}

static int conn_addrs(tcp_conn *c, gh_addr *peer, gh_addr *local) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  int rc = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len);
  if (rc)
    return rc;
  na_to_gh(peer, (const struct sockaddr *)&ss);
  len = sizeof ss;
  rc = uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &len);
  if (rc)
    return rc;
  na_to_gh(local, (const struct sockaddr *)&ss);
  return 0;
}

/* Gives the accepted socket fd to a new conn and the conn to the core. */
static void accept_one(sl_listener *sl, int fd) {
  tcp_listener *tl = (tcp_listener *)sl;
  tcp_conn *c = conn_new();
  if (!c) {
    reset_close(fd);
    warn_accept(tl, UV_ENOMEM, 1);
    return;
  }
  c->closing = 1; /* belongs to no link until accept() says otherwise */
  int rc = uv_tcp_open(&c->tcp, fd);
  if (rc) {
    reset_close(fd);
    warn_accept(tl, rc, 1);
    conn_release(c, 0);
    return;
  }
  gh_addr peer, local;
  rc = conn_addrs(c, &peer, &local);
  if (rc) { /* e.g. the peer reset it already */
    GH_LOG(host, GH_LOG_DEBUG, NULL, "tcp: accept on %s: %s", tl->name,
           uv_strerror(rc));
    conn_release(c, 0);
    return;
  }
  c->state = C_OPEN;
  c->closing = 0;
  apply_opts(c, opts_of(host->listener_inst(sl->l)));
  /* The core may call read_start() (which sets c->link) before accept()
   * returns; the conn is complete by then. */
  gh_link *link = host->accept(sl->l, c, &peer, &local);
  if (!link) {
    c->link = NULL;
    conn_release(c, 0);
    return;
  }
  c->link = link;
}

static int accept_failed(sl_listener *sl, int err) {
  tcp_listener *tl = (tcp_listener *)sl;
  if ((err == UV_EMFILE || err == UV_ENFILE) && reserve_fd >= 0) {
    warn_accept(tl, err, shed_load(tl));
    if (reserve_fd >= 0)
      return 1; /* what waited is reset; the next ones will be too */
  } else {
    warn_accept(tl, err, 0);
  }
  return 0;
}

static const sl_kind tcp_listen_kind = {
    .accept = accept_one,
    .failed = accept_failed,
    .closing = NULL,
};

/* A non-blocking listening socket on sa, as uv_tcp_bind() + uv_listen()
 * would make it: SO_REUSEADDR, and an IPv6 socket takes IPv4 too. */
static int listen_socket(const struct sockaddr *sa) {
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int one = 1, zero = 0;
  socklen_t len = sizeof(struct sockaddr_in);
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (sa->sa_family == AF_INET6) {
    (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    len = sizeof(struct sockaddr_in6);
  }
  if (bind(fd, sa, len) < 0 || listen(fd, SL_BACKLOG) < 0) {
    int e = errno;
    close(fd);
    return e == EAFNOSUPPORT ? UV_EAFNOSUPPORT : -e;
  }
  return fd;
}

static int32_t listen_on(gh_listener *l, const struct sockaddr *sa) {
  int fd = listen_socket(sa);
  if (fd < 0)
    return fd;
  tcp_listener *tl = host->alloc(sizeof *tl);
  if (!tl) {
    close(fd);
    return GH_ENOMEM;
  }
  memset(tl, 0, sizeof *tl);
  na_name(sa, tl->name, sizeof tl->name);
  int rc = sl_start(&tl->sl, fd, l);
  if (rc)
    return rc;
  reserve_take();
  return 0;
}

static int bind_listener(const struct sockaddr *sa, void *l) {
  return listen_on(l, sa);
}

static int32_t tcp_listen(gh_listener *l, const char *name, uint16_t port) {
  return na_listen(loop(), name, port, SOCK_STREAM, bind_listener, l);
}

/* ----------------------------------------------------------- transport */

/* Both forms of connect end here, with the socket address. */
static int32_t connect_ss(gh_link *link, const struct sockaddr_storage *ss,
                          uint32_t timeout_ms) {
  if (na_unspecified((const struct sockaddr *)ss))
    return GH_EDENIED; /* it would reach the local host */
  tcp_conn *c = conn_new();
  if (!c)
    return GH_ENOMEM;
  int rc = uv_tcp_connect(&c->connect_req, &c->tcp,
                          (const struct sockaddr *)ss, on_connect);
  if (rc == 0 && timeout_ms > 0) {
    rc = timer_ensure(c);
    if (rc == 0)
      rc = uv_timer_start(&c->timer, on_timer, timeout_ms, 0);
  }
  if (rc) {
    /* The conn belongs to no link: its close reports nothing, and the
     * pending connect callback (UV_ECANCELED) sees it closing. */
    char name[64];
    na_name((const struct sockaddr *)ss, name, sizeof name);
    GH_LOG(host, GH_LOG_DEBUG, link, "tcp: connect to %s: %s", name,
           uv_strerror(rc));
    conn_release(c, 0);
    return rc;
  }
  c->state = C_CONNECTING;
  c->link = link;
  host->link_set_data(link, c);
  return 0;
}

/* ABI 1.0: the resolved address as text. */
static int32_t tcp_connect(gh_link *link, const char *name, uint16_t port,
                           uint32_t timeout_ms) {
  struct sockaddr_storage ss;
  if (!name || na_parse_numeric(name, port, &ss) != 0)
    return GH_EINVAL;
  return connect_ss(link, &ss, timeout_ms);
}

/* ABI 1.2: the resolved address itself. */
static int32_t tcp_connect_addr(gh_link *link, const gh_addr *addr,
                                uint32_t timeout_ms) {
  struct sockaddr_storage ss;
  if (!addr || na_from_gh(addr, &ss) != 0)
    return GH_EINVAL;
  return connect_ss(link, &ss, timeout_ms);
}

static int32_t tcp_write(gh_link *link, const uint8_t *data, uint32_t len) {
  tcp_conn *c = host->link_data(link);
  if (!c || c->closing || c->shut)
    return GH_EPIPE;
  if (c->state != C_OPEN)
    return GH_EINVAL;
  c->link = link;
  if (len == 0)
    return 0;

  /* Nothing queued: the socket usually takes it all, without a copy. */
  uint32_t done = 0;
  if (uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) == 0) {
    uv_buf_t b = uv_buf_init((char *)data, len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n >= 0)
      done = (uint32_t)n;
    else if (n != UV_EAGAIN && n != UV_ENOSYS)
      return n;
  }
  if (done < len) {
    uint32_t rest = len - done;
    tcp_wreq *w = host->alloc(sizeof *w + rest);
    if (!w)
      return GH_ENOMEM;
    memcpy(w->data, data + done, rest);
    w->len = rest;
    uv_buf_t b = uv_buf_init((char *)w->data, rest);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
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

static int32_t tcp_shutdown(gh_link *link) {
  tcp_conn *c = host->link_data(link);
  if (!c || c->closing)
    return GH_EPIPE;
  if (c->state != C_OPEN)
    return GH_EINVAL;
  if (c->shut)
    return 0;
  c->shut = 1;
  /* Runs after the writes already queued. */
  int rc = uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown);
  if (rc == UV_ENOTCONN) { /* the write side is gone already */
    GH_LOG(host, GH_LOG_DEBUG, link, "tcp: shutdown: %s", uv_strerror(rc));
    return 0;
  }
  return rc;
}

static void tcp_read_start(gh_link *link) {
  tcp_conn *c = host->link_data(link);
  if (!c || c->closing)
    return;
  c->link = link;
  c->want_read = 1;
  start_reading(c);
}

static void tcp_read_stop(gh_link *link) {
  tcp_conn *c = host->link_data(link);
  if (!c)
    return;
  c->want_read = 0;
  stop_reading(c);
}

static void tcp_close(gh_link *link, int32_t reason) {
  tcp_conn *c = host->link_data(link);
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
  if (reason >= 0 && c->writes > 0 && c->state == C_OPEN &&
      timer_ensure(c) == 0 &&
      uv_timer_start(&c->timer, on_timer, TCP_LINGER_MS, 0) == 0) {
    /* Orderly: the queued bytes go out first; the last write callback
     * closes (a shutdown request, if any, is cancelled harmlessly). */
    c->lingering = 1;
    return;
  }
  conn_release(c, reason < 0);
}

/* -------------------------------------------------------------- plugin */

static int32_t tcp_init(const gh_host *h) {
  if (!h || h->abi_major != GH_ABI_MAJOR || !GH_HOST_HAS(h, closed))
    return GH_ENOTSUP;
  host = h;
  sl_setup(h, &tcp_listen_kind);
  return 0;
}

static const gh_handler tcp_handler = {
    GH_HANDLER_HEADER,
    .kind = GH_KIND_TRANSPORT,
    .flags = 0,
    .n_options = sizeof tcp_options / sizeof tcp_options[0],
    .name = "tcp",
    .help = "TCP: listens for applications and connects to resources; "
            "half-close, keep-alive, abortive close by reset",
    .options = tcp_options,
    .inst_init = tcp_inst_init,
    .inst_free = tcp_inst_free,
    .listen = tcp_listen,
    .unlisten = sl_unlisten,
    .connect = tcp_connect,
    .connect_addr = tcp_connect_addr,
    .write = tcp_write,
    .shutdown = tcp_shutdown,
    .read_start = tcp_read_start,
    .read_stop = tcp_read_stop,
    .close = tcp_close,
};

static const gh_handler *const tcp_handlers[] = {&tcp_handler};

static const gh_plugin tcp_plugin = {
    GH_PLUGIN_HEADER,
    .n_handlers = 1,
    .name = "tcp",
    .version = GH_VERSION_STRING,
    .description = "the TCP transport",
    .handlers = tcp_handlers,
    .init = tcp_init,
    .fini = NULL,
};

GH_PLUGIN_ENTRY(tcp_plugin)
