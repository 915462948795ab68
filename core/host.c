/* The host API table given to plugins: thin adapters over the core (the
 * chain walk in chain.c, options of the destination's configuration,
 * timers on the loop). */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain.h"
#include "gateway.h"
#include "host.h"
#include "log.h"
#include "loop.h"
#include "stream.h"
#include "words.h"

/* ---- host functions ---- */

static int32_t h_log_enabled(int32_t level) {
  return level <= gh__log_level;
}

static void h_log(int32_t level, const gh_link *link, const char *fmt, ...)
    GH_PRINTF(3, 4);
static void h_log(int32_t level, const gh_link *link, const char *fmt, ...) {
  if (level > gh__log_level)
    return;
  char sub[160] = "plugin";
  if (link)
    gh__stream_subject(link->s, sub, sizeof(sub));
  va_list ap;
  va_start(ap, fmt);
  gh__log_vwrite(level, sub, fmt, ap);
  va_end(ap);
}

static void *h_alloc(size_t n) {
  return malloc(n);
}
static void *h_realloc(void *p, size_t n) {
  return realloc(p, n);
}
static void h_free(void *p) {
  free(p);
}
static void *h_uv_loop(void) {
  return gh__g.loop;
}

struct gh_timer {
  uv_timer_t uv;
  gh_timer_cb cb;
  void *arg;
};

static void timer_cb(uv_timer_t *uv) {
  gh_timer *t = GH__CONTAINER_OF(uv, gh_timer, uv);
  t->cb(t, t->arg);
}

static gh_timer *h_timer_new(gh_timer_cb cb, void *arg) {
  gh_timer *t = calloc(1, sizeof(*t));
  if (!t)
    return NULL;
  uv_timer_init(gh__g.loop, &t->uv);
  t->cb = cb;
  t->arg = arg;
  return t;
}

static int32_t h_timer_start(gh_timer *t, uint64_t ms, uint64_t repeat) {
  return uv_timer_start(&t->uv, timer_cb, ms, repeat);
}

static void h_timer_stop(gh_timer *t) {
  uv_timer_stop(&t->uv);
}

static void timer_closed(uv_handle_t *h) {
  free(GH__CONTAINER_OF((uv_timer_t *)h, gh_timer, uv));
}

static void h_timer_free(gh_timer *t) {
  if (t)
    uv_close((uv_handle_t *)&t->uv, timer_closed);
}

static void *h_inst_data(const gh_inst *i) {
  return i->data;
}
static void h_inst_set_data(gh_inst *i, void *data) {
  i->data = data;
}
static uint32_t h_inst_side(const gh_inst *i) {
  return i->side;
}
static const char *h_inst_destination(const gh_inst *i) {
  return i->d->cfg->name;
}

/* The kvs of an instance's option `name`: those written for its side
 * ("listen.tls.cert") when there are any, else those for both sides
 * ("tls.cert"). */
static int opt_matches(const gh_inst *i, const char *key, const char *name,
                       int sided) {
  size_t pl = strlen(i->prefix), hl = strlen(i->h->name);
  if (sided) {
    if (strncmp(key, i->prefix, pl) != 0 || key[pl] != '.')
      return 0;
    key += pl + 1;
  }
  return strncmp(key, i->h->name, hl) == 0 && key[hl] == '.' &&
         strcmp(key + hl + 1, name) == 0;
}

static const gh__kv *opt_find(const gh_inst *i, const char *name,
                              uint32_t index, uint32_t *count) {
  const gh__kvs *kvs = &i->d->cfg->opts;
  const gh__kv *hit = NULL;
  for (int sided = 1; sided >= 0; sided--) {
    uint32_t n = 0;
    for (size_t k = 0; k < kvs->n; k++) {
      if (!opt_matches(i, kvs->v[k].key, name, sided))
        continue;
      if (n == index)
        hit = &kvs->v[k];
      n++;
    }
    if (n > 0) {
      if (count)
        *count = n;
      return hit;
    }
  }
  if (count)
    *count = 0;
  return NULL;
}

static const char *h_opt_get(const gh_inst *i, const char *name,
                             uint32_t index) {
  uint32_t n;
  const gh__kv *kv = opt_find(i, name, index, &n);
  if (kv)
    return kv->value;
  if (n == 0 && index == 0) {
    const gh_option *o = gh__handler_option(i->h, name);
    return o ? o->def : NULL;
  }
  return NULL;
}

static uint32_t h_opt_count(const gh_inst *i, const char *name) {
  uint32_t n;
  opt_find(i, name, 0, &n);
  return n;
}

static int64_t h_opt_int(const gh_inst *i, const char *name) {
  const char *v = h_opt_get(i, name, 0);
  int64_t x = 0;
  return v && gh__word_int(v, &x) == 0 ? x : 0;
}

static int32_t h_opt_bool(const gh_inst *i, const char *name) {
  const char *v = h_opt_get(i, name, 0);
  int b = 0;
  return v && gh__word_bool(v, &b) == 0 ? b : 0;
}

static int32_t h_opt_blob(const gh_inst *i, const char *name,
                          const uint8_t **data, uint32_t *len) {
  const gh__kv *kv = opt_find(i, name, 0, NULL);
  if (!kv || !kv->blob)
    return GH_ENOENT;
  *data = kv->blob;
  *len = (uint32_t)kv->blob_len;
  return 0;
}

static void *h_listener_data(const gh_listener *l) {
  return l->data;
}
static void h_listener_set_data(gh_listener *l, void *d) {
  l->data = d;
}
static gh_inst *h_listener_inst(const gh_listener *l) {
  return l->inst;
}

static void h_listener_closed(gh_listener *l) {
  gh__drt *d = l->d;
  if (d->listener == l)
    d->listener = NULL;
  free(l);
  gh__drt_unref(d);
}

static void *h_link_data(const gh_link *l) {
  return l->data;
}
static void h_link_set_data(gh_link *l, void *d) {
  l->data = d;
}
static gh_inst *h_link_inst(const gh_link *l) {
  return l->inst;
}

static int32_t h_link_info(const gh_link *l, gh_link_info *info) {
  if (!info || info->size < GH_LINK_INFO_SIZE_1_0)
    return GH_EINVAL;
  const gh__stream *s = l->s;
  const gh__dest *c = s->d->cfg;
  gh_link_info v = {0};
  v.size = (uint32_t)GH__MIN((size_t)info->size, sizeof(v));
  v.side = s->side;
  v.flags = s->dgram ? GH_LINK_DGRAM : 0;
  v.resource_port = c->resource_port;
  v.stream_id = s->id;
  v.destination = c->name;
  v.gateway = s->d->gw->id;
  v.resource_host = c->resource_host;
  v.peer = s->peer;
  v.local = s->local;
  v.listen_chain = s->d->listen_chain;
  v.resource_chain = s->d->resource_chain;
  /* A plugin built for an older minor gets the members it knows. */
  memcpy(info, &v, v.size);
  return 0;
}

static void h_ready(gh_link *l, int32_t status) {
  gh__stream_link_ready(l, status);
}

static void h_abort(gh_link *l, int32_t reason) {
  gh__stream *s = l->s;
  char sub[160];
  if (reason == 0)
    gh__debug(gh__stream_subject(s, sub, sizeof(sub)), "ended by %s",
              l->inst->h->name);
  else
    gh__debug(gh__stream_subject(s, sub, sizeof(sub)), "aborted by %s: %s",
              l->inst->h->name, gh_strerror(reason));
  /* 0 is an orderly end: the transport still writes what it holds. */
  gh__stream_abort(s, reason <= 0 ? reason : GH_ECONNABORTED, 1);
}

static void h_closed(gh_link *l) {
  gh__stream_link_closed(l);
}

const gh_host gh__host = {
    .size = sizeof(gh_host),
    .abi_major = GH_ABI_MAJOR,
    .abi_minor = GH_ABI_MINOR,
    .log_enabled = h_log_enabled,
    .log = h_log,
    .alloc = h_alloc,
    .realloc = h_realloc,
    .free = h_free,
    .uv_loop = h_uv_loop,
    .timer_new = h_timer_new,
    .timer_start = h_timer_start,
    .timer_stop = h_timer_stop,
    .timer_free = h_timer_free,
    .inst_data = h_inst_data,
    .inst_set_data = h_inst_set_data,
    .inst_side = h_inst_side,
    .inst_destination = h_inst_destination,
    .opt_get = h_opt_get,
    .opt_count = h_opt_count,
    .opt_int = h_opt_int,
    .opt_bool = h_opt_bool,
    .opt_blob = h_opt_blob,
    .listener_data = h_listener_data,
    .listener_set_data = h_listener_set_data,
    .listener_inst = h_listener_inst,
    .listener_closed = h_listener_closed,
    .link_data = h_link_data,
    .link_set_data = h_link_set_data,
    .link_inst = h_link_inst,
    .link_info = h_link_info,
    .accept = gh__stream_accept,
    .ready = h_ready,
    .send_up = gh__chain_send_up,
    .send_down = gh__chain_send_down,
    .eof_up = gh__chain_eof_up,
    .eof_down = gh__chain_eof_down,
    .written = gh__chain_written,
    .abort = h_abort,
    .closed = h_closed,
};
