/* A stream on one side: the chain of handler links between a socket and
 * the tunnel, its start (accept or resolve, check, connect, handshakes) and
 * its end. Links are torn down by the reaper at the end of a loop turn, so
 * that no handler's close() runs inside one of its own callbacks. */
#include <arpa/inet.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "console/events.h"
#include "frame.h"
#include "gateway.h"
#include "log.h"
#include "loop.h"
#include "mux.h"
#include "runtime.h"
#include "stream.h"
#include "tunnel.h"

#define GH__MAX_ADDRS 16

static const gh_handler *H(const gh__stream *s, size_t i) {
  return s->links[i].inst->h;
}

const char *gh__stream_subject(const gh__stream *s, char *buf, size_t len) {
  char peer[64];
  gh__addr_format(&s->peer, peer, sizeof(peer));
  snprintf(buf, len, "%s %s #%u %s", s->d->gw->id, s->d->cfg->name, s->id,
           peer);
  return buf;
}

static gh__stream *stream_new(gh__drt *d, uint32_t side, const gh_addr *peer,
                              const gh_addr *local) {
  size_t n = d->chain->n;
  gh__stream *s = gh__xcalloc(1, sizeof(*s) + n * sizeof(gh_link));
  s->d = d;
  s->side = side;
  s->n_links = (uint8_t)n;
  s->dgram = (d->chain->h[0]->flags & GH_HANDLER_DGRAM) != 0;
  if (peer)
    s->peer = *peer;
  if (local)
    s->local = *local;
  gh__list_init(&s->sendq_node);
  gh__list_init(&s->credq_node);
  gh__list_init(&s->reap_node);
  gh__list_init(&s->openq_node);
  gh__list_init(&s->out_held_node);
  for (size_t i = 0; i < n; i++) {
    s->links[i].s = s;
    s->links[i].inst = &d->insts[i];
    s->links[i].idx = (uint8_t)i;
  }
  d->refs++;
  d->st.opened++;
  d->st.active++;
  d->gw->st.opened++;
  d->gw->st.active++;
  return s;
}

static void stream_free(gh__stream *s) {
  s->d->st.active--;
  s->d->gw->st.active--;
  gh__drt_unref(s->d);
  free(s);
}

/* Freed once torn down, its transport closed and no request pending. */
static void stream_try_free(gh__stream *s) {
  if (s->state != GH__S_CLOSING || gh__list_linked(&s->reap_node) || s->gai ||
      s->open_timer)
    return;
  if (s->links[0].started && !s->links[0].closed)
    return;
  stream_free(s);
}

void gh__stream_link_closed(gh_link *l) {
  l->closed = 1;
  stream_try_free(l->s);
}

static void open_timer_closed(uv_handle_t *h) {
  gh__stream *s = h->data;
  free(h);
  s->open_timer = NULL;
  stream_try_free(s);
}

static void teardown(gh__stream *s, int32_t reason) {
  if (s->state == GH__S_CLOSING)
    return;
  if (s->dgram && gh__log_level >= GH_LOG_DEBUG) {
    char sub[160];
    gh__debug(gh__stream_subject(s, sub, sizeof(sub)),
              "session ended (%s): %u datagrams in, %u out, %u dropped",
              reason == 0 ? "closed" : gh_strerror(reason), s->dg_in, s->dg_out,
              s->dg_drop);
  }
  s->state = GH__S_CLOSING;
  s->reason = reason;
  if (s->gai)
    uv_cancel((uv_req_t *)s->gai);
  if (s->open_timer && !uv_is_closing((uv_handle_t *)s->open_timer))
    uv_close((uv_handle_t *)s->open_timer, open_timer_closed);
  gh__mux_detach(s);
  gh__buf_free(&s->out);
  gh__list_push(&gh__g.reap, &s->reap_node);
  gh__core_kick();
}

void gh__reap_run(void) {
  while (!gh__list_empty(&gh__g.reap)) {
    gh__stream *s = GH__CONTAINER_OF(gh__g.reap.next, gh__stream, reap_node);
    gh__list_del(&s->reap_node);
    for (size_t i = s->n_links; i-- > 1;)
      if (s->links[i].started)
        H(s, i)->close(&s->links[i], s->reason);
    if (s->links[0].started && !s->links[0].closed) {
      /* closed() frees s, maybe before close() returns */
      H(s, 0)->close(&s->links[0], s->reason);
      continue;
    }
    stream_try_free(s);
  }
}

static void send_fail(gh__tunnel *t, uint8_t type, uint32_t id, int32_t code,
                      const char *msg) {
  uint8_t buf[GH__FRAME_MAX];
  size_t mlen = strlen(msg);
  gh__fail fl = {code, {msg, (uint32_t)GH__MIN(mlen, (size_t)1024)}};
  int n = gh__fail_encode(buf, sizeof(buf), &fl);
  if (n >= 0)
    gh__tunnel_send(t, type, 0, id, buf, (size_t)n);
}

void gh__stream_abort(gh__stream *s, int32_t reason, int send_reset) {
  if (s->state == GH__S_CLOSING)
    return;
  if (send_reset && s->t && s->in_map && s->t->state == GH__T_UP) {
    if (s->side == GH_SIDE_RESOURCE && s->state != GH__S_OPEN)
      send_fail(s->t, GH__FT_OPEN_FAIL, s->mnode.key,
                reason < 0 ? reason : GH_ECONNABORTED,
                gh_strerror(reason < 0 ? reason : GH_ECONNABORTED));
    else
      send_fail(s->t, GH__FT_RESET, s->mnode.key, reason, "");
  }
  if (reason < 0 && s->state == GH__S_OPEN)
    s->d->st.failed++;
  teardown(s, reason);
}

/* Resource side, before OPEN_OK: say why to the peer and to the log. */
static void fail_open(gh__stream *s, int32_t code, const char *fmt, ...)
    GH_PRINTF(3, 4);
static void fail_open(gh__stream *s, int32_t code, const char *fmt, ...) {
  if (s->state == GH__S_CLOSING)
    return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  char sub[160];
  gh__warn(gh__stream_subject(s, sub, sizeof(sub)), "%s", msg);
  if (code == GH_EDENIED) {
    gh__event(GH__EV_REFUSED, sub, "%s", msg);
    s->d->st.refused++;
  } else
    s->d->st.failed++;
  if (s->t && s->in_map && s->t->state == GH__T_UP)
    send_fail(s->t, GH__FT_OPEN_FAIL, s->mnode.key, code, msg);
  teardown(s, code);
}

void gh__stream_maybe_done(gh__stream *s) {
  if (s->state == GH__S_OPEN && s->fin_sent && s->fin_recv &&
      s->tx_pending == 0)
    teardown(s, 0);
}

void gh__stream_update_read(gh__stream *s) {
  gh_link *l0 = &s->links[0];
  int want = 0;
  if (s->state == GH__S_CLOSING || s->src_eof || !l0->ready)
    want = 0;
  else if (s->state == GH__S_NEW || s->dgram)
    want = 1; /* layers are handshaking; datagrams are never held back */
  else if (s->state == GH__S_OPEN)
    want = s->out.len < GH__OUT_MAX && (int64_t)s->out.len < s->credit &&
           gh__mux_out_room(s); /* and the tunnel's read-ahead budget */
  if (want == s->reading)
    return;
  s->reading = (uint8_t)want;
  if (want)
    H(s, 0)->read_start(l0);
  else
    H(s, 0)->read_stop(l0);
}

/* ---- starting ---- */

static void all_ready(gh__stream *s) {
  char sub[160];
  if (s->side == GH_SIDE_RESOURCE) {
    if (s->open_timer && !uv_is_closing((uv_handle_t *)s->open_timer))
      uv_close((uv_handle_t *)s->open_timer, open_timer_closed);
    char res[300];
    gh__dest_resource_text(s->d->cfg, res, sizeof(res));
    gh__debug(gh__stream_subject(s, sub, sizeof(sub)), "connected to %s", res);
    gh__mux_connect_done(s);
    gh__tunnel_send(s->t, GH__FT_OPEN_OK, 0, s->mnode.key, NULL, 0);
    gh__mux_opened(s);
    return;
  }
  gh__stream_open_on_tunnel(s);
}

/* Listen side: the application is ready; give it a tunnel (round-robin)
 * and ask the other side to open the resource. */
void gh__stream_open_on_tunnel(gh__stream *s) {
  char sub[160];
  gh__tunnel *t = gh__gw_pick(s->d->gw);
  if (!t) {
    gh__warn(gh__stream_subject(s, sub, sizeof(sub)),
             "no tunnel is up for gateway %s: connection closed", s->d->gw->id);
    s->d->st.failed++;
    teardown(s, GH_ENOTUNNEL);
    return;
  }
  uint32_t id = t->next_id;
  t->next_id += 2;
  gh__mux_attach(t, s, id);
  uint8_t buf[512];
  gh__open o = {{s->d->cfg->name, (uint32_t)strlen(s->d->cfg->name)}, s->peer};
  int n = gh__open_encode(buf, sizeof(buf), &o);
  s->state = GH__S_OPENING;
  gh__stream_update_read(s);
  gh__tunnel_send(t, GH__FT_OPEN, 0, id, buf, (size_t)(n > 0 ? n : 0));
  gh__debug(gh__stream_subject(s, sub, sizeof(sub)), "opening");
}

/* Starts the layers in order; each may finish later through ready(). */
static void start_layers(gh__stream *s) {
  for (size_t i = 1; i < s->n_links; i++) {
    gh_link *l = &s->links[i];
    if (l->ready)
      continue;
    if (!l->started) {
      l->started = 1;
      int r = H(s, i)->open(l);
      if (r < 0) {
        if (s->side == GH_SIDE_RESOURCE)
          fail_open(s, r, "%s failed: %s", H(s, i)->name, gh_strerror(r));
        else
          gh__stream_abort(s, r, 0);
        return;
      }
      if (r == 0)
        l->ready = 1;
    }
    if (!l->ready) {
      gh__stream_update_read(s);
      return;
    }
  }
  if (s->state == GH__S_NEW)
    all_ready(s);
}

void gh__stream_link_ready(gh_link *l, int32_t status) {
  gh__stream *s = l->s;
  if (s->state == GH__S_CLOSING || l->ready)
    return;
  if (status < 0 && s->side == GH_SIDE_RESOURCE && s->state == GH__S_NEW) {
    char res[300];
    gh__dest_resource_text(s->d->cfg, res, sizeof(res));
    fail_open(s, status, "%s %s failed: %s",
              l->idx == 0 ? "connect to" : "handshake with", res,
              gh_strerror(status));
    return;
  }
  if (status < 0) {
    gh__stream_abort(s, status, 1);
    return;
  }
  l->ready = 1;
  if (s->state == GH__S_NEW)
    start_layers(s);
}

/* Logs a refused application, at most once a second per destination: a
 * flood (every datagram of a denied UDP source is one) cannot flood the
 * log. The line after a quiet spell says how many went unlogged. */
static void log_refusal(gh__drt *d, const gh_addr *peer, const char *why) {
  uint64_t now = uv_now(gh__g.loop);
  if (now < d->quiet_until_ms) {
    d->quiet_refusals++;
    return;
  }
  char p[64], more[64] = "";
  gh__addr_format(peer, p, sizeof(p));
  if (d->quiet_refusals)
    snprintf(more, sizeof(more), " (and %u more in the last second)",
             d->quiet_refusals);
  gh__warn(d->cfg->name, "refused %s: %s%s", p, why, more);
  gh__event(GH__EV_REFUSED, d->cfg->name, "refused %s: %s%s", p, why, more);
  d->quiet_refusals = 0;
  d->quiet_until_ms = now + 1000;
}

gh_link *gh__stream_accept(gh_listener *ln, void *data, const gh_addr *peer,
                           const gh_addr *local) {
  gh__drt *d = ln->d;
  if (d->retired || d->gw->rt->stopping)
    return NULL;
  if (!gh__iplist_match(&d->cfg->allow, peer)) {
    log_refusal(d, peer, "not in the allow list");
    d->st.refused++;
    return NULL;
  }
  if (gh__gw_streams_full(d->gw)) {
    log_refusal(d, peer, "the gateway has streams_max streams open");
    d->st.refused++;
    return NULL;
  }
  if (d->gw->n_live == 0) {
    char why[128];
    snprintf(why, sizeof(why), "no tunnel is up for gateway %s", d->gw->id);
    log_refusal(d, peer, why);
    d->st.failed++;
    return NULL;
  }
  gh__stream *s = stream_new(d, GH_SIDE_LISTEN, peer, local);
  gh_link *l0 = &s->links[0];
  l0->data = data;
  l0->started = 1;
  l0->ready = 1;
  start_layers(s);
  return l0;
}

/* ---- the resource side: resolve, check, connect ---- */

static void on_open_timeout(uv_timer_t *tm) {
  gh__stream *s = tm->data;
  char res[300];
  gh__dest_resource_text(s->d->cfg, res, sizeof(res));
  if (s->queued) {
    s->d->gw->rt->open_queue_timeouts++;
    fail_open(s, GH_ETIMEDOUT,
              "connect to %s timed out after %u ms waiting its turn "
              "(%u connecting at once on this tunnel)",
              res, s->d->cfg->connect_timeout_ms, s->t->peer_opening);
    return;
  }
  fail_open(s, GH_ETIMEDOUT, "connect to %s timed out after %u ms", res,
            s->d->cfg->connect_timeout_ms);
}

static size_t addrs_from(const struct addrinfo *ai, gh_addr *out) {
  size_t n = 0;
  for (; ai && n < GH__MAX_ADDRS; ai = ai->ai_next) {
    gh_addr a = {0};
    if (ai->ai_family == AF_INET) {
      const struct sockaddr_in *sa = (const void *)ai->ai_addr;
      a.family = GH_AF_INET;
      memcpy(a.addr, &sa->sin_addr, 4);
    } else if (ai->ai_family == AF_INET6) {
      const struct sockaddr_in6 *sa = (const void *)ai->ai_addr;
      a.family = GH_AF_INET6;
      memcpy(a.addr, &sa->sin6_addr, 16);
      a.scope_id = sa->sin6_scope_id;
    } else {
      continue;
    }
    out[n++] = a;
  }
  return n;
}

/* A resource written as an address needs no resolver (whose answer comes
 * through libuv's thread pool): 1 and *a when host is an IPv4 or IPv6
 * literal (without a zone), else 0. */
static int addr_literal(const char *host, gh_addr *a) {
  memset(a, 0, sizeof(*a));
  if (inet_pton(AF_INET, host, a->addr) == 1) {
    a->family = GH_AF_INET;
    return 1;
  }
  if (inet_pton(AF_INET6, host, a->addr) == 1) {
    a->family = GH_AF_INET6;
    return 1;
  }
  return 0;
}

static void resolved(gh__stream *s, const gh_addr *addrs, size_t n);

/* Connects the transport to a: with the address itself when its handler
 * has ABI 1.2's connect_addr, else with its text (ABI 1.0 and 1.1). */
static int transport_connect(gh__stream *s, const gh_addr *a,
                             uint32_t timeout_ms) {
  const gh_handler *h = H(s, 0);
  if (h->size > GH_HANDLER_SIZE_1_1 && h->connect_addr)
    return h->connect_addr(&s->links[0], a, timeout_ms);
  char host[64];
  gh_addr bare = *a;
  bare.port = 0;
  gh__addr_format(&bare, host, sizeof(host));
  if (host[0] == '[') { /* the transport wants the bare address */
    memmove(host, host + 1, strlen(host));
    host[strlen(host) - 1] = 0;
  }
  return h->connect(&s->links[0], host, a->port, timeout_ms);
}

static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *res) {
  gh__stream *s = req->data;
  s->gai = NULL;
  free(req);
  if (s->state == GH__S_CLOSING) {
    uv_freeaddrinfo(res);
    stream_try_free(s);
    return;
  }
  const gh__dest *c = s->d->cfg;
  if (status < 0) {
    fail_open(s, GH_ENOTFOUND, "cannot resolve %s: %s", c->resource_host,
              uv_strerror(status));
    return;
  }
  gh_addr addrs[GH__MAX_ADDRS];
  size_t n = addrs_from(res, addrs);
  uv_freeaddrinfo(res);
  if (n == 0) {
    fail_open(s, GH_ENOTFOUND, "%s has no address", c->resource_host);
    return;
  }
  resolved(s, addrs, n);
}

/* The resource's addresses are known: the client's ACL, then connect. */
static void resolved(gh__stream *s, const gh_addr *addrs, size_t n) {
  const gh__dest *c = s->d->cfg;
  gh__rt *rt = s->d->gw->rt;
  /* Before any rule: on Linux, 0.0.0.0 and :: reach the local host, which
   * a rule denying 127.0.0.0/8 would not see. Any of a name's addresses. */
  for (size_t i = 0; i < n; i++) {
    if (!gh__addr_unspecified(&addrs[i]))
      continue;
    int v6 = strchr(c->resource_host, ':') != NULL;
    char why[64] = "";
    gh_addr lit;
    if (gh__addr_parse(c->resource_host, &lit) < 0) { /* a name: say what */
      gh_addr a = addrs[i];
      a.port = 0;
      char ip[48];
      gh__addr_format(&a, ip, sizeof(ip));
      snprintf(why, sizeof(why), " (%s)", ip);
    }
    fail_open(
        s, GH_EDENIED, "resource %s%s%s:%u refused: unspecified address%s",
        v6 ? "[" : "", c->resource_host, v6 ? "]" : "", c->resource_port, why);
    return;
  }
  char why[512];
  if (rt->admit && rt->admit(s->d, addrs, n, why, sizeof(why)) < 0) {
    fail_open(s, GH_EDENIED, "%s", why);
    return;
  }
  gh_addr a = addrs[0];
  a.port = c->resource_port;
  gh_link *l0 = &s->links[0];
  l0->started = 1;
  int r = transport_connect(s, &a, c->connect_timeout_ms);
  if (r < 0) {
    l0->started = 0;
    fail_open(s, r, "connect to %s:%u failed: %s", c->resource_host,
              c->resource_port, gh_strerror(r));
  }
}

void gh__stream_open_resource(gh__tunnel *t, uint32_t id, gh__drt *d,
                              const gh_addr *peer, int queue) {
  gh__stream *s = stream_new(d, GH_SIDE_RESOURCE, peer, NULL);
  gh__mux_attach(t, s, id);
  s->peer_opened = 1;
  t->peer_streams++;
  /* Started at arrival: connect_timeout covers the wait in the queue. */
  s->open_timer = gh__xcalloc(1, sizeof(*s->open_timer));
  uv_timer_init(gh__g.loop, s->open_timer);
  s->open_timer->data = s;
  uv_timer_start(s->open_timer, on_open_timeout, d->cfg->connect_timeout_ms, 0);
  if (queue) {
    char sub[160];
    s->queued = 1;
    t->peer_queued++;
    gh__list_push(&t->openq, &s->openq_node);
    t->rt->opens_waiting++;
    t->rt->opens_queued_total++;
    gh__debug(gh__stream_subject(s, sub, sizeof(sub)),
              "queued: %u connecting, %u waiting", t->peer_opening,
              t->peer_queued);
    return;
  }
  gh__stream_start_resource(s);
}

/* A Unix-socket resource: no resolver and no address; the path is
 * admitted (the client's [acl] path rules) and the transport connects to
 * the path admitted, which is never opened otherwise. */
static void start_unix(gh__stream *s) {
  const gh__dest *c = s->d->cfg;
  gh__rt *rt = s->d->gw->rt;
  char real[PATH_MAX], why[512];
  snprintf(real, sizeof(real), "%s", c->resource_host);
  if (rt->admit_path) {
    int r = rt->admit_path(s->d, c->resource_host, real, sizeof(real), why,
                           sizeof(why));
    if (r < 0) {
      fail_open(s, r, "%s", why);
      return;
    }
  }
  gh_link *l0 = &s->links[0];
  l0->started = 1;
  int r = H(s, 0)->connect(l0, real, 0, c->connect_timeout_ms);
  if (r < 0) {
    l0->started = 0;
    fail_open(s, r, "connect to unix:%s failed: %s", real, gh_strerror(r));
  }
}

void gh__stream_start_resource(gh__stream *s) {
  gh__tunnel *t = s->t;
  gh__drt *d = s->d;
  s->connecting = 1;
  t->peer_opening++;
  if (d->cfg->resource_unix) {
    start_unix(s);
    return;
  }
  gh_addr lit;
  if (addr_literal(d->cfg->resource_host, &lit)) {
    resolved(s, &lit, 1);
    return;
  }
  s->gai = gh__xcalloc(1, sizeof(*s->gai));
  s->gai->data = s;
  struct addrinfo hints = {0};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = s->dgram ? SOCK_DGRAM : SOCK_STREAM;
  int r = uv_getaddrinfo(gh__g.loop, s->gai, on_resolved, d->cfg->resource_host,
                         NULL, &hints);
  if (r < 0) {
    free(s->gai);
    s->gai = NULL;
    fail_open(s, GH_ENOTFOUND, "cannot resolve %s: %s", d->cfg->resource_host,
              uv_strerror(r));
  }
}
