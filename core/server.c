/* The server: accepts tunnels, authenticates them by gateway and token,
 * pushes each gateway's destinations, listens for on-prem destinations and
 * connects to the resources of cloud destinations. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "internal.h"

int gh__sockaddr_resolve(const char *host, uint16_t port,
                         struct sockaddr_storage *ss) {
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  char ps[8];
  snprintf(ps, sizeof(ps), "%u", port);
  int r = getaddrinfo(host && *host ? host : NULL, ps, &hints, &res);
  if (r != 0)
    return GH_ENOTFOUND;
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return 0;
}

static void on_tunnel_conn(uv_stream_t *srv, int status) {
  gh__rt *rt = srv->data;
  if (status < 0) {
    gh__warn(rt->subject, "accepting a tunnel failed: %s", uv_strerror(status));
    return;
  }
  gh__tunnel *t = gh__tunnel_new(rt, rt->ctx);
  if (!t)
    return;
  t->next_id = 2; /* the server opens even streams */
  if (uv_accept(srv, (uv_stream_t *)&t->tcp) < 0 ||
      gh__tunnel_start(t, 1, NULL) < 0) {
    gh__tunnel_close(t, "accept failed");
    return;
  }
  rt->tunnels_accepted++;
  gh__debug(t->subject, "connection accepted");
}

static gh__gw *find_gw(gh__rt *rt, const char *id, size_t len) {
  for (size_t i = 0; i < rt->n_gws; i++)
    if (strlen(rt->gws[i]->id) == len && memcmp(rt->gws[i]->id, id, len) == 0)
      return rt->gws[i];
  return NULL;
}

static int build_gateways(gh__rt *rt, gh__server_cfg *cfg) {
  rt->gws = gh__xcalloc(cfg->n_gateways, sizeof(*rt->gws));
  for (size_t i = 0; i < cfg->n_gateways; i++) {
    gh__gw *gw = gh__xcalloc(1, sizeof(*gw));
    gw->rt = rt;
    gw->id = gh__strdup(cfg->gateways[i].id);
    gw->scfg = &cfg->gateways[i];
    int r = gh__dests_encode(cfg, gw->id, &gw->push, &gw->push_len);
    rt->gws[rt->n_gws++] = gw;
    if (r < 0)
      return r;
  }
  return 0;
}

static int build_dests(gh__rt *rt, gh__server_cfg *cfg, char *err,
                       size_t errlen) {
  for (size_t i = 0; i < cfg->n_dests; i++) {
    gh__dest *c = gh__xcalloc(1, sizeof(*c));
    *c = cfg->dests[i];
    memset(&cfg->dests[i], 0, sizeof(cfg->dests[i]));
    gh__gw *gw = find_gw(rt, c->gateway, strlen(c->gateway));
    uint32_t side =
        c->type == GH__DEST_ONPREM ? GH_SIDE_LISTEN : GH_SIDE_RESOURCE;
    gh__drt *d;
    int r = gh__drt_new(gw, c, side, &d, err, errlen);
    if (r < 0) {
      gh__dest_free(c);
      free(c);
      return r;
    }
    gw->dests = realloc(gw->dests, (gw->n_dests + 1) * sizeof(*gw->dests));
    gw->dests[gw->n_dests++] = d;
    if (side == GH_SIDE_LISTEN) {
      const char *host = c->listen_host ? c->listen_host : "*";
      r = gh__drt_listen(d, c->listen_host, c->listen_port);
      if (r < 0) {
        snprintf(err, errlen,
                 "%s:%d: destination %s: cannot listen on %s:%u: %s", c->file,
                 c->line, c->name, host, c->listen_port, gh_strerror(r));
        return r;
      }
      gh__info(c->name, "listening on %s:%u for gateway %s", host,
               c->listen_port, gw->id);
    }
  }
  cfg->n_dests = 0;
  return 0;
}

int gh__server_start(gh__rt *rt, gh__server_cfg *cfg, char *err,
                     size_t errlen) {
  gh__rt_init(rt, GH__ROLE_SERVER, cfg->keepalive_s, cfg->keepalive_timeout_s,
              cfg->drain_timeout_s);
  rt->scfg = cfg;
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
                                     why, sizeof(why));
    if (!rt->ctx) {
      snprintf(err, errlen, "%s: %s", cfg->file, why);
      return GH_EINVAL;
    }
  }
  for (size_t i = 0; i < cfg->n_dests; i++)
    if ((r = gh__dest_validate(&cfg->dests[i], &gh__g.reg, err, errlen)) < 0)
      return r;
  if ((r = build_gateways(rt, cfg)) < 0) {
    snprintf(err, errlen, "cannot encode the destinations: %s", gh_strerror(r));
    return r;
  }
  if ((r = build_dests(rt, cfg, err, errlen)) < 0)
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

static void refuse(gh__tunnel *t, int32_t code, const char *msg) {
  uint8_t buf[1100];
  gh__fail fl = {code, {msg, (uint32_t)strlen(msg)}};
  int n = gh__fail_encode(buf, sizeof(buf), &fl);
  if (n > 0)
    gh__tunnel_send(t, GH__FT_REFUSE, 0, 0, buf, (size_t)n);
  t->rt->hs_failures[gh__hsf_of_refusal(code)]++;
  char why[160];
  snprintf(why, sizeof(why), "refused: %s", msg);
  gh__tunnel_close(t, why);
}

/* Every token is compared, in constant time, whether or not one matched. */
static int token_ok(const gh__server_gw *g, const gh__str *tok) {
  int ok = 0;
  for (size_t i = 0; i < g->n_tokens; i++)
    ok |= gh__ct_equal(g->tokens[i], strlen(g->tokens[i]), tok->ptr, tok->len);
  return ok;
}

int gh__server_on_hello(gh__tunnel *t, const gh__frame *f) {
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
    gh__warn(t->subject, "unknown gateway '%.*s'", (int)h.gateway.len,
             h.gateway.ptr);
    refuse(t, GH__REFUSE_GATEWAY, "unknown gateway");
    return -1;
  }
  if (!token_ok(gw->scfg, &h.token)) {
    gw->refusals++;
    gh__warn(t->subject, "bad token for gateway %s", gw->id);
    refuse(t, GH__REFUSE_TOKEN, "bad token");
    return -1;
  }
  if (t->rt->stopping) {
    refuse(t, GH__REFUSE_SHUTDOWN, "server is shutting down");
    return -1;
  }
  t->gw = gw;
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
  size_t off = 0;
  do {
    size_t len = GH__MIN(gw->push_len - off, (size_t)GH__FRAME_MAX);
    int more = off + len < gw->push_len;
    gh__tunnel_send(t, GH__FT_CONFIG, more ? GH__FF_MORE : 0, 0, gw->push + off,
                    len);
    off += len;
  } while (off < gw->push_len);
  gh__tunnel_set_up(t);
  gh__gw_add_live(gw, t);
  gh__info(t->subject, "tunnel up: client %.*s, %s (%zu tunnel(s) for %s)",
           (int)h.name.len, h.name.ptr, SSL_get_version(t->ssl), gw->n_live,
           gw->id);
  return 0;
}

void gh__server_on_notice(gh__tunnel *t, const gh__frame *f) {
  gh__notice n;
  if (gh__notice_decode(f->payload, f->len, &n) < 0) {
    gh__tunnel_close(t, "protocol error: malformed NOTICE");
    return;
  }
  if (n.code < 0)
    gh__warn(t->subject, "client reports destination %.*s: %.*s",
             (int)n.destination.len, n.destination.ptr, (int)n.message.len,
             n.message.ptr);
  else
    gh__info(t->subject, "client reports destination %.*s: %.*s",
             (int)n.destination.len, n.destination.ptr, (int)n.message.len,
             n.message.ptr);
  gh__drt *d = gh__gw_find_dest(t->gw, n.destination.ptr, n.destination.len);
  if (d) {
    char msg[1100];
    snprintf(msg, sizeof(msg), "client %s: %.*s", t->peer, (int)n.message.len,
             n.message.ptr);
    gh__drt_set_error(d, n.code, n.code < 0 ? msg : NULL);
  }
}
