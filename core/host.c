/* The host API table given to plugins, and the process-wide core state:
 * the loop, the registry and the end-of-turn work (reaping streams,
 * returning credit, encrypting and writing what tunnels staged). */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "words.h"

gh__core gh__g;

/* ---- end of the loop turn ---- */

static void on_prepare(uv_prepare_t *p) {
  gh__reap_run();
  while (!gh__list_empty(&gh__g.dirty)) {
    gh__tunnel *t = GH__CONTAINER_OF(gh__g.dirty.next, gh__tunnel, dirty_node);
    gh__list_del(&t->dirty_node);
    if (t->state == GH__T_UP)
      gh__mux_open_next(t);
    if (t->state == GH__T_UP)
      gh__mux_credit_flush(t);
    gh__tunnel_flush(t);
  }
  gh__reap_run();
  if (gh__list_empty(&gh__g.dirty) && gh__list_empty(&gh__g.reap)) {
    uv_prepare_stop(p);
    gh__g.prepare_active = 0;
  }
}

void gh__core_kick(void) {
  if (!gh__g.prepare_active) {
    uv_prepare_start(&gh__g.prepare, on_prepare);
    gh__g.prepare_active = 1;
  }
}

const char *gh__default_plugin_dir(void) {
  static char dir[PATH_MAX + 32];
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = 0;
      struct stat st;
      /* A build tree: the plugins sit beside the binary. */
      snprintf(dir, sizeof(dir), "%s/plugins", exe);
      if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return dir;
      /* An installed tree: PREFIX/bin and PREFIX/lib/gatehouse/plugins. */
      snprintf(dir, sizeof(dir), "%s/../lib/gatehouse/plugins", exe);
      if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return dir;
    }
  }
  return GH_PLUGIN_DIR_DEFAULT;
}

void gh__core_setup(uv_loop_t *loop) {
  gh__g.loop = loop;
  gh__g.host = &gh__host;
  gh__list_init(&gh__g.reap);
  gh__list_init(&gh__g.dirty);
  gh__list_init(&gh__g.lazy);
  uv_prepare_init(loop, &gh__g.prepare);
  uv_unref((uv_handle_t *)&gh__g.prepare);
  uv_timer_init(loop, &gh__g.lazy_timer);
  uv_unref((uv_handle_t *)&gh__g.lazy_timer);
}

int gh__core_init(uv_loop_t *loop, const char *plugin_dir) {
  gh__core_setup(loop);
  gh__registry_init(&gh__g.reg, &gh__host);
  const char *dir = plugin_dir ? plugin_dir : gh__default_plugin_dir();
  int n = gh__registry_load_dir(&gh__g.reg, dir);
  if (n < 0) {
    if (!gh__g.reg.dir_refused) /* else logged with its reason */
      gh__error("core", "cannot read the plugin directory %s: %s", dir,
                strerror(-n));
    return n;
  }
  gh__debug("core", "%d plugin(s) loaded from %s", n, dir);
  return 0;
}

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
  v.stream_id = s->in_map ? s->mnode.key : 0;
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

static int32_t h_send_up(gh_link *l, const uint8_t *data, uint32_t len) {
  gh__stream *s = l->s;
  if (s->state == GH__S_CLOSING)
    return GH_ECANCELED;
  size_t next = (size_t)l->idx + 1;
  if (next == s->n_links) {
    gh__stream_up(s, data, len);
    return s->state == GH__S_CLOSING ? GH_ECANCELED : 0;
  }
  int r = s->links[next].inst->h->up(&s->links[next], data, len);
  if (r < 0)
    gh__stream_abort(s, r, 1);
  return r;
}

static int32_t h_send_down(gh_link *l, const uint8_t *data, uint32_t len) {
  gh__stream *s = l->s;
  if (s->state == GH__S_CLOSING || l->idx == 0)
    return l->idx == 0 ? GH_EINVAL : GH_ECANCELED;
  size_t prev = (size_t)l->idx - 1;
  if (prev == 0)
    return gh__stream_transport_write(s, data, len);
  int r = s->links[prev].inst->h->down(&s->links[prev], data, len);
  if (r < 0)
    gh__stream_abort(s, r, 1);
  return r;
}

static void h_eof_up(gh_link *l) {
  gh__stream *s = l->s;
  if (s->state == GH__S_CLOSING)
    return;
  size_t next = (size_t)l->idx + 1;
  if (next == s->n_links)
    gh__stream_up_eof(s);
  else
    s->links[next].inst->h->up_eof(&s->links[next]);
}

static void h_eof_down(gh_link *l) {
  gh__stream *s = l->s;
  if (s->state == GH__S_CLOSING || l->idx == 0)
    return;
  size_t prev = (size_t)l->idx - 1;
  if (prev == 0)
    s->links[0].inst->h->shutdown(&s->links[0]);
  else
    s->links[prev].inst->h->down_eof(&s->links[prev]);
}

static void h_written(gh_link *l, uint32_t len) {
  gh__stream *s = l->s;
  if (s->state == GH__S_CLOSING)
    return;
  s->d->st.bytes_out += len;
  if (s->dgram)
    return; /* datagrams take no credit */
  gh__mux_written(s, len);
  gh__stream_maybe_done(s);
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
    .send_up = h_send_up,
    .send_down = h_send_down,
    .eof_up = h_eof_up,
    .eof_down = h_eof_down,
    .written = h_written,
    .abort = h_abort,
    .closed = h_closed,
};
