/* Gateways (the tunnels up for each, picked round-robin) and destinations
 * as this process runs them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "log.h"
#include "loop.h"
#include "runtime.h"
#include "stream.h"
#include "tunnel.h"

gh__tunnel *gh__gw_pick(gh__gw *gw) {
  if (gw->n_live == 0)
    return NULL;
  gw->rr = (gw->rr + 1) % gw->n_live;
  return gw->live[gw->rr];
}

void gh__gw_add_live(gh__gw *gw, gh__tunnel *t) {
  if (gw->n_live == gw->cap_live) {
    size_t cap = gw->cap_live ? gw->cap_live * 2 : 8;
    gw->live = gh__xrealloc(gw->live, cap * sizeof(*gw->live));
    gw->cap_live = cap;
  }
  gw->live[gw->n_live++] = t;
}

void gh__gw_del_live(gh__gw *gw, gh__tunnel *t) {
  for (size_t i = 0; i < gw->n_live; i++) {
    if (gw->live[i] == t) {
      gw->live[i] = gw->live[--gw->n_live];
      return;
    }
  }
}

gh__drt *gh__gw_find_dest(gh__gw *gw, const char *name, size_t len) {
  if (!gw)
    return NULL;
  for (size_t i = 0; i < gw->n_dests; i++) {
    const char *n = gw->dests[i]->cfg->name;
    if (strlen(n) == len && memcmp(n, name, len) == 0)
      return gw->dests[i];
  }
  return NULL;
}

void gh__gw_remove(gh__gw *gw, const char *why) {
  gw->removed = 1;
  gh__list *n = gw->rt->tunnels.next;
  while (n != &gw->rt->tunnels) {
    gh__tunnel *t = GH__CONTAINER_OF(n, gh__tunnel, node);
    n = n->next;
    if (t->gw == gw || t->want_gw == gw)
      gh__tunnel_close(t, why);
  }
  for (size_t i = 0; i < gw->n_dests; i++)
    gh__drt_retire(gw->dests[i]);
  gw->n_dests = 0;
}


int gh__gw_streams_full(gh__gw *gw) {
  if (!gw || !gw->scfg || gw->st.active < gw->scfg->streams_max)
    return 0;
  gw->streams_refused++;
  return 1;
}

static void drt_free_insts(gh__drt *d, size_t n) {
  for (size_t i = n; i-- > 0;)
    if (d->insts[i].inited && d->insts[i].h->inst_free)
      d->insts[i].h->inst_free(&d->insts[i]);
}

int gh__drt_new(gh__gw *gw, gh__dest *cfg, uint32_t side, gh__drt **out,
                char *err, size_t errlen) {
  gh__drt *d = gh__xcalloc(1, sizeof(*d));
  d->cfg = cfg;
  d->gw = gw;
  d->side = side;
  d->chain = side == GH_SIDE_LISTEN ? &cfg->listen_chain : &cfg->resource_chain;
  d->refs = 1;
  char chain[256];
  d->listen_chain = gh__strdup(
      gh__chain_canonical(&gh__g.reg, cfg->listen_proto, chain, sizeof(chain)));
  d->resource_chain = gh__strdup(gh__chain_canonical(
      &gh__g.reg, cfg->resource_proto, chain, sizeof(chain)));
  for (size_t i = 0; i < d->chain->n; i++) {
    gh_inst *in = &d->insts[i];
    in->h = d->chain->h[i];
    in->d = d;
    in->side = side;
    in->prefix = side == GH_SIDE_LISTEN ? "listen" : "resource";
    if (!in->h->inst_init) {
      in->inited = 1;
      continue;
    }
    char why[256] = "";
    int r = in->h->inst_init(in, why, sizeof(why));
    if (r < 0) {
      snprintf(err, errlen, "destination %s: %s: %s", cfg->name, in->h->name,
               why[0] ? why : gh_strerror(r));
      drt_free_insts(d, i);
      free(d->listen_chain);
      free(d->resource_chain);
      free(d);
      return r;
    }
    in->inited = 1;
  }
  *out = d;
  return 0;
}

int gh__drt_listen(gh__drt *d, const char *host, uint16_t port) {
  gh_listener *l = gh__xcalloc(1, sizeof(*l));
  l->inst = &d->insts[0];
  l->d = d;
  int r = l->inst->h->listen(l, host, port);
  if (r < 0) {
    free(l);
    return r;
  }
  d->listener = l;
  d->refs++;
  return 0;
}

void gh__drt_retire(gh__drt *d) {
  if (d->retired)
    return;
  d->retired = 1;
  if (d->listener)
    d->listener->inst->h->unlisten(d->listener);
  gh__drt_unref(d);
}

void gh__drt_unref(gh__drt *d) {
  if (--d->refs > 0)
    return;
  drt_free_insts(d, d->chain->n);
  gh__dest_free(d->cfg);
  free(d->cfg);
  free(d->error);
  free(d->listen_chain);
  free(d->resource_chain);
  free(d);
}

void gh__prefix_line(const gh__dest *c, char *err, size_t errlen) {
  if (!c->file || c->line <= 0 || c->file[0] == '<' || !errlen)
    return; /* pushed, or built in (the demo) */
  char msg[1024];
  snprintf(msg, sizeof(msg), "%s", err);
  snprintf(err, errlen, "%s:%d: %s", c->file, c->line, msg);
}

int gh__dest_try(gh__dest *c, uint32_t side, char *err, size_t errlen) {
  gh__gw gw;
  memset(&gw, 0, sizeof(gw));
  gw.id = c->gateway;
  gh__drt *d;
  int r = gh__drt_new(&gw, c, side, &d, err, errlen);
  if (r < 0) {
    gh__prefix_line(c, err, errlen);
    gh__dest_free(c);
    free(c);
    return r;
  }
  gh__drt_unref(d); /* frees c */
  return 0;
}

void gh__drt_set_error(gh__drt *d, int32_t status, const char *msg) {
  d->status = status;
  free(d->error);
  d->error = msg ? gh__strdup(msg) : NULL;
}
