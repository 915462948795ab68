/* The server: accepts tunnels, authenticates them by gateway and token,
 * pushes each gateway's destinations, listens for on-prem destinations and
 * connects to the resources of cloud destinations. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "console/console.h"
#include "address.h"
#include "admin.h"
#include "gateway.h"
#include "log.h"
#include "loop.h"
#include "mux.h"
#include "runtime.h"
#include "server.h"
#include "stream.h"
#include "tls.h"
#include "tunnel.h"

static void server_log_failure(gh__tunnel *t, const char *why) {
  gh__rt *rt = t->rt;
  uint64_t now = uv_now(gh__g.loop);
  if (now < rt->fail_quiet_until_ms) {
    rt->fail_quiet++;
    return;
  }
  char more[80] = "";
  if (rt->fail_quiet)
    snprintf(more, sizeof(more),
             " (and %u more unauthenticated tunnel(s) failed, not logged)",
             rt->fail_quiet);
  gh__warn(t->subject, "tunnel failed: %s%s", why, more);
  rt->fail_quiet = 0;
  rt->fail_quiet_until_ms = now + 1000;
}

void gh__source_key(const struct sockaddr *sa, uint8_t key[16]) {
  memset(key, 0, 16);
  if (sa->sa_family == AF_INET) {
    key[10] = key[11] = 0xff;
    memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memcpy(key, a, memcmp(a, mapped, 12) == 0 ? 16 : 8);
  }
}

static void source_key(const uv_tcp_t *tcp, uint8_t key[16]) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  memset(&ss, 0, sizeof(ss));
  if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) < 0)
    memset(&ss, 0, sizeof(ss));
  gh__source_key((const struct sockaddr *)&ss, key);
}

/* The caps on unauthenticated connections: a source past its share is
 * refused at once (0: keep t); a full table sheds its oldest entry, so that
 * a flood cannot keep a real client from another address out. */
static int unauth_admit(gh__rt *rt, gh__tunnel *t) {
  const gh__server_cfg *cfg = rt->scfg;
  uint32_t same = 0;
  for (gh__list *n = rt->unauth.next; n != &rt->unauth; n = n->next)
    same += memcmp(GH__CONTAINER_OF(n, gh__tunnel, unauth_node)->src, t->src,
                   16) == 0;
  if (same >= cfg->unauth_per_source) {
    rt->unauth_refused++;
    char why[160];
    snprintf(why, sizeof(why),
             "refused: %u unauthenticated connections from this address "
             "already (unauth_per_source)",
             same);
    gh__tunnel_close(t, why);
    return -1;
  }
  if (rt->n_unauth >= cfg->unauth_max) {
    gh__tunnel *old = GH__CONTAINER_OF(rt->unauth.next, gh__tunnel, unauth_node);
    rt->unauth_shed++;
    gh__tunnel_close(old, "shed: unauth_max unauthenticated connections, this "
                          "was the oldest");
  }
  gh__list_push(&rt->unauth, &t->unauth_node);
  rt->n_unauth++;
  return 0;
}

/* t is authenticated, or closing: it leaves the unauthenticated. */
static void unauth_leave(gh__tunnel *t) {
  if (gh__list_linked(&t->unauth_node)) {
    gh__list_del(&t->unauth_node);
    t->rt->n_unauth--;
  }
}

static const gh__tunnel_cbs server_tunnel_cbs;

static void on_tunnel_conn(uv_stream_t *srv, int status) {
  gh__rt *rt = srv->data;
  if (status < 0) {
    gh__warn(rt->subject, "accepting a tunnel failed: %s", uv_strerror(status));
    return;
  }
  /* No TLS state yet: it is made when the first bytes come. */
  gh__tunnel *t = gh__tunnel_new(rt, NULL);
  t->next_id = 2; /* the server opens even streams */
  if (uv_accept(srv, (uv_stream_t *)&t->tcp) < 0) {
    gh__tunnel_close(t, "accept failed");
    return;
  }
  rt->tunnels_accepted++;
  gh__tunnel_name_peer(t, 1);
  source_key(&t->tcp, t->src);
  if (unauth_admit(rt, t) < 0)
    return;
  if (gh__tunnel_start(t, 1, NULL) < 0) {
    gh__tunnel_close(t, "accept failed");
    return;
  }
  gh__debug(t->subject, "connection accepted");
}

static gh__gw *find_gw(gh__rt *rt, const char *id, size_t len) {
  for (size_t i = 0; i < rt->n_gws; i++)
    if (!rt->gws[i]->removed && strlen(rt->gws[i]->id) == len &&
        memcmp(rt->gws[i]->id, id, len) == 0)
      return rt->gws[i];
  return NULL;
}

static gh__gw *gw_new(gh__rt *rt, const gh__server_gw *g) {
  gh__gw *gw = gh__xcalloc(1, sizeof(*gw));
  gw->rt = rt;
  gw->id = gh__strdup(g->id);
  gw->scfg = g;
  rt->gws = gh__xrealloc(rt->gws, (rt->n_gws + 1) * sizeof(*rt->gws));
  rt->gws[rt->n_gws++] = gw;
  return gw;
}

static int build_gateways(gh__rt *rt, gh__server_cfg *cfg) {
  for (size_t i = 0; i < cfg->n_gateways; i++) {
    gh__gw *gw = gw_new(rt, &cfg->gateways[i]);
    int r = gh__dests_encode(cfg, gw->id, &gw->push, &gw->push_len);
    if (r < 0)
      return r;
  }
  return 0;
}

/* Runs destination c (taking it): listens for an on-prem one. A listener
 * that cannot bind fails the start, or on a reload leaves the destination
 * in error (in /status) while the others go on. */
static int add_dest(gh__rt *rt, gh__dest *c, int reloading, char *err,
                    size_t errlen) {
  gh__gw *gw = find_gw(rt, c->gateway, strlen(c->gateway));
  uint32_t side =
      c->type == GH__DEST_ONPREM ? GH_SIDE_LISTEN : GH_SIDE_RESOURCE;
  gh__drt *d;
  int r = gh__drt_new(gw, c, side, &d, err, errlen);
  if (r < 0) {
    gh__prefix_line(c, err, errlen);
    if (reloading) /* the others still start: say which one did not */
      gh__error(c->name, "%s; not started", err);
    gh__dest_free(c);
    free(c);
    return r;
  }
  gw->dests = gh__xrealloc(gw->dests, (gw->n_dests + 1) * sizeof(*gw->dests));
  gw->dests[gw->n_dests++] = d;
  if (side != GH_SIDE_LISTEN)
    return 0;
  char where[300];
  if (c->listen_unix)
    gh__dest_listen_text(c, where, sizeof(where));
  else
    snprintf(where, sizeof(where), "%s:%u",
             c->listen_host ? c->listen_host : "*", c->listen_port);
  r = gh__drt_listen(d, c->listen_host, c->listen_port);
  if (r < 0) {
    snprintf(err, errlen, "%s:%d: destination %s: cannot listen on %s: %s",
             c->file, c->line, c->name, where, gh_strerror(r));
    gh__drt_set_error(d, r, err);
    if (reloading)
      gh__error(c->name, "%s", err);
    return r;
  }
  gh__info(c->name, "listening on %s for gateway %s", where, gw->id);
  return 0;
}

/* Takes the destinations out of cfg and runs them. At start the first
 * failure stops it (and is returned); on a reload every destination is
 * tried, each failure is logged, and their number is returned. */
static int build_dests(gh__rt *rt, gh__server_cfg *cfg, int reloading,
                       char *err, size_t errlen) {
  int r = 0, failed = 0;
  for (size_t i = 0; i < cfg->n_dests && (reloading || r == 0); i++) {
    if (!cfg->dests[i].name)
      continue; /* kept from before a reload */
    gh__dest *c = gh__xcalloc(1, sizeof(*c));
    *c = cfg->dests[i];
    memset(&cfg->dests[i], 0, sizeof(cfg->dests[i]));
    r = add_dest(rt, c, reloading, err, errlen);
    failed += r < 0;
  }
  for (size_t i = 0; i < cfg->n_dests; i++)
    gh__dest_free(&cfg->dests[i]);
  cfg->n_dests = 0;
  return reloading ? failed : r;
}

int gh__server_start(gh__rt *rt, gh__server_cfg *cfg, char *err,
                     size_t errlen) {
  gh__rt_init(rt, GH__ROLE_SERVER, cfg->common.keepalive_s,
              cfg->common.keepalive_timeout_s, cfg->common.drain_timeout_s);
  rt->tunnel_cbs = &server_tunnel_cbs;
  rt->scfg = cfg;
  rt->handshake_ms = cfg->handshake_timeout_s * 1000u;
  rt->connecting_max = cfg->common.connecting_max;
  rt->open_queue_max = cfg->common.open_queue_max;
  int r = 0;
  if (rt->tls_mem) {
    char why[256];
    rt->ctx = gh__tls_server_ctx(rt->tls_mem, why, sizeof(why));
    if (!rt->ctx) {
      snprintf(err, errlen, "%s", why);
      return GH_EINVAL;
    }
  } else {
    char why[512];
    rt->ctx = gh__tls_ctx_from_files(1, cfg->cert, cfg->key, cfg->client_ca,
                                     cfg->client_crl, why, sizeof(why));
    if (!rt->ctx) {
      snprintf(err, errlen, "%s: %s", cfg->file, why);
      return GH_EINVAL;
    }
  }
  for (size_t i = 0; i < cfg->n_dests; i++)
    if ((r = gh__dest_validate(&cfg->dests[i], &gh__g.reg, err, errlen)) < 0)
      return r;
  if ((r = build_gateways(rt, cfg)) < 0) {
    snprintf(err, errlen,
             "cannot encode the destinations: %s (a gateway's set holds at "
             "most %u destinations, %u keys and %u bytes)",
             gh_strerror(r), GH__DESTS_MAX, GH__PUSH_RECORDS_MAX,
             GH__DESTS_BYTES_MAX);
    return r;
  }
  if ((r = build_dests(rt, cfg, 0, err, errlen)) < 0)
    return r;
  struct sockaddr_storage ss;
  if ((r = gh__sockaddr_resolve(cfg->tunnel_host, cfg->tunnel_port, &ss)) < 0 ||
      (r = uv_tcp_init(gh__g.loop, &rt->listen)) < 0 ||
      (r = uv_tcp_bind(&rt->listen, (struct sockaddr *)&ss, 0)) < 0 ||
      (r = uv_listen((uv_stream_t *)&rt->listen, 511, on_tunnel_conn)) < 0) {
    snprintf(err, errlen, "%s: cannot listen for tunnels on %s:%u: %s",
             cfg->file, cfg->tunnel_host ? cfg->tunnel_host : "*",
             cfg->tunnel_port, gh_strerror(r));
    return r;
  }
  rt->listen.data = rt;
  rt->listening = 1;
  gh__info(rt->subject, "listening for tunnels on %s:%u (%zu gateway(s))",
           cfg->tunnel_host ? cfg->tunnel_host : "*", cfg->tunnel_port,
           rt->n_gws);
  return 0;
}

/* ---- the first exchange ---- */

/* The gateway's destination set, in CONFIG slices. */
static void push_config(gh__tunnel *t, const gh__gw *gw) {
  size_t off = 0;
  do {
    size_t len = GH__MIN(gw->push_len - off, (size_t)GH__FRAME_MAX);
    int more = off + len < gw->push_len;
    gh__tunnel_send(t, GH__FT_CONFIG, more ? GH__FF_MORE : 0, 0, gw->push + off,
                    len);
    off += len;
  } while (off < gw->push_len);
}

/* Sends code and msg; counts the refusal as `counted` in the metrics; our
 * own log line (rate-limited before authentication) says `logged`, which
 * may tell more than the peer is told. */
static void refuse_as(gh__tunnel *t, int32_t code, int32_t counted,
                      const char *msg, const char *logged) {
  uint8_t buf[1100];
  gh__fail fl = {code, {msg, (uint32_t)strlen(msg)}};
  int n = gh__fail_encode(buf, sizeof(buf), &fl);
  if (n > 0)
    gh__tunnel_send(t, GH__FT_REFUSE, 0, 0, buf, (size_t)n);
  t->rt->hs_failures[gh__hsf_of_refusal(counted)]++;
  char why[160];
  snprintf(why, sizeof(why), "refused: %s", logged);
  gh__tunnel_close(t, why);
}

static void refuse(gh__tunnel *t, int32_t code, const char *msg) {
  refuse_as(t, code, code, msg, msg);
}

/* An unknown gateway and a bad token get the same answer, so that a peer
 * cannot learn which gateway names exist; only our log and the metrics
 * tell them apart. */
#define AUTH_REFUSAL "unknown gateway or bad token"

/* For an unknown gateway, the token is still compared (with a dummy), so
 * that the time of the answer does not tell either. */
static void token_dummy_compare(const gh__str *tok) {
  /* as long as the tokens `openssl rand -hex 32` makes */
  static const char dummy[65] =
      "0000000000000000000000000000000000000000000000000000000000000000";
  volatile int sink = gh__ct_equal(dummy, 64, tok->ptr, tok->len);
  (void)sink;
}

/* What a tunnel remembers of its token: its SHA-256, never the token. */
static void token_hash(const char *tok, size_t len, uint8_t out[32]) {
  SHA256((const unsigned char *)tok, len, out);
}

/* Every token is compared, in constant time, whether or not one matched. */
static int token_ok(const gh__server_gw *g, const gh__str *tok) {
  int ok = 0;
  for (size_t i = 0; i < g->n_tokens; i++)
    ok |= gh__ct_equal(g->tokens[i], strlen(g->tokens[i]), tok->ptr, tok->len);
  return ok;
}

static int server_on_hello(gh__tunnel *t, const gh__frame *f) {
  gh__hello h = {0};
  int bad = f->stream != 0 || gh__hello_decode(f->payload, f->len, &h) < 0;
  if (h.version != GH__PROTO_VERSION && f->len >= 2) {
    char msg[96];
    snprintf(msg, sizeof(msg),
             "unsupported protocol version %u (this server speaks %u)",
             h.version, GH__PROTO_VERSION);
    refuse(t, GH__REFUSE_VERSION, msg);
    return -1;
  }
  if (bad) {
    refuse(t, GH__REFUSE_MALFORMED, "malformed hello");
    return -1;
  }
  gh__gw *gw = find_gw(t->rt, h.gateway.ptr, h.gateway.len);
  if (!gw) {
    token_dummy_compare(&h.token);
    char why[128];
    snprintf(why, sizeof(why), "unknown gateway '%.*s'",
             (int)GH__MIN(h.gateway.len, 64u), h.gateway.ptr);
    refuse_as(t, GH__REFUSE_TOKEN, GH__REFUSE_GATEWAY, AUTH_REFUSAL, why);
    return -1;
  }
  if (!token_ok(gw->scfg, &h.token)) {
    gw->refusals++;
    char why[128];
    snprintf(why, sizeof(why), "bad token for gateway %s", gw->id);
    refuse_as(t, GH__REFUSE_TOKEN, GH__REFUSE_TOKEN, AUTH_REFUSAL, why);
    return -1;
  }
  if (t->rt->stopping) {
    refuse(t, GH__REFUSE_SHUTDOWN, "server is shutting down");
    return -1;
  }
  if (gw->n_tunnels >= gw->scfg->tunnels_max) {
    gw->tunnels_refused++;
    char msg[128];
    snprintf(msg, sizeof(msg),
             "gateway %s has its %u tunnels up already (tunnels_max)", gw->id,
             gw->scfg->tunnels_max);
    refuse(t, GH__REFUSE_LIMIT, msg);
    return -1;
  }
  token_hash(h.token.ptr, h.token.len, t->token_hash);
  t->gw = gw;
  t->gw_counted = 1;
  gw->n_tunnels++;
  t->peer_window = GH__MIN(h.window, (uint32_t)INT32_MAX);
  t->send_session = GH__MIN(h.session_window, (uint32_t)INT32_MAX);
  snprintf(t->subject, sizeof(t->subject), "tunnel %s %s", gw->id, t->peer);
  uint8_t buf[512];
  char host[256] = "gatehouse";
  gethostname(host, sizeof(host) - 1);
  gh__welcome w = {GH__PROTO_VERSION,
                   GH__WINDOW_INIT,
                   GH__SESSION_WINDOW,
                   t->rt->keepalive_ms,
                   {host, (uint32_t)strlen(host)}};
  int n = gh__welcome_encode(buf, sizeof(buf), &w);
  gh__tunnel_send(t, GH__FT_WELCOME, 0, 0, buf, (size_t)n);
  push_config(t, gw);
  unauth_leave(t);
  gh__tunnel_set_up(t);
  gh__gw_add_live(gw, t);
  gh__info(t->subject, "tunnel up: client %.*s, %s (%zu tunnel(s) for %s)",
           (int)h.name.len, h.name.ptr, SSL_get_version(t->ssl), gw->n_live,
           gw->id);
  snprintf(t->peer_name, sizeof(t->peer_name), "%.*s", (int)h.name.len,
           h.name.ptr);
  gh__event(GH__EV_TUNNEL_UP, t->subject, "tunnel up: client %.*s, %s %s",
            (int)h.name.len, h.name.ptr, SSL_get_version(t->ssl),
            SSL_get_cipher_name(t->ssl));
  return 0;
}

#define GH__NOTICE_BURST 4u

static void server_on_notice(gh__tunnel *t, const gh__frame *f) {
  gh__notice n;
  if (gh__notice_decode(f->payload, f->len, &n) < 0) {
    gh__tunnel_close(t, "protocol error: malformed NOTICE");
    return;
  }
  /* A client sends NOTICEs at will: at most GH__NOTICE_BURST lines a
   * second per cloud destination (a client that reports all of them at
   * once, or a quick change such as a port freed, is heard), as many per
   * tunnel for anything else; the next line says how many went unlogged. */
  gh__drt *d = gh__gw_find_dest(t->gw, n.destination.ptr, n.destination.len);
  int per_dest = d && d->cfg->type == GH__DEST_CLOUD;
  uint64_t *since = per_dest ? &d->notice_log_ms : &t->notice_log_ms;
  uint32_t *quiet = per_dest ? &d->notice_quiet : &t->notice_quiet;
  uint32_t *count = per_dest ? &d->notice_n : &t->notice_n;
  uint64_t now = uv_now(gh__g.loop);
  if (now >= *since + 1000) {
    *since = now;
    *count = 0;
  }
  int logged = *count < GH__NOTICE_BURST;
  if (!logged) {
    (*quiet)++;
  } else {
    char more[64] = "";
    if (*quiet)
      snprintf(more, sizeof(more), " (and %u more notices not logged)", *quiet);
    (*count)++;
    *quiet = 0;
    gh__event(GH__EV_NOTICE, t->subject, "client reports destination %.*s: %.*s",
              (int)n.destination.len, n.destination.ptr, (int)n.message.len,
              n.message.ptr);
    if (n.code < 0)
      gh__warn(t->subject, "client reports destination %.*s: %.*s%s",
               (int)n.destination.len, n.destination.ptr, (int)n.message.len,
               n.message.ptr, more);
    else
      gh__info(t->subject, "client reports destination %.*s: %.*s%s",
               (int)n.destination.len, n.destination.ptr, (int)n.message.len,
               n.message.ptr, more);
  }
  /* The client's word counts only for what runs on the client: the listen
   * side of a cloud destination. An on-prem destination's state is this
   * server's own listener; a client that cannot run its resource side is
   * only logged (its opens fail, other clients of the gateway may serve). */
  if (d && d->cfg->type != GH__DEST_CLOUD) {
    if (logged)
      gh__debug(t->subject,
                "destination %s is on-prem: its state is this server's own, "
                "the client's notice does not change it",
                d->cfg->name);
    return;
  }
  if (d) {
    char msg[1100];
    snprintf(msg, sizeof(msg), "client %s: %.*s", t->peer, (int)n.message.len,
             n.message.ptr);
    gh__drt_set_error(d, n.code, n.code < 0 ? msg : NULL);
  }
}

/* ---- what the tunnel calls ---- */

static int server_first_frame(gh__tunnel *t, const gh__frame *f) {
  if (f->type != GH__FT_HELLO)
    return GH_EPROTO;
  server_on_hello(t, f);
  return 0;
}

static int server_control(gh__tunnel *t, const gh__frame *f) {
  if (f->type != GH__FT_NOTICE)
    return GH_EPROTO;
  server_on_notice(t, f);
  return 0;
}

/* Its places in the caps are free again. */
static void server_tunnel_closing(gh__tunnel *t) {
  unauth_leave(t);
  if (t->gw_counted) {
    t->gw_counted = 0;
    t->gw->n_tunnels--;
  }
}

static SSL_CTX *server_crl_ctx(gh__tunnel *t) {
  return t->rt->scfg && t->rt->scfg->client_crl ? t->rt->ctx : NULL;
}

static const gh__tunnel_cbs server_tunnel_cbs = {
    .on_first_frame = server_first_frame,
    .on_control = server_control,
    .on_closing = server_tunnel_closing,
    .crl_ctx = server_crl_ctx,
    .log_failure = server_log_failure,
};

/* ---- reloading (SIGHUP) ---- */

static int same_str(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The destinations of gw that the new configuration keeps as they are
 * stay, with their streams; the others are retired. A kept one is blanked
 * in ncfg so that build_dests() skips it. */
static void sort_dests(gh__gw *gw, gh__server_cfg *ncfg) {
  size_t kept = 0;
  for (size_t i = 0; i < gw->n_dests; i++) {
    gh__drt *d = gw->dests[i];
    gh__dest *same = NULL;
    for (size_t j = 0; j < ncfg->n_dests && !same; j++)
      if (ncfg->dests[j].name &&
          strcmp(ncfg->dests[j].name, d->cfg->name) == 0 &&
          gh__dest_equal(&ncfg->dests[j], d->cfg))
        same = &ncfg->dests[j];
    if (same) {
      free(d->cfg->file); /* its own copy: the name as read now */
      d->cfg->file = gh__strdup(ncfg->file);
      d->cfg->line = same->line;
      memcpy(d->cfg->key_line, same->key_line, sizeof(d->cfg->key_line));
      gh__dest_free(same);
      memset(same, 0, sizeof(*same));
      gw->dests[kept++] = d;
      continue;
    }
    gh__info(d->cfg->name, "destination %s changed or removed: closing it",
             d->cfg->name);
    gh__drt_retire(d);
  }
  gw->n_dests = kept;
}

/* Sends the gateway's new destination set to its tunnels if it changed. */
static void repush(gh__gw *gw, const gh__server_cfg *ncfg) {
  uint8_t *push;
  size_t len;
  if (gh__dests_encode(ncfg, gw->id, &push, &len) < 0) {
    gh__error(gw->id, "cannot encode the destinations; clients keep theirs");
    return;
  }
  if (len == gw->push_len && memcmp(push, gw->push, len) == 0) {
    free(push);
    return;
  }
  free(gw->push);
  gw->push = push;
  gw->push_len = len;
  for (size_t i = 0; i < gw->n_live; i++)
    push_config(gw->live[i], gw);
  gh__info(gw->id, "new destination set pushed to %zu tunnel(s)", gw->n_live);
}

/* 1 when the token t authenticated with is still one of its gateway's. */
static int token_listed(const gh__tunnel *t) {
  int ok = 0;
  for (size_t i = 0; i < t->gw->scfg->n_tokens; i++) {
    uint8_t h[32];
    const char *tok = t->gw->scfg->tokens[i];
    token_hash(tok, strlen(tok), h);
    ok |= CRYPTO_memcmp(h, t->token_hash, sizeof(h)) == 0;
  }
  return ok;
}

/* After a reload: a tunnel whose token is no longer listed for its
 * gateway, or whose client certificate the new CRL revokes, is closed;
 * the others stay up with their streams. */
static void revoke_tunnels(gh__rt *rt) {
  gh__list *n = rt->tunnels.next;
  while (n != &rt->tunnels) {
    gh__tunnel *t = GH__CONTAINER_OF(n, gh__tunnel, node);
    n = n->next;
    if (t->state == GH__T_CLOSING || t->closing)
      continue;
    const char *why = NULL;
    if (t->gw && !t->gw->removed && t->gw->scfg && !token_listed(t))
      why = "its token was removed from the configuration";
    else if (t->ssl && t->state != GH__T_TLS && rt->scfg->client_crl &&
             gh__tls_peer_revoked(t->ssl, rt->ctx))
      why = "its client certificate is revoked (client_crl)";
    if (!why)
      continue;
    rt->revoked += t->state == GH__T_UP;
    gh__tunnel_close(t, why);
  }
}

int gh__server_reload(gh__rt *rt, const char *path, char *err, size_t errlen) {
  gh__server_cfg *ncfg = gh__xcalloc(1, sizeof(*ncfg));
  SSL_CTX *ctx = NULL;
  int r = gh__server_cfg_load(ncfg, path, err, errlen);
  for (size_t i = 0; r == 0 && i < ncfg->n_dests; i++)
    r = gh__dest_validate(&ncfg->dests[i], &gh__g.reg, err, errlen);
  if (r == 0 && !rt->tls_mem) {
    /* The same paths may hold renewed certificates: always re-read. */
    char why[512];
    ctx = gh__tls_ctx_from_files(1, ncfg->cert, ncfg->key, ncfg->client_ca,
                                 ncfg->client_crl, why, sizeof(why));
    if (!ctx) {
      snprintf(err, errlen, "%s: %s", path, why);
      r = GH_EINVAL;
    }
  }
  if (r < 0) {
    gh__server_cfg_free(ncfg);
    free(ncfg);
    return GH_EINVAL;
  }
  gh__server_cfg *old = rt->scfg;
  if (!same_str(old->tunnel_host, ncfg->tunnel_host) ||
      old->tunnel_port != ncfg->tunnel_port)
    gh__warn(rt->subject, "tunnel_listen: a change takes a restart; still "
                          "listening on the old address");
  if (!same_str(old->common.admin_host, ncfg->common.admin_host) ||
      old->common.admin_port != ncfg->common.admin_port)
    gh__warn(rt->subject, "admin_listen: a change takes a restart");
  if (!same_str(old->common.user, ncfg->common.user) ||
      !same_str(old->common.group, ncfg->common.group))
    gh__warn(rt->subject, "user/group: a change takes a restart");
  if (ctx) {
    SSL_CTX_free(rt->ctx); /* tunnels up hold their own reference */
    rt->ctx = ctx;
  }
  rt->keepalive_ms = ncfg->common.keepalive_s * 1000u;
  rt->keepalive_timeout_ms = ncfg->common.keepalive_timeout_s * 1000u;
  rt->drain_ms = ncfg->common.drain_timeout_s * 1000u;
  rt->handshake_ms = ncfg->handshake_timeout_s * 1000u;
  rt->connecting_max = ncfg->common.connecting_max;
  rt->open_queue_max = ncfg->common.open_queue_max;
  gh__mux_limits_changed(rt);

  /* Gateways: kept ones take their new tokens (for new tunnels), removed
   * ones close, new ones are made. */
  size_t n_old = rt->n_gws;
  for (size_t i = 0; i < n_old; i++) {
    gh__gw *gw = rt->gws[i];
    if (gw->removed)
      continue;
    const gh__server_gw *g = NULL;
    for (size_t k = 0; k < ncfg->n_gateways && !g; k++)
      if (strcmp(ncfg->gateways[k].id, gw->id) == 0)
        g = &ncfg->gateways[k];
    if (!g) {
      gh__info(gw->id, "gateway %s removed: closing its tunnels", gw->id);
      gh__gw_remove(gw, "gateway removed from the configuration");
      gw->scfg = NULL; /* it points into the old configuration */
      continue;
    }
    gw->scfg = g;
  }
  for (size_t k = 0; k < ncfg->n_gateways; k++)
    if (!find_gw(rt, ncfg->gateways[k].id, strlen(ncfg->gateways[k].id))) {
      gh__info(ncfg->gateways[k].id, "gateway %s added", ncfg->gateways[k].id);
      gw_new(rt, &ncfg->gateways[k]);
    }
  /* Clients get the whole new set (encoded before sort_dests() takes the
   * kept ones out of ncfg), then this side follows: kept destinations
   * stay, the others close, the new ones open. */
  for (size_t i = 0; i < rt->n_gws; i++)
    if (!rt->gws[i]->removed)
      repush(rt->gws[i], ncfg);
  for (size_t i = 0; i < n_old; i++)
    if (!rt->gws[i]->removed)
      sort_dests(rt->gws[i], ncfg);
  int failed = build_dests(rt, ncfg, 1, err, errlen);
  /* The runtime's configuration is now the new one; nothing borrows from
   * the old (kept gateways point into the new, destinations own theirs). */
  rt->scfg = ncfg;
  gh__server_cfg_free(old);
  free(old);
  revoke_tunnels(rt);
  return failed;
}
