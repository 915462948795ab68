/* The UDP transport: sessions of datagrams between applications, the
 * tunnel and resources. Built against the SDK header and libuv only; the
 * one exported symbol is gh_plugin_entry.
 *
 * Listen side: one socket per listener, whatever the number of sessions. A
 * session is keyed by the application's source address and port in a hash
 * table; its first datagram asks the core for a stream (host->accept(),
 * which applies the allow-list), and every answer leaves through the
 * listener's socket toward that source.
 * Resource side: each session has its own socket, connected to the
 * resource, so that the resource's answers come back to the right session.
 *
 * Datagrams are never merged, split or queued here: a datagram the socket
 * cannot take now is dropped (write() fails and the core counts it), as
 * UDP would.
 *
 * Idle sessions: every session is on its instance's list in order of last
 * activity (a datagram either way), so one timer per instance finds the
 * expired ones at the list's head in O(expired). An expired session ends
 * in order (host->abort(link, 0)); the core resets the other side's
 * session, which frees its socket at once.
 *
 * Lifetimes
 *   - A udp_sess lives from accept() (listen side) or connect() (resource
 *     side) until close(); host->closed() follows at once on the listen
 *     side, after uv_close() of its socket on the resource side.
 *   - A udp_listener lives while its socket is open or a session still
 *     points at it; unlisten() expires its sessions (their answers would
 *     have no socket to leave by).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "gatehouse/gatehouse.h"
#include "netaddr.h"

/* libuv reads up to this many datagrams in one recvmmsg() call, each into
 * a 64 KiB slice of the buffer. */
#define UDP_MMSG 8u
#define UDP_SLICE (64u * 1024u)
#define UDP_LISTEN_BUF (4 * 1024 * 1024) /* socket buffers of a listener */
#define UDP_WARN_INTERVAL_MS 1000u

#define CONTAINER_OF(ptr, type, member)                                        \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static const gh_host *host;

/* One buffer for every receive of every socket: the receive callback runs
 * right after the alloc callback and the host copies what it keeps. */
static char rx_buf[UDP_MMSG * UDP_SLICE];

/* A random key for the session hash, so that sources cannot be chosen to
 * collide. */
static uint64_t hash_key;

static uv_loop_t *loop(void) {
  return host->uv_loop();
}

/* ------------------------------------------------------------ lists */

typedef struct dlist {
  struct dlist *prev, *next;
} dlist;

static void dl_init(dlist *l) {
  l->prev = l->next = l;
}
static int dl_linked(const dlist *n) {
  return n->next != n;
}
static void dl_del(dlist *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  dl_init(n);
}
static void dl_push(dlist *l, dlist *n) { /* at the tail */
  n->prev = l->prev;
  n->next = l;
  l->prev->next = n;
  l->prev = n;
}

/* ------------------------------------------------------------ options */

static const gh_option udp_options[] = {
    {.name = "idle_timeout",
     .type = GH_OPT_INT,
     .min = 1,
     .max = 86400,
     .def = "60",
     .help = "seconds without a datagram either way before a session is "
             "closed on both ends"},
    {.name = "max_sessions",
     .type = GH_OPT_INT,
     .min = 1,
     .max = 1000000,
     .def = "100000",
     .help = "sessions a destination side may hold at once; datagrams of "
             "new sources beyond it are dropped"},
};

/* An instance: its options, and its sessions by last activity. */
typedef struct udp_inst {
  uint64_t idle_ms;
  uint32_t max_sessions;
  uint32_t n_sessions;
  dlist lru; /* oldest first */
  gh_timer *sweep;
  int sweeping;
  uint64_t warned_at; /* the session limit, logged once a second */
  uint32_t suppressed;
} udp_inst;

typedef struct udp_listener udp_listener;

typedef struct udp_sess {
  dlist lru;
  gh_link *link;
  udp_inst *ui;
  uint64_t last_ms;
  uint8_t resource; /* resource side: `rs` below is valid */
  uint8_t expired;  /* abort()ed; close() comes later */
  /* listen side */
  udp_listener *ul;
  struct udp_sess *hnext; /* in ul's hash chain */
  uint64_t hash;
  struct sockaddr_storage peer;
} udp_sess;

/* Resource side: a session with its own socket. */
typedef struct udp_rsess {
  udp_sess s;
  uv_udp_t udp;
} udp_rsess;

struct udp_listener {
  uv_udp_t udp;
  gh_listener *l;
  udp_inst *ui;
  gh_addr local;
  udp_sess **buckets; /* power-of-two count */
  uint32_t n_buckets, n;
  uint32_t refs; /* the open socket, plus one per session */
  int closing;
  uint64_t warned_at;
  uint32_t suppressed;
  char name[64];
};

static void set_err(char *err, uint32_t errlen, const char *msg) {
  if (err && errlen)
    snprintf(err, errlen, "%s", msg);
}

static void sweep_arm(udp_inst *ui);

static int32_t udp_inst_init(gh_inst *inst, char *err, uint32_t errlen) {
  udp_inst *ui = host->alloc(sizeof *ui);
  if (!ui) {
    set_err(err, errlen, "udp: out of memory");
    return GH_ENOMEM;
  }
  memset(ui, 0, sizeof *ui);
  ui->idle_ms = (uint64_t)host->opt_int(inst, "idle_timeout") * 1000u;
  ui->max_sessions = (uint32_t)host->opt_int(inst, "max_sessions");
  dl_init(&ui->lru);
  host->inst_set_data(inst, ui);
  return 0;
}

static void udp_inst_free(gh_inst *inst) {
  udp_inst *ui = host->inst_data(inst);
  if (ui)
    host->timer_free(ui->sweep);
  host->free(ui);
  host->inst_set_data(inst, NULL);
}

/* Warnings that a flood could repeat are logged at most once a second;
 * the next one says how many were left out (in `more`). Returns 0 when
 * this one is left out. */
static int warn_due(uint64_t *at, uint32_t *suppressed, char *more,
                    size_t len) {
  uint64_t now = uv_now(loop());
  if (*at && now - *at < UDP_WARN_INTERVAL_MS) {
    (*suppressed)++;
    return 0;
  }
  more[0] = '\0';
  if (*suppressed)
    snprintf(more, len, " (and %u more in the last second)", *suppressed);
  *at = now;
  *suppressed = 0;
  return 1;
}

/* ------------------------------------------------------------ sessions */

static void touch(udp_sess *s) {
  s->last_ms = uv_now(loop());
  dl_del(&s->lru);
  dl_push(&s->ui->lru, &s->lru);
}

static void sess_track(udp_sess *s) {
  s->ui->n_sessions++;
  touch(s);
  sweep_arm(s->ui);
}

static uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

static uint64_t sa_hash(const struct sockaddr *sa) {
  uint64_t w[3] = {0, 0, 0};
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const void *)sa;
    memcpy(&w[0], &in->sin_addr, 4);
    w[2] = in->sin_port;
  } else {
    const struct sockaddr_in6 *in6 = (const void *)sa;
    memcpy(w, &in6->sin6_addr, 16);
    w[2] = in6->sin6_port;
  }
  w[2] |= (uint64_t)sa->sa_family << 16;
  return mix(mix(mix(w[0] ^ hash_key) ^ w[1]) ^ w[2]);
}

static int sa_equal(const struct sockaddr *a, const struct sockaddr *b) {
  if (a->sa_family != b->sa_family)
    return 0;
  if (a->sa_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    return x->sin_port == y->sin_port &&
           x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
  return x->sin6_port == y->sin6_port &&
         memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

static udp_sess *hash_find(udp_listener *ul, const struct sockaddr *sa,
                           uint64_t h) {
  if (!ul->n_buckets)
    return NULL;
  for (udp_sess *s = ul->buckets[h & (ul->n_buckets - 1)]; s; s = s->hnext)
    if (s->hash == h && sa_equal((const struct sockaddr *)&s->peer, sa))
      return s;
  return NULL;
}

static int hash_grow(udp_listener *ul) {
  uint32_t n = ul->n_buckets ? ul->n_buckets * 2 : 64;
  udp_sess **b = host->alloc(n * sizeof *b);
  if (!b)
    return GH_ENOMEM;
  memset(b, 0, n * sizeof *b);
  for (uint32_t i = 0; i < ul->n_buckets; i++)
    for (udp_sess *s = ul->buckets[i], *next; s; s = next) {
      next = s->hnext;
      s->hnext = b[s->hash & (n - 1)];
      b[s->hash & (n - 1)] = s;
    }
  host->free(ul->buckets);
  ul->buckets = b;
  ul->n_buckets = n;
  return 0;
}

static int hash_add(udp_listener *ul, udp_sess *s) {
  if (ul->n >= ul->n_buckets && hash_grow(ul) < 0)
    return GH_ENOMEM;
  udp_sess **head = &ul->buckets[s->hash & (ul->n_buckets - 1)];
  s->hnext = *head;
  *head = s;
  ul->n++;
  return 0;
}

static void hash_del(udp_listener *ul, udp_sess *s) {
  for (udp_sess **p = &ul->buckets[s->hash & (ul->n_buckets - 1)]; *p;
       p = &(*p)->hnext)
    if (*p == s) {
      *p = s->hnext;
      ul->n--;
      s->hnext = NULL;
      return;
    }
}

/* The session ends in order; a new datagram from its source starts a new
 * one at once. */
static void expire(udp_sess *s) {
  if (s->expired)
    return;
  s->expired = 1;
  dl_del(&s->lru);
  if (!s->resource)
    hash_del(s->ul, s);
  GH_LOG(host, GH_LOG_DEBUG, s->link, "udp: session idle for %llu s: closed",
         (unsigned long long)(s->ui->idle_ms / 1000u));
  host->abort(s->link, 0);
}

static void on_sweep(gh_timer *t, void *arg) {
  udp_inst *ui = arg;
  uint64_t now = uv_now(loop());
  while (dl_linked(&ui->lru)) {
    udp_sess *s = CONTAINER_OF(ui->lru.next, udp_sess, lru);
    if (now - s->last_ms < ui->idle_ms)
      break;
    expire(s);
  }
  if (!dl_linked(&ui->lru)) {
    host->timer_stop(t); /* an idle gateway does not wake up */
    ui->sweeping = 0;
  }
}

/* A session expires between idle_timeout and idle_timeout plus a quarter
 * of it (at most 5 s) after its last datagram. */
static void sweep_arm(udp_inst *ui) {
  if (ui->sweeping)
    return;
  if (!ui->sweep && !(ui->sweep = host->timer_new(on_sweep, ui)))
    return;
  uint64_t every = ui->idle_ms / 4;
  every = every < 100 ? 100 : every > 5000 ? 5000 : every;
  if (host->timer_start(ui->sweep, every, every) == 0)
    ui->sweeping = 1;
}

/* ------------------------------------------------------------ listen side */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  buf->base = rx_buf;
  buf->len = sizeof rx_buf;
}

static void listener_unref(udp_listener *ul) {
  if (--ul->refs > 0)
    return;
  gh_listener *l = ul->l;
  host->free(ul->buckets);
  host->free(ul);
  host->listener_closed(l);
}

static void on_listener_closed(uv_handle_t *h) {
  listener_unref(h->data);
}

static udp_sess *listen_sess_new(udp_listener *ul, const struct sockaddr *sa,
                                 uint64_t h) {
  udp_inst *ui = ul->ui;
  if (ui->n_sessions >= ui->max_sessions) {
    char src[64], more[64];
    if (warn_due(&ui->warned_at, &ui->suppressed, more, sizeof more)) {
      na_name(sa, src, sizeof src);
      GH_LOG(host, GH_LOG_WARN, NULL,
             "udp: %s: datagram from %s dropped: udp.max_sessions (%u) "
             "reached%s",
             ul->name, src, ui->max_sessions, more);
    }
    return NULL;
  }
  udp_sess *s = host->alloc(sizeof *s);
  if (!s)
    return NULL;
  memset(s, 0, sizeof *s);
  dl_init(&s->lru);
  s->ui = ui;
  s->ul = ul;
  s->hash = h;
  memcpy(&s->peer, sa, na_len(sa));
  if (hash_add(ul, s) < 0) {
    host->free(s);
    return NULL;
  }
  gh_addr peer;
  na_to_gh(&peer, sa);
  /* accept() applies the allow-list before any stream exists. */
  s->link = host->accept(ul->l, s, &peer, &ul->local);
  if (!s->link) {
    hash_del(ul, s);
    host->free(s);
    return NULL;
  }
  ul->refs++;
  sess_track(s);
  return s;
}

static void on_listen_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                           const struct sockaddr *sa, unsigned flags) {
  udp_listener *ul = h->data;
  if (nread < 0) {
    char more[64];
    if (warn_due(&ul->warned_at, &ul->suppressed, more, sizeof more))
      GH_LOG(host, GH_LOG_WARN, NULL, "udp: receive on %s: %s%s", ul->name,
             uv_strerror((int)nread), more);
    return;
  }
  if (!sa || ul->closing) /* nothing more now; an empty datagram has sa */
    return;
  if (flags & UV_UDP_PARTIAL)
    return; /* larger than a slice: cannot be, UDP carries 65,507 at most */
  uint64_t hv = sa_hash(sa);
  udp_sess *s = hash_find(ul, sa, hv);
  if (!s && !(s = listen_sess_new(ul, sa, hv)))
    return;
  touch(s);
  host->send_up(s->link, (const uint8_t *)buf->base, (uint32_t)nread);
}

static void on_failed_closed(uv_handle_t *h) {
  host->free(h->data);
}

/* One attempt at one address, with a listener of its own: a failed one is
 * freed only once libuv has closed its handle. */
static int bind_listener(const struct sockaddr *sa, void *arg) {
  gh_listener *l = arg;
  udp_listener *ul = host->alloc(sizeof *ul);
  if (!ul)
    return GH_ENOMEM;
  memset(ul, 0, sizeof *ul);
  int rc = uv_udp_init_ex(loop(), &ul->udp, sa->sa_family | UV_UDP_RECVMMSG);
  if (rc) {
    host->free(ul);
    return rc;
  }
  ul->udp.data = ul;
  /* flags 0: an IPv6 socket also takes IPv4 (dual stack) */
  rc = uv_udp_bind(&ul->udp, sa, 0);
  if (rc == 0) {
    int size = UDP_LISTEN_BUF; /* best effort: the kernel may cap it */
    uv_recv_buffer_size((uv_handle_t *)&ul->udp, &size);
    size = UDP_LISTEN_BUF;
    uv_send_buffer_size((uv_handle_t *)&ul->udp, &size);
    rc = uv_udp_recv_start(&ul->udp, on_alloc, on_listen_recv);
  }
  if (rc) {
    uv_close((uv_handle_t *)&ul->udp, on_failed_closed);
    return rc;
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_udp_getsockname(&ul->udp, (struct sockaddr *)&ss, &len) == 0)
    na_to_gh(&ul->local, (const struct sockaddr *)&ss);
  na_name(sa, ul->name, sizeof ul->name);
  ul->l = l;
  ul->ui = host->inst_data(host->listener_inst(l));
  ul->refs = 1;
  host->listener_set_data(l, ul);
  return 0;
}

static int32_t udp_listen(gh_listener *l, const char *name, uint16_t port) {
  return na_listen(loop(), name, port, SOCK_DGRAM, bind_listener, l);
}

static void udp_unlisten(gh_listener *l) {
  udp_listener *ul = host->listener_data(l);
  if (ul->closing)
    return;
  ul->closing = 1;
  for (uint32_t i = 0; i < ul->n_buckets; i++)
    while (ul->buckets[i])
      expire(ul->buckets[i]);
  uv_close((uv_handle_t *)&ul->udp, on_listener_closed);
}

/* ------------------------------------------------------------ resource side */

static void on_resource_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                             const struct sockaddr *sa, unsigned flags) {
  udp_rsess *r = h->data;
  if (nread < 0) {
    /* An ICMP error for an earlier datagram (port unreachable): the
     * resource may come back, the session stays. */
    GH_LOG(host, GH_LOG_DEBUG, r->s.link, "udp: receive: %s",
           uv_strerror((int)nread));
    return;
  }
  if (!sa || r->s.expired || (flags & UV_UDP_PARTIAL))
    return;
  touch(&r->s);
  host->send_up(r->s.link, (const uint8_t *)buf->base, (uint32_t)nread);
}

/* The socket is connected to the resource before ready(), which comes at
 * once: a UDP "connection" needs no round trip. */
static int32_t connect_ss(gh_link *link, const struct sockaddr_storage *ss) {
  if (na_unspecified((const struct sockaddr *)ss))
    return GH_EDENIED; /* it would reach the local host */
  udp_rsess *r = host->alloc(sizeof *r);
  if (!r)
    return GH_ENOMEM;
  memset(r, 0, sizeof *r);
  int rc = uv_udp_init_ex(loop(), &r->udp, ss->ss_family | UV_UDP_RECVMMSG);
  if (rc) {
    host->free(r);
    return rc;
  }
  r->udp.data = r;
  rc = uv_udp_connect(&r->udp, (const struct sockaddr *)ss);
  if (rc) {
    uv_close((uv_handle_t *)&r->udp, on_failed_closed);
    return rc;
  }
  dl_init(&r->s.lru);
  r->s.link = link;
  r->s.resource = 1;
  r->s.ui = host->inst_data(host->link_inst(link));
  host->link_set_data(link, &r->s);
  sess_track(&r->s);
  host->ready(link, 0);
  return 0;
}

/* ABI 1.0: the resolved address as text. A UDP connect takes no time:
 * timeout_ms has nothing to bound. */
static int32_t udp_connect(gh_link *link, const char *name, uint16_t port,
                           uint32_t timeout_ms) {
  (void)timeout_ms;
  struct sockaddr_storage ss;
  if (!name || na_parse_numeric(name, port, &ss) != 0)
    return GH_EINVAL;
  return connect_ss(link, &ss);
}

/* ABI 1.2: the resolved address itself. */
static int32_t udp_connect_addr(gh_link *link, const gh_addr *addr,
                                uint32_t timeout_ms) {
  (void)timeout_ms;
  struct sockaddr_storage ss;
  if (!addr || na_from_gh(addr, &ss) != 0)
    return GH_EINVAL;
  return connect_ss(link, &ss);
}

/* ------------------------------------------------------------ both sides */

static int32_t udp_write(gh_link *link, const uint8_t *data, uint32_t len) {
  udp_sess *s = host->link_data(link);
  uv_buf_t b = uv_buf_init((char *)(uintptr_t)data, len);
  int rc;
  if (s->resource)
    rc = uv_udp_try_send(&((udp_rsess *)s)->udp, &b, 1, NULL);
  else if (s->ul->closing)
    rc = UV_EPIPE;
  else
    rc = uv_udp_try_send(&s->ul->udp, &b, 1,
                         (const struct sockaddr *)&s->peer);
  if (rc < 0)
    return rc; /* UV_EAGAIN and the rest: the core drops and counts it */
  touch(s);
  host->written(link, len);
  return 0;
}

static int32_t udp_shutdown(gh_link *link) {
  return 0; /* datagrams have no half-close; the core never asks */
}

/* The listen side reads one socket for all its sessions and never holds a
 * datagram back; the core reads datagram streams at all times. */
static void udp_read_start(gh_link *link) {
  udp_sess *s = host->link_data(link);
  if (s->resource)
    uv_udp_recv_start(&((udp_rsess *)s)->udp, on_alloc, on_resource_recv);
}

static void udp_read_stop(gh_link *link) {
  udp_sess *s = host->link_data(link);
  if (s->resource)
    uv_udp_recv_stop(&((udp_rsess *)s)->udp);
}

static void on_rsess_closed(uv_handle_t *h) {
  udp_rsess *r = h->data;
  host->closed(r->s.link);
  host->free(r);
}

static void udp_close(gh_link *link, int32_t reason) {
  udp_sess *s = host->link_data(link);
  if (!s) { /* connect() failed: nothing held */
    host->closed(link);
    return;
  }
  if (!s->expired) {
    dl_del(&s->lru);
    if (!s->resource)
      hash_del(s->ul, s);
  }
  s->ui->n_sessions--;
  if (s->resource) {
    uv_close((uv_handle_t *)&((udp_rsess *)s)->udp, on_rsess_closed);
    return;
  }
  udp_listener *ul = s->ul;
  host->free(s);
  host->closed(link);
  listener_unref(ul);
}

/* ------------------------------------------------------------ plugin */

static int32_t udp_init(const gh_host *h) {
  if (!h || h->abi_major != GH_ABI_MAJOR || !GH_HOST_HAS(h, closed))
    return GH_ENOTSUP;
  host = h;
  if (uv_random(NULL, NULL, &hash_key, sizeof hash_key, 0, NULL) != 0)
    hash_key = (uint64_t)uv_hrtime() ^ (uint64_t)(uintptr_t)&hash_key;
  return 0;
}

static const gh_handler udp_handler = {
    GH_HANDLER_HEADER,
    .kind = GH_KIND_TRANSPORT,
    .flags = GH_HANDLER_DGRAM,
    .n_options = sizeof udp_options / sizeof udp_options[0],
    .name = "udp",
    .help = "UDP: sessions keyed by the application's address on one "
            "listening socket; a socket per session toward the resource; "
            "idle sessions expire",
    .options = udp_options,
    .inst_init = udp_inst_init,
    .inst_free = udp_inst_free,
    .listen = udp_listen,
    .unlisten = udp_unlisten,
    .connect = udp_connect,
    .connect_addr = udp_connect_addr,
    .write = udp_write,
    .shutdown = udp_shutdown,
    .read_start = udp_read_start,
    .read_stop = udp_read_stop,
    .close = udp_close,
};

static const gh_handler *const udp_handlers[] = {&udp_handler};

static const gh_plugin udp_plugin = {
    GH_PLUGIN_HEADER,
    .n_handlers = 1,
    .name = "udp",
    .version = GH_VERSION_STRING,
    .description = "the UDP transport",
    .handlers = udp_handlers,
    .init = udp_init,
};

GH_PLUGIN_ENTRY(udp_plugin)
