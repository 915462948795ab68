/* The client: keeps `connections` tunnels to every server of every gateway,
 * reconnecting with capped exponential backoff and jitter for ever, and
 * runs the destinations each gateway's server pushes: it connects to the
 * resources of on-prem destinations (after its ACL agrees) and listens for
 * cloud destinations. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "client.h"
#include "console/console.h"
#include "gateway.h"
#include "log.h"
#include "loop.h"
#include "mux.h"
#include "runtime.h"
#include "sockpath.h"
#include "stream.h"
#include "tls.h"
#include "tunnel.h"

#define GH__BACKOFF_MIN_MS 250u

static void slot_connect(gh__slot *sl);

/* ---- reconnecting ---- */

static void on_retry(uv_timer_t *tm) {
  slot_connect(tm->data);
}

static void slot_schedule(gh__slot *sl) {
  if (sl->stopped || sl->gw->rt->stopping)
    return;
  uint64_t cap = (uint64_t)sl->gw->rt->ccfg->reconnect_max_s * 1000u;
  uint64_t ms = GH__BACKOFF_MIN_MS;
  for (uint32_t i = 0; i < sl->attempts && ms < cap; i++)
    ms *= 2;
  ms = GH__MIN(ms, cap);
  uint32_t rnd = 0;
  RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
  ms = ms / 2 + rnd % (ms / 2 + 1); /* jitter: 50% to 100% */
  sl->attempts++;
  sl->gw->reconnects++;
  gh__debug(sl->gw->id, "reconnecting to %s:%u in %llu ms", sl->host, sl->port,
            (unsigned long long)ms);
  uv_timer_start(&sl->retry, on_retry, ms, 0);
}

static void client_tunnel_gone(gh__tunnel *t) {
  gh__slot *sl = t->slot;
  if (!sl)
    return;
  t->slot = NULL;
  sl->t = NULL;
  slot_schedule(sl);
}

static void on_connected(uv_connect_t *req, int status) {
  gh__tunnel *t = req->data;
  free(req);
  if (t->state == GH__T_CLOSING)
    return;
  gh__slot *sl = t->slot;
  if (status < 0) {
    char why[160];
    snprintf(why, sizeof(why), "cannot reach %s:%u: %s", sl->host, sl->port,
             uv_strerror(status));
    gh__tunnel_close(t, why);
    return;
  }
  const char *name =
      sl->gw->ccfg->server_name ? sl->gw->ccfg->server_name : sl->host;
  int r = gh__tunnel_start(t, 0, name);
  if (r < 0 && t->state != GH__T_CLOSING)
    gh__tunnel_close(t, "cannot start TLS");
}

static void on_resolved(uv_getaddrinfo_t *req, int status,
                        struct addrinfo *res) {
  gh__slot *sl = req->data;
  sl->resolving = 0;
  if (status < 0 || !res) {
    if (status != UV_ECANCELED) {
      gh__warn(sl->gw->id, "cannot resolve server %s: %s", sl->host,
               uv_strerror(status));
      slot_schedule(sl);
    }
    uv_freeaddrinfo(res);
    return;
  }
  if (sl->stopped || sl->gw->rt->stopping) {
    uv_freeaddrinfo(res);
    return;
  }
  gh__tunnel *t = gh__tunnel_new(sl->gw->rt, sl->gw->ctx);
  if (!t) {
    uv_freeaddrinfo(res);
    slot_schedule(sl);
    return;
  }
  t->slot = sl;
  t->gw = NULL;
  t->want_gw = sl->gw;
  t->next_id = 1; /* the client opens odd streams */
  sl->t = t;
  snprintf(t->peer, sizeof(t->peer), "%s:%u", sl->host, sl->port);
  snprintf(t->subject, sizeof(t->subject), "tunnel %s %s", sl->gw->id, t->peer);
  uv_connect_t *creq = gh__xcalloc(1, sizeof(*creq));
  creq->data = t;
  int r = uv_tcp_connect(creq, &t->tcp, res->ai_addr, on_connected);
  uv_freeaddrinfo(res);
  if (r < 0) {
    free(creq);
    char why[160];
    snprintf(why, sizeof(why), "cannot connect to %s:%u: %s", sl->host,
             sl->port, uv_strerror(r));
    gh__tunnel_close(t, why);
    return;
  }
  gh__tunnel_deadline(t, GH__HANDSHAKE_MS);
}

static void slot_connect(gh__slot *sl) {
  if (sl->stopped || sl->t || sl->resolving)
    return;
  struct addrinfo hints = {0};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  char port[8];
  snprintf(port, sizeof(port), "%u", sl->port);
  sl->gai.data = sl;
  sl->resolving = 1;
  int r =
      uv_getaddrinfo(gh__g.loop, &sl->gai, on_resolved, sl->host, port, &hints);
  if (r < 0) {
    sl->resolving = 0;
    gh__warn(sl->gw->id, "cannot resolve server %s: %s", sl->host,
             uv_strerror(r));
    slot_schedule(sl);
  }
}

/* ---- the first exchange ---- */

static void client_send_hello(gh__tunnel *t) {
  const gh__client_gw *g = t->slot->gw->ccfg;
  char host[256] = "gatehouse-client";
  gethostname(host, sizeof(host) - 1);
  gh__hello h = {GH__PROTO_VERSION,
                 GH__WINDOW_INIT,
                 GH__SESSION_WINDOW,
                 {g->id, (uint32_t)strlen(g->id)},
                 {g->token, (uint32_t)strlen(g->token)},
                 {host, (uint32_t)strlen(host)}};
  uint8_t buf[2048];
  int n = gh__hello_encode(buf, sizeof(buf), &h);
  if (n < 0) {
    gh__tunnel_close(t, "cannot encode hello");
    return;
  }
  gh__tunnel_send(t, GH__FT_HELLO, 0, 0, buf, (size_t)n);
  OPENSSL_cleanse(buf, sizeof(buf));
}

static int client_on_welcome(gh__tunnel *t, const gh__frame *f) {
  gh__slot *sl = t->slot;
  if (f->type == GH__FT_REFUSE) {
    gh__fail fl;
    char why[1200];
    if (gh__fail_decode(f->payload, f->len, &fl) < 0)
      snprintf(why, sizeof(why), "server refused the tunnel");
    else
      snprintf(why, sizeof(why), "server refused the tunnel: %.*s",
               (int)fl.message.len, fl.message.ptr);
    gh__error(t->subject, "%s", why);
    gh__tunnel_close(t, why);
    return -1;
  }
  gh__welcome w;
  if (gh__welcome_decode(f->payload, f->len, &w) < 0 ||
      w.version != GH__PROTO_VERSION) {
    gh__tunnel_close(t, "protocol error: bad welcome");
    return -1;
  }
  t->gw = sl->gw;
  t->peer_window = GH__MIN(w.window, (uint32_t)INT32_MAX);
  t->send_session = GH__MIN(w.session_window, (uint32_t)INT32_MAX);
  gh__tunnel_set_up(t);
  gh__gw_add_live(sl->gw, t);
  sl->attempts = 0;
  gh__info(t->subject, "tunnel up: server %.*s, %s %s (%zu tunnel(s))",
           (int)w.name.len, w.name.ptr, SSL_get_version(t->ssl),
           SSL_get_cipher_name(t->ssl), sl->gw->n_live);
  snprintf(t->peer_name, sizeof(t->peer_name), "%.*s", (int)w.name.len,
           w.name.ptr);
  gh__event(GH__EV_TUNNEL_UP, t->subject, "tunnel up: server %.*s, %s %s",
            (int)w.name.len, w.name.ptr, SSL_get_version(t->ssl),
            SSL_get_cipher_name(t->ssl));
  return 0;
}

/* ---- pushed destinations ---- */

static void notice(gh__tunnel *t, const char *dest, int32_t code,
                   const char *msg) {
  uint8_t buf[1400];
  gh__notice n = {{dest, (uint32_t)strlen(dest)},
                  code,
                  {msg, (uint32_t)GH__MIN(strlen(msg), (size_t)1024)}};
  int len = gh__notice_encode(buf, sizeof(buf), &n);
  if (len > 0)
    gh__tunnel_send(t, GH__FT_NOTICE, 0, 0, buf, (size_t)len);
}

/* What a push makes the client log (a destination started, refused,
 * removed) is the server's doing: a compromised one could push in a loop,
 * so those lines take from the gateway's bucket: 64 at once (a push of as
 * many destinations is logged whole), then 8 a second, and the next line
 * says how many were not logged. */
static void push_log(gh__gw *gw, int level, const char *subject,
                     const char *fmt, ...) GH_PRINTF(4, 5);
static void push_log(gh__gw *gw, int level, const char *subject,
                     const char *fmt, ...) {
  if (level > gh__log_level)
    return;
  uint32_t quiet = gw->push_log.quiet;
  if (!gh__rl_take(&gw->push_log, uv_now(gh__g.loop), 64, 8))
    return;
  char msg[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  gw->push_log.quiet = 0;
  if (quiet)
    gh__log_write(level, subject,
                  "%s (and %u more lines about pushed destinations, not "
                  "logged)",
                  msg, quiet);
  else
    gh__log_write(level, subject, "%s", msg);
}

/* Another gateway of this client already listens on the port (or the
 * socket path). */
static gh__drt *port_owner(gh__rt *rt, const gh__dest *c) {
  for (size_t g = 0; g < rt->n_gws; g++)
    for (size_t i = 0; i < rt->gws[g]->n_dests; i++) {
      gh__drt *d = rt->gws[g]->dests[i];
      if (!d->listener || d->cfg->listen_unix != c->listen_unix)
        continue;
      if (c->listen_unix ? strcmp(d->cfg->listen_host, c->listen_host) == 0
                         : d->cfg->client_port == c->client_port)
        return d;
    }
  return NULL;
}

/* Where a cloud destination listens: its socket path, or its address. */
static int cloud_listen(gh__drt *d) {
  const gh__dest *c = d->cfg;
  if (c->listen_unix)
    return gh__drt_listen(d, c->listen_host, 0);
  return gh__drt_listen(d, c->client_bind, c->client_port);
}

/* The listen policy: a socket path needs a `listen = unix:GLOB` rule; an
 * address a non-loopback one or a privileged port needs a listen rule. */
static int listen_allowed(const gh__acl *acl, const gh__dest *c) {
  if (c->listen_unix)
    return gh__sockpath_listen_ok(acl, c->listen_host, NULL);
  return gh__acl_listen_check(acl, c->client_bind, c->client_port, NULL);
}

static void start_dest(gh__tunnel *t, gh__gw *gw, gh__dest *c) {
  char err[512];
  if (gh__dest_validate(c, &gh__g.reg, err, sizeof(err)) < 0) {
    push_log(gw, GH_LOG_ERROR, gw->id, "destination %s cannot run here: %s",
             c->name, err);
    notice(t, c->name, GH_EINVAL, err);
    gh__dest_free(c);
    free(c);
    return;
  }
  uint32_t side = c->type == GH__DEST_CLOUD ? GH_SIDE_LISTEN : GH_SIDE_RESOURCE;
  gh__drt *d;
  if (gh__drt_new(gw, c, side, &d, err, sizeof(err)) < 0) {
    push_log(gw, GH_LOG_ERROR, gw->id, "%s", err);
    notice(t, c->name, GH_EINVAL, err);
    gh__dest_free(c);
    free(c);
    return;
  }
  gw->dests = gh__xrealloc(gw->dests, (gw->n_dests + 1) * sizeof(*gw->dests));
  gw->dests[gw->n_dests++] = d;
  char where[300];
  if (side != GH_SIDE_LISTEN) {
    gh__dest_resource_text(c, where, sizeof(where));
    push_log(gw, GH_LOG_INFO, gw->id, "destination %s: on-prem resource %s",
             c->name, where);
    return;
  }
  /* The client's file says where a server may make it listen: a
   * non-loopback address or a privileged port (the packaged unit grants
   * CAP_NET_BIND_SERVICE) only where a listen rule allows it, a socket
   * path only where a unix: listen rule does. */
  gh__dest_listen_text(c, where, sizeof(where));
  const gh__acl *acl = gh__client_acl(gw->rt->ccfg, gw->id);
  if (!listen_allowed(acl, c)) {
    snprintf(err, sizeof(err),
             "listen on %s refused by the client's listen policy "
             "(%s: %s, unless a listen = rule in [acl%s%s] allows it)",
             where, gw->rt->ccfg->file,
             c->listen_unix ? "no socket path"
                            : "loopback on ports 1024-65535 only",
             acl == &gw->rt->ccfg->acl ? "" : " ",
             acl == &gw->rt->ccfg->acl ? "" : gw->id);
    push_log(gw, GH_LOG_ERROR, c->name, "%s", err);
    gh__drt_set_error(d, GH_EDENIED, err);
    notice(t, c->name, GH_EDENIED, err);
    return;
  }
  gh__drt *owner = port_owner(gw->rt, c);
  int r = owner ? GH_EADDRINUSE : cloud_listen(d);
  if (r < 0) {
    if (owner && c->listen_unix)
      snprintf(err, sizeof(err),
               "cannot listen on %s: destination %s of gateway %s already "
               "listens there",
               where, owner->cfg->name, owner->gw->id);
    else if (owner)
      snprintf(err, sizeof(err),
               "cannot listen on port %u: destination %s of gateway %s "
               "already listens there",
               c->client_port, owner->cfg->name, owner->gw->id);
    else
      snprintf(err, sizeof(err), "cannot listen on %s: %s", where,
               gh_strerror(r));
    push_log(gw, GH_LOG_ERROR, c->name, "%s", err);
    gh__drt_set_error(d, r, err);
    notice(t, c->name, r, err);
    return;
  }
  push_log(gw, GH_LOG_INFO, c->name, "listening on %s for gateway %s", where,
           gw->id);
  notice(t, c->name, 0, "listening");
}

/* A cloud destination refused its port because another gateway's
 * destination held it: once that one is gone, it takes the port, and tells
 * its server. */
static void rebind_waiting(gh__rt *rt) {
  for (size_t g = 0; g < rt->n_gws; g++) {
    gh__gw *gw = rt->gws[g];
    if (gw->removed)
      continue;
    for (size_t i = 0; i < gw->n_dests; i++) {
      gh__drt *d = gw->dests[i];
      if (d->side != GH_SIDE_LISTEN || d->listener ||
          d->status != GH_EADDRINUSE || port_owner(rt, d->cfg))
        continue;
      if (cloud_listen(d) < 0)
        continue;
      gh__drt_set_error(d, 0, NULL);
      char where[300];
      gh__dest_listen_text(d->cfg, where, sizeof(where));
      gh__info(d->cfg->name,
               "listening on %s for gateway %s (the port is free again)", where,
               gw->id);
      if (gw->n_live)
        notice(gw->live[0], d->cfg->name, 0, "listening");
    }
  }
}

/* The client's own [destination NAME] values replace what the server
 * pushed; a destination they do not fit is refused (and reported). */
static void apply_locals(gh__tunnel *t, gh__gw *gw, gh__dest *nd, size_t n) {
  const gh__client_cfg *cc = gw->rt->ccfg;
  char err[512];
  for (size_t i = 0; cc && i < cc->n_locals; i++) {
    const gh__local_dest *l = &cc->locals[i];
    if (strcmp(l->gateway, gw->id) != 0)
      continue;
    size_t j = 0;
    while (j < n && !(nd[j].name && strcmp(nd[j].name, l->name) == 0))
      j++;
    if (j == n) {
      push_log(gw, GH_LOG_INFO, gw->id,
               "%s:%d: [destination %s]: no destination %s was pushed by "
               "gateway %s; its values are unused",
               cc->file, l->line, l->name, l->name, gw->id);
      continue;
    }
    if (gh__dest_apply_local(&nd[j], l, err, sizeof(err)) < 0) {
      push_log(gw, GH_LOG_ERROR, gw->id, "destination %s cannot run here: %s",
               l->name, err);
      notice(t, l->name, GH_EINVAL, err);
      gh__dest_free(&nd[j]); /* skipped below: no name */
      continue;
    }
    char keys[400] = "";
    size_t used = 0;
    for (size_t k = 0; k < l->opts.n && used + 1 < sizeof(keys); k++) {
      int r = snprintf(keys + used, sizeof(keys) - used, "%s%s", k ? ", " : "",
                       l->opts.v[k].key);
      used += r > 0 ? (size_t)r : 0;
    }
    push_log(gw, GH_LOG_INFO, gw->id,
             "destination %s: %s from %s (the client's own, in place of what "
             "the server pushed)",
             l->name, keys[0] ? keys : "nothing", cc->file);
  }
}

static int client_on_config(gh__tunnel *t, const uint8_t *p, size_t len) {
  gh__gw *gw = t->gw;
  gh__dest *nd = NULL;
  size_t n = 0;
  char err[512];
  if (gh__dests_decode(p, len, &nd, &n, err, sizeof(err)) < 0) {
    push_log(gw, GH_LOG_ERROR, t->subject,
             "bad destination set from the server: %s", err);
    return -1;
  }
  apply_locals(t, gw, nd, n);
  /* Keep the unchanged, retire the removed and the changed. */
  size_t kept = 0;
  for (size_t i = 0; i < gw->n_dests; i++) {
    gh__drt *d = gw->dests[i];
    int keep = 0;
    for (size_t j = 0; j < n; j++)
      if (nd[j].name && strcmp(nd[j].name, d->cfg->name) == 0 &&
          gh__dest_equal(&nd[j], d->cfg)) {
        keep = 1;
        gh__dest_free(&nd[j]);
        memset(&nd[j], 0, sizeof(nd[j]));
      }
    if (keep) {
      gw->dests[kept++] = d;
    } else {
      push_log(gw, GH_LOG_INFO, gw->id, "destination %s removed", d->cfg->name);
      gh__drt_retire(d);
    }
  }
  gw->n_dests = kept;
  rebind_waiting(gw->rt);
  for (size_t j = 0; j < n; j++) {
    if (!nd[j].name)
      continue;
    gh__dest *c = gh__xcalloc(1, sizeof(*c));
    *c = nd[j];
    start_dest(t, gw, c);
  }
  free(nd);
  return 0;
}

/* ---- the admission of a resource (rt->admit) ---- */

/* The client's ACL, for its gateway: a resource it does not allow is
 * refused with the rule that denied it. */
static int client_admit(const gh__drt *d, const gh_addr *addrs, size_t n,
                        char *why, size_t len) {
  const gh__dest *c = d->cfg;
  const gh__client_cfg *cc = d->gw->rt->ccfg;
  int line = 0;
  const gh__acl *acl = gh__client_acl(cc, d->gw->id);
  int allowed =
      gh__acl_check(acl, c->resource_host, c->resource_port, addrs, n, &line);
  gh__console_acl_hit(d->gw->id, line, allowed);
  if (allowed)
    return 0;
  if (line)
    snprintf(why, len, "resource %s:%u refused by the ACL (%s:%d)",
             c->resource_host, c->resource_port, cc->file, line);
  else
    snprintf(why, len, "resource %s:%u refused by the ACL (no rule allows it)",
             c->resource_host, c->resource_port);
  return GH_EDENIED;
}

/* The client's ACL for a socket path: its unix: rules, for the path as
 * pushed and for where it really leads. */
static int client_admit_path(const gh__drt *d, const char *path, char *real,
                             size_t reallen, char *why, size_t len) {
  const gh__client_cfg *cc = d->gw->rt->ccfg;
  const gh__acl *acl = gh__client_acl(cc, d->gw->id);
  int line = 0, resolved = 0;
  int r = gh__sockpath_admit(acl, path, real, reallen, &line, &resolved);
  if (r < 0) {
    snprintf(why, len, "connect to unix:%s failed: %s", path, gh_strerror(r));
    return r;
  }
  gh__console_acl_hit(d->gw->id, line, r);
  if (r)
    return 0;
  char via[PATH_MAX + 32] = "";
  if (resolved)
    snprintf(via, sizeof(via), " (it leads to %s)", real);
  if (line)
    snprintf(why, len, "resource unix:%s%s refused by the ACL (%s:%d)", path,
             via, cc->file, line);
  else
    snprintf(why, len,
             "resource unix:%s%s refused by the ACL (no unix: rule allows it)",
             path, via);
  return GH_EDENIED;
}

/* ---- what the tunnel calls ---- */

static int client_first_frame(gh__tunnel *t, const gh__frame *f) {
  if (f->type != GH__FT_WELCOME && f->type != GH__FT_REFUSE)
    return GH_EPROTO;
  client_on_welcome(t, f);
  return 0;
}

/* CONFIG comes in slices (GH__FF_MORE), gathered up to GH__CONFIG_MAX. */
static int client_control(gh__tunnel *t, const gh__frame *f) {
  if (f->type != GH__FT_CONFIG || f->stream != 0)
    return GH_EPROTO;
  if (t->cfg_len + f->len > GH__CONFIG_MAX) {
    gh__tunnel_close(t, "protocol error: configuration too large");
    return 0;
  }
  if (f->len) {
    uint8_t *p = realloc(t->cfg_acc, t->cfg_len + f->len);
    if (!p) { /* its size is the peer's: refused, not an abort */
      gh__tunnel_close(t, "out of memory");
      return 0;
    }
    t->cfg_acc = p;
    memcpy(p + t->cfg_len, f->payload, f->len);
    t->cfg_len += f->len;
  }
  if (!(f->flags & GH__FF_MORE)) {
    client_on_config(t, t->cfg_acc, t->cfg_len);
    free(t->cfg_acc);
    t->cfg_acc = NULL;
    t->cfg_len = 0;
  }
  return 0;
}

static SSL_CTX *client_crl_ctx(gh__tunnel *t) {
  const gh__gw *gw = t->slot ? t->slot->gw : NULL;
  return gw && gw->ccfg && gw->ccfg->crl ? gw->ctx : NULL;
}

static const gh__tunnel_cbs client_tunnel_cbs = {
    .on_tls_up = client_send_hello,
    .on_first_frame = client_first_frame,
    .on_control = client_control,
    .on_gone = client_tunnel_gone,
    .crl_ctx = client_crl_ctx,
};

/* ---- starting ---- */

/* Makes gateway g's runtime (its TLS context and its slots, servers x
 * connections) and starts connecting. */
static int gw_start(gh__rt *rt, const gh__client_gw *g, char *err,
                    size_t errlen) {
  gh__gw *gw = gh__xcalloc(1, sizeof(*gw));
  gw->rt = rt;
  gw->id = gh__strdup(g->id);
  gw->ccfg = g;
  rt->gws = gh__xrealloc(rt->gws, (rt->n_gws + 1) * sizeof(*rt->gws));
  rt->gws[rt->n_gws++] = gw;
  char why[512];
  gw->ctx = rt->tls_mem
                ? gh__tls_client_ctx(rt->tls_mem, why, sizeof(why))
                : gh__tls_ctx_from_files(0, g->cert, g->key, g->ca, g->crl,
                                         why, sizeof(why));
  if (!gw->ctx) {
    snprintf(err, errlen, "gateway %s: %s", g->id, why);
    return GH_EINVAL;
  }
  gw->n_slots = g->n_servers * g->connections;
  gw->slots = gh__xcalloc(gw->n_slots, sizeof(*gw->slots));
  for (size_t k = 0; k < gw->n_slots; k++) {
    gh__slot *sl = &gw->slots[k];
    sl->gw = gw;
    sl->index = (uint32_t)k;
    const char *spec = g->servers[k / g->connections];
    if (gh__hostport_parse(spec, &sl->host, &sl->port) < 0 || !sl->host) {
      snprintf(err, errlen, "gateway %s: bad server address %s", g->id, spec);
      gw->n_slots = k; /* those with a timer to close */
      return GH_EINVAL;
    }
    uv_timer_init(gh__g.loop, &sl->retry);
    sl->retry.data = sl;
    slot_connect(sl);
  }
  gh__info(rt->subject, "gateway %s: %zu tunnel(s) to %zu server(s)", g->id,
           gw->n_slots, g->n_servers);
  return 0;
}

int gh__client_start(gh__rt *rt, gh__client_cfg *cfg, char *err,
                     size_t errlen) {
  gh__rt_init(rt, GH__ROLE_CLIENT, cfg->common.keepalive_s,
              cfg->common.keepalive_timeout_s, cfg->common.drain_timeout_s);
  rt->tunnel_cbs = &client_tunnel_cbs;
  rt->admit = client_admit;
  rt->admit_path = client_admit_path;
  rt->ccfg = cfg;
  rt->connecting_max = cfg->common.connecting_max;
  rt->open_queue_max = cfg->common.open_queue_max;
  for (size_t i = 0; i < cfg->n_gateways; i++) {
    int r = gw_start(rt, &cfg->gateways[i], err, errlen);
    if (r < 0)
      return r;
  }
  return 0;
}

/* ---- reloading (SIGHUP) ---- */

static int same_str(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int gw_cfg_equal(const gh__client_gw *a, const gh__client_gw *b) {
  if (!same_str(a->token, b->token) || !same_str(a->ca, b->ca) ||
      !same_str(a->crl, b->crl) ||
      !same_str(a->cert, b->cert) || !same_str(a->key, b->key) ||
      !same_str(a->server_name, b->server_name) ||
      a->connections != b->connections || a->n_servers != b->n_servers)
    return 0;
  for (size_t i = 0; i < a->n_servers; i++)
    if (!same_str(a->servers[i], b->servers[i]))
      return 0;
  return 1;
}

/* The client's own [destination] sections for gateway `id` are the same. */
static int locals_equal(const gh__client_cfg *a, const gh__client_cfg *b,
                        const char *id) {
  size_t na = 0, nb = 0;
  for (size_t i = 0; i < a->n_locals; i++) {
    const gh__local_dest *x = &a->locals[i];
    if (strcmp(x->gateway, id) != 0)
      continue;
    na++;
    const gh__local_dest *y = gh__local_dest_find(b, id, x->name);
    if (!y || x->opts.n != y->opts.n)
      return 0;
    for (size_t k = 0; k < x->opts.n; k++)
      if (!same_str(x->opts.v[k].key, y->opts.v[k].key) ||
          !same_str(x->opts.v[k].value, y->opts.v[k].value))
        return 0;
  }
  for (size_t i = 0; i < b->n_locals; i++)
    nb += strcmp(b->locals[i].gateway, id) == 0;
  return na == nb;
}

/* Stops a gateway's slots and tunnels and retires its destinations. Its
 * struct and slots stay allocated: timers close later, and tunnels being
 * torn down still point at them. */
static void gw_stop(gh__gw *gw, const char *why) {
  for (size_t k = 0; k < gw->n_slots; k++) {
    gh__slot *sl = &gw->slots[k];
    sl->stopped = 1;
    uv_timer_stop(&sl->retry);
    uv_close((uv_handle_t *)&sl->retry, NULL);
    if (sl->resolving)
      uv_cancel((uv_req_t *)&sl->gai);
  }
  gh__gw_remove(gw, why);
  gw->ccfg = NULL; /* it points into the old configuration */
  rebind_waiting(gw->rt);
}

/* A kept gateway with a CRL re-reads it (a new list, same path): new
 * tunnels check against it, and a tunnel up to a server whose certificate
 * it revokes is closed. */
static void crl_reload(gh__gw *gw) {
  char why[512];
  const gh__client_gw *g = gw->ccfg;
  SSL_CTX *ctx = gh__tls_ctx_from_files(0, g->cert, g->key, g->ca, g->crl, why,
                                        sizeof(why));
  if (!ctx) {
    gh__error(gw->id, "gateway %s: %s; keeping the CRL read before", gw->id,
              why);
    return;
  }
  SSL_CTX_free(gw->ctx); /* tunnels hold their own reference */
  gw->ctx = ctx;
  gh__list *n = gw->rt->tunnels.next;
  while (n != &gw->rt->tunnels) {
    gh__tunnel *t = GH__CONTAINER_OF(n, gh__tunnel, node);
    n = n->next;
    if (t->slot && t->slot->gw == gw && t->state != GH__T_CLOSING &&
        !t->closing && t->state != GH__T_TLS &&
        gh__tls_peer_revoked(t->ssl, ctx))
      gh__tunnel_close(t, "the server's certificate is revoked (crl)");
  }
}

int gh__client_reload(gh__rt *rt, const char *path, char *err, size_t errlen) {
  gh__client_cfg *ncfg = gh__xcalloc(1, sizeof(*ncfg));
  if (gh__client_cfg_load(ncfg, path, err, errlen) < 0) {
    free(ncfg);
    return GH_EINVAL;
  }
  gh__client_cfg *old = rt->ccfg;
  if (!same_str(old->common.admin_host, ncfg->common.admin_host) ||
      old->common.admin_port != ncfg->common.admin_port)
    gh__warn(rt->subject, "admin_listen: a change takes a restart");
  if (!same_str(old->common.user, ncfg->common.user) ||
      !same_str(old->common.group, ncfg->common.group))
    gh__warn(rt->subject, "user/group: a change takes a restart");
  rt->keepalive_ms = ncfg->common.keepalive_s * 1000u;
  rt->keepalive_timeout_ms = ncfg->common.keepalive_timeout_s * 1000u;
  rt->drain_ms = ncfg->common.drain_timeout_s * 1000u;
  rt->connecting_max = ncfg->common.connecting_max;
  rt->open_queue_max = ncfg->common.open_queue_max;
  gh__mux_limits_changed(rt);
  /* A gateway whose settings (or own destination files) are unchanged
   * keeps its tunnels and streams; any other is restarted. */
  size_t n_old = rt->n_gws;
  for (size_t i = 0; i < n_old; i++) {
    gh__gw *gw = rt->gws[i];
    if (gw->removed)
      continue;
    const gh__client_gw *g = NULL;
    for (size_t k = 0; k < ncfg->n_gateways && !g; k++)
      if (strcmp(ncfg->gateways[k].id, gw->id) == 0)
        g = &ncfg->gateways[k];
    /* A listen policy that changed restarts the gateway, so that its
     * destinations are pushed again and checked against it. */
    if (g && gw_cfg_equal(gw->ccfg, g) && locals_equal(old, ncfg, gw->id) &&
        gh__acl_listen_equal(gh__client_acl(old, gw->id),
                             gh__client_acl(ncfg, gw->id))) {
      gw->ccfg = g;
      if (g->crl && !rt->tls_mem)
        crl_reload(gw);
      continue;
    }
    gh__info(gw->id, "gateway %s %s: closing its tunnels", gw->id,
             g ? "changed" : "removed");
    gw_stop(gw, g ? "gateway changed in the configuration"
                  : "gateway removed from the configuration");
  }
  for (size_t k = 0; k < ncfg->n_gateways; k++) {
    const char *id = ncfg->gateways[k].id;
    int have = 0;
    for (size_t i = 0; i < rt->n_gws && !have; i++)
      have = !rt->gws[i]->removed && strcmp(rt->gws[i]->id, id) == 0;
    char why[512];
    if (!have && gw_start(rt, &ncfg->gateways[k], why, sizeof(why)) < 0) {
      /* A file that went bad since `check` (e.g. an unreadable CA). */
      gh__error(id, "%s", why);
      gw_stop(rt->gws[rt->n_gws - 1], why);
    }
  }
  /* The ACL applies to new streams from now on. The runtime's
   * configuration is now the new one (kept gateways point into it). */
  rt->ccfg = ncfg;
  gh__client_cfg_free(old);
  free(old);
  return 0;
}
