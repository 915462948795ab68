/* The TCP transport: listens for applications, connects to resources, and
 * moves bytes between their sockets and the core, with half-close and
 * abortive close. Built against the SDK header and libuv only; the one
 * exported symbol is gh_plugin_entry.
 *
 * Lifetimes
 *   - A tcp_listener lives from a successful listen() to the close callback
 *     of its handles after unlisten(); then host->listener_closed().
 *   - A connection is an sc_conn (sconn.h, shared with the unix transport),
 *     whose lifetime sconn.h tells.
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
#include "sconn.h"
#include "slisten.h"

#define TCP_WARN_INTERVAL_MS 1000u

static const gh_host *host;

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

/* A connection is sconn.c's; TCP's own are the reset of an abortive
 * close and the socket options. */

/* SO_LINGER {on, 0}: close() then sends a RST. uv_tcp_close_reset() does
 * the same but refuses a handle with a shutdown request; Linux does not
 * mind, and an abortive close must abort whatever was pending. */
static void linger_zero(sc_conn *c) {
  uv_os_fd_t fd;
  struct linger lg = {1, 0};
  if (uv_fileno((const uv_handle_t *)&c->h.tcp, &fd) == 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

static void close_reset(sc_conn *c, uv_close_cb cb) {
  if (uv_tcp_close_reset(&c->h.tcp, cb) == 0)
    return;
  linger_zero(c);
  uv_close((uv_handle_t *)&c->h.tcp, cb);
}

static void apply_opts(sc_conn *c, const tcp_opts *o) {
  int rc = uv_tcp_nodelay(&c->h.tcp, o->nodelay);
  if (rc == 0)
    rc = uv_tcp_keepalive(&c->h.tcp, o->keepalive > 0,
                          (unsigned)(o->keepalive > 0 ? o->keepalive : 0));
  if (rc)
    GH_LOG(host, GH_LOG_DEBUG, c->link, "tcp: socket options: %s",
           uv_strerror(rc));
}

static void connected(sc_conn *c) {
  apply_opts(c, opts_of(host->link_inst(c->link)));
}

static const sc_kind tcp_conn_kind = {
    .name = "tcp",
    .type = UV_TCP,
    .connected = connected,
    .close_reset = close_reset,
};

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

static int conn_addrs(sc_conn *c, gh_addr *peer, gh_addr *local) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  int rc = uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len);
  if (rc)
    return rc;
  na_to_gh(peer, (const struct sockaddr *)&ss);
  len = sizeof ss;
  rc = uv_tcp_getsockname(&c->h.tcp, (struct sockaddr *)&ss, &len);
  if (rc)
    return rc;
  na_to_gh(local, (const struct sockaddr *)&ss);
  return 0;
}

/* Gives the accepted socket fd to a new conn and the conn to the core. */
static void accept_one(sl_listener *sl, int fd) {
  tcp_listener *tl = (tcp_listener *)sl;
  int rc;
  sc_conn *c = sc_adopt(fd, &rc);
  if (!c) {
    reset_close(fd);
    warn_accept(tl, rc, 1);
    return;
  }
  gh_addr peer, local;
  rc = conn_addrs(c, &peer, &local);
  if (rc) { /* e.g. the peer reset it already */
    GH_LOG(host, GH_LOG_DEBUG, NULL, "tcp: accept on %s: %s", tl->name,
           uv_strerror(rc));
    sc_release(c, 0);
    return;
  }
  apply_opts(c, opts_of(host->listener_inst(sl->l)));
  sc_accepted(c, sl->l, &peer, &local);
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
  sc_conn *c = sc_new();
  if (!c)
    return GH_ENOMEM;
  int rc = uv_tcp_connect(&c->connect_req, &c->h.tcp,
                          (const struct sockaddr *)ss, sc_on_connect);
  if (rc == 0)
    rc = sc_deadline(c, timeout_ms);
  if (rc) {
    /* The conn belongs to no link: its close reports nothing, and the
     * pending connect callback (UV_ECANCELED) sees it closing. */
    char name[64];
    na_name((const struct sockaddr *)ss, name, sizeof name);
    GH_LOG(host, GH_LOG_DEBUG, link, "tcp: connect to %s: %s", name,
           uv_strerror(rc));
    sc_release(c, 0);
    return rc;
  }
  sc_connecting(c, link);
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

/* -------------------------------------------------------------- plugin */

static int32_t tcp_init(const gh_host *h) {
  if (!h || h->abi_major != GH_ABI_MAJOR || !GH_HOST_HAS(h, closed))
    return GH_ENOTSUP;
  host = h;
  sc_setup(h, &tcp_conn_kind);
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
    .write = sc_write,
    .shutdown = sc_shutdown,
    .read_start = sc_read_start,
    .read_stop = sc_read_stop,
    .close = sc_close,
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
