/* The console's JSON API, version 1 (docs/console.md): /api/v1/overview,
 * /api/v1/history and /api/v1/events; the per-second sampler behind the
 * rates and the traffic history; the ring of recent events. It shows
 * names, addresses and counts, never a token or a key. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../client.h"
#include "../config.h"
#include "../gateway.h"
#include "../loop.h"
#include "../runtime.h"
#include "../tunnel.h"
#include "../util.h"

#include "../acl.h"
#include "../buf.h"
#include "../log.h"
#include "console.h"

/* ---- JSON text ---- */

/* A JSON string: "..." escaped, or null for NULL. */
static void put_str(gh__buf *s, const char *v) {
  if (!v) {
    gh__buf_printf(s, "null");
    return;
  }
  char e[256 * 6 + 1];
  gh__json_escape(v, e, sizeof(e));
  gh__buf_printf(s, "\"%s\"", e);
}

static uint64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Newest first, at most max. */
static void render_events(gh__buf *s, size_t max) {
  gh__buf_printf(s, "[");
  const gh__event_rec *e;
  for (size_t i = 0; i < max && (e = gh__event_newest(i)); i++) {
    gh__buf_printf(s, "%s{\"time_ms\":%" PRIu64 ",\"kind\":\"%s\",\"subject\":",
                   i ? "," : "", e->time_ms, gh__event_kind_name(e->kind));
    put_str(s, e->subject);
    gh__buf_printf(s, ",\"message\":");
    put_str(s, e->message);
    gh__buf_printf(s, "}");
  }
  gh__buf_printf(s, "]");
}

/* ---- the client's [acl]: decisions by the rule's line ---- */

#define ACL_COUNTERS 4096 /* (gateway, line) pairs counted; more are not */

typedef struct acl_count {
  char *gw;
  int line;
  uint64_t allowed, denied;
} acl_count;

static acl_count *aclc;
static size_t n_aclc;

static acl_count *acl_find(const char *gw, int line, int add) {
  for (size_t i = 0; i < n_aclc; i++)
    if (aclc[i].line == line && strcmp(aclc[i].gw, gw) == 0)
      return &aclc[i];
  if (!add || n_aclc == ACL_COUNTERS)
    return NULL;
  if (!aclc)
    aclc = gh__xcalloc(ACL_COUNTERS, sizeof(*aclc));
  acl_count *a = &aclc[n_aclc++];
  a->gw = gh__strdup(gw);
  a->line = line;
  return a;
}

void gh__console_acl_hit(const char *gateway, int line, int allowed) {
  acl_count *a = acl_find(gateway, line, 1);
  if (a)
    *(allowed ? &a->allowed : &a->denied) += 1;
}

static void rule_target(const gh__acl_rule *r, char *out, size_t len) {
  char host[128], ports[32];
  if (r->path) {
    snprintf(out, len, "unix:%s", r->path);
    return;
  }
  if (r->any_host) {
    snprintf(host, sizeof(host), "*");
  } else if (r->name) {
    snprintf(host, sizeof(host), "%s", r->name);
  } else {
    gh_addr lo = {.family = r->range.family}, hi = {.family = r->range.family};
    memcpy(lo.addr, r->range.lo, 16);
    memcpy(hi.addr, r->range.hi, 16);
    char a[64], b[64];
    gh__addr_format(&lo, a, sizeof(a));
    gh__addr_format(&hi, b, sizeof(b));
    /* port 0: gh__addr_format writes the address alone */
    if (strcmp(a, b) == 0)
      snprintf(host, sizeof(host), "%s", a);
    else
      snprintf(host, sizeof(host), "%s-%s", a, b);
  }
  if (r->port_lo == 0 && r->port_hi == 65535)
    snprintf(ports, sizeof(ports), "*");
  else if (r->port_lo == r->port_hi)
    snprintf(ports, sizeof(ports), "%u", r->port_lo);
  else
    snprintf(ports, sizeof(ports), "%u-%u", r->port_lo, r->port_hi);
  if (r->any_host && r->port_lo == 0 && r->port_hi == 65535)
    snprintf(out, len, "*");
  else
    snprintf(out, len, "%s:%s", host, ports);
}

static void render_acl(gh__buf *s, const gh__rt *rt, const gh__gw *gw) {
  const gh__acl *acl = gh__client_acl(rt->ccfg, gw->id);
  gh__buf_printf(s, ",\"acl\":{\"present\":%s,\"file\":",
                 acl && acl->present ? "true" : "false");
  put_str(s, rt->ccfg->file);
  gh__buf_printf(s, ",\"rules\":[");
  int first = 1;
  for (size_t i = 0; acl && i < acl->n; i++) {
    const gh__acl_rule *r = &acl->v[i];
    if (r->listen)
      continue;
    char t[300];
    rule_target(r, t, sizeof(t));
    const acl_count *c = acl_find(gw->id, r->line, 0);
    gh__buf_printf(s, "%s{\"line\":%d,\"action\":\"%s\",\"target\":",
                   first ? "" : ",", r->line, r->allow ? "allow" : "deny");
    put_str(s, t);
    gh__buf_printf(s, ",\"hits\":%" PRIu64 "}", c ? c->allowed + c->denied : 0);
    first = 0;
  }
  const acl_count *none = acl_find(gw->id, 0, 0);
  gh__buf_printf(s, "],\"no_match_hits\":%" PRIu64 "}",
                 none ? none->denied : 0);
}

/* ---- the sampler: one sample a second per destination, while polled ---- */

enum { S_OPENS, S_REFUSALS, S_IN, S_OUT, S_N };

typedef struct series {
  char *gw, *name;
  uint64_t prev[S_N];
  uint64_t ring[GH__CONSOLE_HISTORY_S][S_N]; /* per second */
  size_t head, n;                            /* next slot, samples held */
  int seen;
} series;

static struct {
  uv_timer_t timer;
  int init, running;
  uint64_t last_poll_ms;
  gh__rt *rt;
  series **s;
  size_t n, cap;
} smp;

static void series_free(series *x) {
  free(x->gw);
  free(x->name);
  free(x);
}

static void sampler_clear(void) {
  for (size_t i = 0; i < smp.n; i++)
    series_free(smp.s[i]);
  free(smp.s);
  smp.s = NULL;
  smp.n = smp.cap = 0;
}

static series *series_find(const char *gw, const char *name) {
  for (size_t i = 0; i < smp.n; i++)
    if (strcmp(smp.s[i]->gw, gw) == 0 && strcmp(smp.s[i]->name, name) == 0)
      return smp.s[i];
  return NULL;
}

static void counters(const gh__drt *d, uint64_t v[S_N]) {
  v[S_OPENS] = d->st.opened;
  v[S_REFUSALS] = d->st.refused;
  v[S_IN] = d->st.bytes_in;
  v[S_OUT] = d->st.bytes_out;
}

static void sample(gh__rt *rt) {
  for (size_t i = 0; i < smp.n; i++)
    smp.s[i]->seen = 0;
  for (size_t i = 0; i < rt->n_gws; i++) {
    const gh__gw *gw = rt->gws[i];
    if (gw->removed)
      continue;
    for (size_t k = 0; k < gw->n_dests; k++) {
      const gh__drt *d = gw->dests[k];
      uint64_t v[S_N];
      counters(d, v);
      series *x = series_find(gw->id, d->cfg->name);
      if (!x) {
        if (smp.n == smp.cap) {
          size_t cap = smp.cap ? smp.cap * 2 : 16;
          smp.s = gh__xrealloc(smp.s, cap * sizeof(*smp.s));
          smp.cap = cap;
        }
        x = gh__xcalloc(1, sizeof(*x));
        x->gw = gh__strdup(gw->id);
        x->name = gh__strdup(d->cfg->name);
        memcpy(x->prev, v, sizeof(v));
        smp.s[smp.n++] = x;
        x->seen = 1;
        continue; /* the first reading is the baseline */
      }
      x->seen = 1;
      for (int j = 0; j < S_N; j++) {
        /* a replaced destination starts its counters again */
        x->ring[x->head][j] = v[j] >= x->prev[j] ? v[j] - x->prev[j] : v[j];
        x->prev[j] = v[j];
      }
      x->head = (x->head + 1) % GH__CONSOLE_HISTORY_S;
      if (x->n < GH__CONSOLE_HISTORY_S)
        x->n++;
    }
  }
  /* destinations gone (a reload) take their history with them */
  size_t o = 0;
  for (size_t i = 0; i < smp.n; i++)
    if (smp.s[i]->seen)
      smp.s[o++] = smp.s[i];
    else
      series_free(smp.s[i]);
  smp.n = o;
}

static void on_tick(uv_timer_t *t) {
  if (gh__now_ms() - smp.last_poll_ms > GH__CONSOLE_IDLE_S * 1000u) {
    /* nobody looks: no timer, no samples, no cost */
    uv_timer_stop(&smp.timer);
    smp.running = 0;
    sampler_clear();
    return;
  }
  sample(smp.rt);
}

static void sampler_poll(gh__rt *rt) {
  smp.last_poll_ms = gh__now_ms();
  smp.rt = rt;
  if (smp.running)
    return;
  if (!smp.init) {
    uv_timer_init(gh__g.loop, &smp.timer);
    uv_unref((uv_handle_t *)&smp.timer); /* never keeps the loop alive */
    smp.init = 1;
  }
  sample(rt); /* the baselines */
  uv_timer_start(&smp.timer, on_tick, 1000, 1000);
  smp.running = 1;
}

void gh__console_stop(void) {
  if (smp.init) {
    uv_timer_stop(&smp.timer);
    uv_close((uv_handle_t *)&smp.timer, NULL);
    smp.init = 0;
  }
  smp.running = 0;
  sampler_clear();
}

/* ---- /api/v1/overview ---- */

static void hostport(char *buf, size_t len, const char *host, uint16_t port) {
  if (host && strchr(host, ':'))
    snprintf(buf, len, "[%s]:%u", host, port);
  else
    snprintf(buf, len, "%s:%u", host && *host ? host : "", port);
}

static void render_tunnel(gh__buf *s, const gh__tunnel *t, uint64_t now,
                          uint64_t wall) {
  gh__buf_printf(s, "{\"peer\":");
  put_str(s, t->peer);
  gh__buf_printf(s, ",\"name\":");
  put_str(s, t->peer_name);
  gh__buf_printf(s, ",\"state\":\"%s\",\"tls_version\":",
                 t->state == GH__T_UP ? "up" : "handshake");
  put_str(s, t->ssl ? SSL_get_version(t->ssl) : NULL);
  gh__buf_printf(s, ",\"cipher\":");
  put_str(s, t->ssl ? SSL_get_cipher_name(t->ssl) : NULL);
  uint64_t up = t->state == GH__T_UP && t->up_since_ms ? now - t->up_since_ms
                                                       : 0;
  gh__buf_printf(s,
                 ",\"up_since_ms\":%" PRIu64 ",\"up_s\":%" PRIu64
                 ",\"streams\":%zu,\"rtt_ms\":%u,\"bytes_sent\":%" PRIu64
                 ",\"bytes_received\":%" PRIu64 "}",
                 wall - up, up / 1000u, t->streams.n, t->rtt_ms, t->io.sent,
                 t->bytes_received);
}

static void render_slot(gh__buf *s, const gh__slot *sl) {
  char hp[300];
  hostport(hp, sizeof(hp), sl->host, sl->port);
  const char *state = sl->t && sl->t->state == GH__T_UP ? "up"
                      : sl->t                           ? "connecting"
                      : sl->resolving                   ? "resolving"
                      : sl->stopped                     ? "stopped"
                                                        : "waiting";
  gh__buf_printf(s, "{\"server\":");
  put_str(s, hp);
  gh__buf_printf(s, ",\"connection\":%u,\"state\":\"%s\",\"attempts\":%u",
                 sl->index, state, sl->attempts);
  if (!sl->t && !sl->stopped && uv_is_active((const uv_handle_t *)&sl->retry))
    gh__buf_printf(s, ",\"next_retry_ms\":%" PRIu64,
                   uv_timer_get_due_in(&sl->retry));
  else
    gh__buf_printf(s, ",\"next_retry_ms\":null");
  gh__buf_printf(s, "}");
}

static void render_rate(gh__buf *s, const char *gw, const char *name) {
  const series *x = series_find(gw, name);
  if (!x || x->n == 0) {
    gh__buf_printf(s, "null");
    return;
  }
  const uint64_t *v =
      x->ring[(x->head + GH__CONSOLE_HISTORY_S - 1) % GH__CONSOLE_HISTORY_S];
  gh__buf_printf(s,
                 "{\"opens\":%" PRIu64 ",\"refusals\":%" PRIu64
                 ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64 "}",
                 v[S_OPENS], v[S_REFUSALS], v[S_IN], v[S_OUT]);
}

static void render_dest(gh__buf *s, const gh__gw *gw, const gh__drt *d) {
  const gh__dest *c = d->cfg;
  char a[300], b[300];
  if (c->listen_unix)
    gh__dest_listen_text(c, a, sizeof(a));
  else if (c->type == GH__DEST_ONPREM)
    hostport(a, sizeof(a), c->listen_host, c->listen_port);
  else
    hostport(a, sizeof(a), c->client_bind ? c->client_bind : "127.0.0.1",
             c->client_port);
  if (c->resource_unix)
    gh__dest_resource_text(c, b, sizeof(b));
  else
    hostport(b, sizeof(b), c->resource_host, c->resource_port);
  gh__buf_printf(s, "{\"gateway\":");
  put_str(s, gw->id);
  gh__buf_printf(s, ",\"name\":");
  put_str(s, c->name);
  gh__buf_printf(s, ",\"type\":\"%s\",\"side\":\"%s\",\"listen\":",
                 c->type == GH__DEST_ONPREM ? "onprem" : "cloud",
                 d->side == GH_SIDE_LISTEN ? "listen" : "resource");
  put_str(s, a);
  gh__buf_printf(s, ",\"resource\":");
  put_str(s, b);
  gh__buf_printf(s, ",\"chains\":{\"listen\":");
  put_str(s, d->listen_chain);
  gh__buf_printf(s, ",\"resource\":");
  put_str(s, d->resource_chain);
  gh__buf_printf(
      s, "},\"state\":\"%s\",\"reason\":", d->status != 0 ? "down" : "up");
  put_str(s, d->status != 0 ? (d->error ? d->error : "error") : NULL);
  gh__buf_printf(s,
                 ",\"streams\":%" PRIu64 ",\"opened\":%" PRIu64
                 ",\"refused\":%" PRIu64 ",\"failed\":%" PRIu64
                 ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
                 ",\"rate\":",
                 d->st.active, d->st.opened, d->st.refused, d->st.failed,
                 d->st.bytes_in, d->st.bytes_out);
  render_rate(s, gw->id, c->name);
  gh__buf_printf(s, "}");
}

static void overview(const gh__rt *rt, gh__buf *s) {
  uint64_t now = gh__now_ms(), wall = wall_ms();
  int server = rt->role == GH__ROLE_SERVER;
  gh__buf_printf(
      s,
      "{\"api\":%d,\"version\":\"%s\",\"role\":\"%s\",\"time_ms\":%" PRIu64
      ",\"sample_interval_s\":1,\"gateways\":[",
      GH__CONSOLE_API_VERSION, GH_VERSION_STRING, server ? "server" : "client",
      wall);
  int first = 1;
  for (size_t i = 0; i < rt->n_gws; i++) {
    const gh__gw *gw = rt->gws[i];
    if (gw->removed)
      continue;
    gh__buf_printf(s, "%s{\"id\":", first ? "" : ",");
    first = 0;
    put_str(s, gw->id);
    gh__buf_printf(s, ",\"tunnels\":[");
    for (size_t k = 0; k < gw->n_live; k++) {
      if (k)
        gh__buf_printf(s, ",");
      render_tunnel(s, gw->live[k], now, wall);
    }
    gh__buf_printf(s, "]");
    if (server) {
      gh__buf_printf(
          s, ",\"tunnels_refused\":%" PRIu64 ",\"streams_refused\":%" PRIu64,
          gw->tunnels_refused, gw->streams_refused);
    } else {
      gh__buf_printf(s, ",\"reconnects\":%" PRIu64 ",\"connections\":[",
                     gw->reconnects);
      for (size_t k = 0; k < gw->n_slots; k++) {
        if (k)
          gh__buf_printf(s, ",");
        render_slot(s, &gw->slots[k]);
      }
      gh__buf_printf(s, "]");
      render_acl(s, rt, gw);
    }
    gh__buf_printf(s, "}");
  }
  gh__buf_printf(s, "],\"destinations\":[");
  first = 1;
  for (size_t i = 0; i < rt->n_gws; i++) {
    const gh__gw *gw = rt->gws[i];
    if (gw->removed)
      continue;
    for (size_t k = 0; k < gw->n_dests; k++) {
      if (!first)
        gh__buf_printf(s, ",");
      first = 0;
      render_dest(s, gw, gw->dests[k]);
    }
  }
  gh__buf_printf(
      s, "],\"events_total\":%" PRIu64 ",\"events\":", gh__events_total());
  render_events(s, 50);
  gh__buf_printf(s, "}\n");
}

/* ---- /api/v1/history: each destination's samples, oldest first ---- */

static void history(gh__buf *s) {
  gh__buf_printf(s,
                 "{\"api\":%d,\"sample_interval_s\":1,\"fields\":[\"opens\","
                 "\"refusals\",\"bytes_in\",\"bytes_out\"],\"destinations\":[",
                 GH__CONSOLE_API_VERSION);
  for (size_t i = 0; i < smp.n; i++) {
    const series *x = smp.s[i];
    gh__buf_printf(s, "%s{\"gateway\":", i ? "," : "");
    put_str(s, x->gw);
    gh__buf_printf(s, ",\"name\":");
    put_str(s, x->name);
    gh__buf_printf(s, ",\"samples\":[");
    for (size_t k = 0; k < x->n; k++) {
      const uint64_t *v =
          x->ring[(x->head + GH__CONSOLE_HISTORY_S - x->n + k) %
                  GH__CONSOLE_HISTORY_S];
      gh__buf_printf(s, "%s[%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]",
                     k ? "," : "", v[0], v[1], v[2], v[3]);
    }
    gh__buf_printf(s, "]}");
  }
  gh__buf_printf(s, "]}\n");
}

int gh__console_render(gh__rt *rt, const char *path, gh__buf *out,
                       const char **type) {
  gh__buf s = {0};
  if (strcmp(path, "/api/v1/overview") == 0) {
    sampler_poll(rt);
    overview(rt, &s);
  } else if (strcmp(path, "/api/v1/history") == 0) {
    sampler_poll(rt);
    history(&s);
  } else if (strcmp(path, "/api/v1/events") == 0) {
    gh__buf_printf(&s, "{\"api\":%d,\"events_total\":%" PRIu64 ",\"events\":",
                   GH__CONSOLE_API_VERSION, gh__events_total());
    render_events(&s, GH__CONSOLE_EVENTS);
    gh__buf_printf(&s, "}\n");
  } else {
    return GH_ENOENT;
  }
  *type = "application/json";
  *out = s;
  return 0;
}
