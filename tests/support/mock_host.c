/* The mock host: see mock_host.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "mock_host.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINK_MAGIC 0x6d4c6e6bu
#define MAX_PLUGINS 8

mock_config_t mock_config;
mock_stats_t mock_stats;

typedef struct mock_plugin {
  void *dl;
  const gh_plugin *desc;
} mock_plugin;

struct mock_opt {
  char *name;
  char *value; /* NULL for a blob-only entry */
  uint8_t *blob;
  size_t blob_len;
  int has_blob;
  struct mock_opt *next;
};

typedef struct mock_timer {
  uv_timer_t uv;
  gh_timer_cb cb;
  void *arg;
  int freed;
  struct mock_timer *next, *prev;
} mock_timer;

static struct {
  int up;
  uv_loop_t loop;
  uv_timer_t guard; /* mock_run_until's deadline */
  int guard_fired;
  uv_timer_t defer; /* close_on_abort */
  mock_plugin plugins[MAX_PLUGINS];
  size_t n_plugins;
  mock_inst *insts;
  mock_listener *listeners;
  mock_link *links, **links_tail;
  uint64_t next_id;
  mock_timer timers; /* list head */
} M;

/* ------------------------------------------------------------- helpers */

static void violation(const char *fmt, ...) GH_PRINTF(1, 2);
static void violation(const char *fmt, ...) {
  va_list ap;
  mock_stats.violations++;
  fprintf(stderr, "mock: CONTRACT VIOLATION: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n, size);
  if (!p) {
    fprintf(stderr, "mock: out of memory\n");
    abort();
  }
  return p;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = xcalloc(1, n);
  memcpy(p, s, n);
  return p;
}

void mock_buf_append(mock_buf *b, const void *p, size_t n) {
  if (n == 0)
    return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
      cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) {
      fprintf(stderr, "mock: out of memory\n");
      abort();
    }
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

void mock_buf_reset(mock_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* A link handle from the plugin: must be one of ours. */
static mock_link *L(const gh_link *gl, const char *fn) {
  mock_link *l = mock_ml(gl);
  if (!l || l->magic != LINK_MAGIC) {
    violation("%s: not a link (%p)", fn, (const void *)gl);
    return NULL;
  }
  return l;
}

static int is_transport_link(const mock_link *l) {
  return l->inst->h->kind == GH_KIND_TRANSPORT;
}

/* The link is past close(): the plugin must only call closed() for it. */
static int dead(mock_link *l, const char *fn) {
  if (l->closed) {
    violation("%s on link %llu after %s", fn, (unsigned long long)l->id,
              is_transport_link(l) ? "closed()" : "close()");
    return 1;
  }
  if (l->in_close) {
    violation("%s on link %llu inside its close()", fn,
              (unsigned long long)l->id);
    return 1;
  }
  if (l->close_called) {
    violation("%s on link %llu after close()", fn, (unsigned long long)l->id);
    return 1;
  }
  return 0;
}

/* Reading the link, or setting its data: fine until close() returns (a
 * transport: until closed()). */
static int gone(mock_link *l, const char *fn) {
  if (!l->closed)
    return 0;
  violation("%s on link %llu after %s", fn, (unsigned long long)l->id,
            is_transport_link(l) ? "closed()" : "close()");
  return 1;
}

/* ------------------------------------------------------------- logging */

static const char *level_name(int32_t level) {
  static const char *const names[] = {"error", "warn", "info", "debug",
                                      "trace"};
  return level >= 0 && level <= GH_LOG_TRACE ? names[level] : "?";
}

static int32_t h_log_enabled(int32_t level) {
  return level <= mock_config.log_level;
}

static void h_log(int32_t level, const gh_link *link, const char *fmt, ...)
    GH_PRINTF(3, 4);
static void h_log(int32_t level, const gh_link *link, const char *fmt, ...) {
  va_list ap;
  if (level < 0 || level > GH_LOG_TRACE) {
    violation("log: bad level %d", (int)level);
    return;
  }
  mock_stats.logs[level]++;
  va_start(ap, fmt);
  vsnprintf(mock_stats.last_log, sizeof mock_stats.last_log, fmt, ap);
  va_end(ap);
  if (level <= GH_LOG_WARN)
    memcpy(mock_stats.last_warn, mock_stats.last_log,
           sizeof mock_stats.last_warn);
  if (link && mock_ml(link)->magic != LINK_MAGIC)
    violation("log: not a link (%p)", (const void *)link);
  if (level > mock_config.print_level)
    return;
  if (link)
    fprintf(stderr, "mock %s [link %llu]: %s\n", level_name(level),
            (unsigned long long)mock_ml(link)->id, mock_stats.last_log);
  else
    fprintf(stderr, "mock %s: %s\n", level_name(level), mock_stats.last_log);
}

/* -------------------------------------------------------------- memory */

/* A header keeps the size, for live_bytes; max_align_t keeps alignment. */
typedef union mem_hdr {
  size_t size;
  max_align_t align;
} mem_hdr;

static int alloc_fails(void) {
  if (mock_config.fail_alloc == 0)
    return 0;
  if (--mock_config.fail_alloc == 0) {
    mock_stats.alloc_failures++;
    return 1;
  }
  return 0;
}

static void *h_alloc(size_t size) {
  if (alloc_fails())
    return NULL;
  mem_hdr *h = malloc(sizeof *h + size);
  if (!h)
    return NULL;
  h->size = size;
  mock_stats.allocs++;
  mock_stats.live_allocs++;
  mock_stats.live_bytes += size;
  return h + 1;
}

static void h_free(void *p) {
  if (!p)
    return;
  mem_hdr *h = (mem_hdr *)p - 1;
  mock_stats.frees++;
  mock_stats.live_allocs--;
  mock_stats.live_bytes -= h->size;
  free(h);
}

static void *h_realloc(void *p, size_t size) {
  if (!p)
    return h_alloc(size);
  if (alloc_fails())
    return NULL;
  mem_hdr *h = (mem_hdr *)p - 1;
  size_t old = h->size;
  mem_hdr *n = realloc(h, sizeof *n + size);
  if (!n)
    return NULL;
  n->size = size;
  mock_stats.live_bytes = mock_stats.live_bytes - old + size;
  return n + 1;
}

static void *h_uv_loop(void) {
  return &M.loop;
}

/* -------------------------------------------------------------- timers */

static void timer_closed(uv_handle_t *h) {
  mock_timer *t = h->data;
  t->prev->next = t->next;
  t->next->prev = t->prev;
  mock_stats.timers_live--;
  free(t);
}

static void timer_fire(uv_timer_t *u) {
  mock_timer *t = u->data;
  t->cb((gh_timer *)(void *)t, t->arg);
}

static gh_timer *h_timer_new(gh_timer_cb cb, void *arg) {
  if (!cb) {
    violation("timer_new: no callback");
    return NULL;
  }
  if (alloc_fails())
    return NULL;
  mock_timer *t = xcalloc(1, sizeof *t);
  uv_timer_init(&M.loop, &t->uv);
  t->uv.data = t;
  t->cb = cb;
  t->arg = arg;
  t->next = M.timers.next;
  t->prev = &M.timers;
  M.timers.next->prev = t;
  M.timers.next = t;
  mock_stats.timers_live++;
  return (gh_timer *)(void *)t;
}

static mock_timer *T(gh_timer *gt, const char *fn) {
  mock_timer *t = (mock_timer *)(void *)gt;
  if (!t) {
    violation("%s: NULL timer", fn);
    return NULL;
  }
  if (t->freed) {
    violation("%s: timer already freed", fn);
    return NULL;
  }
  return t;
}

static int32_t h_timer_start(gh_timer *gt, uint64_t ms, uint64_t repeat_ms) {
  mock_timer *t = T(gt, "timer_start");
  if (!t)
    return GH_EINVAL;
  return uv_timer_start(&t->uv, timer_fire, ms, repeat_ms);
}

static void h_timer_stop(gh_timer *gt) {
  mock_timer *t = T(gt, "timer_stop");
  if (t)
    uv_timer_stop(&t->uv);
}

static void h_timer_free(gh_timer *gt) {
  if (!gt)
    return;
  mock_timer *t = T(gt, "timer_free");
  if (!t)
    return;
  t->freed = 1;
  uv_close((uv_handle_t *)&t->uv, timer_closed);
}

/* A link the plugin may still hold: started, and not closed. */
static int is_live(const mock_link *l) {
  if (l->closed)
    return 0;
  return l->listener || l->connect_called || l->open_called || l->close_called;
}

/* ----------------------------------------------------------- instances */

static mock_inst *I(const gh_inst *gi, const char *fn) {
  if (!gi)
    violation("%s: NULL instance", fn);
  return (mock_inst *)(void *)gi;
}

static void *h_inst_data(const gh_inst *gi) {
  mock_inst *i = I(gi, "inst_data");
  return i ? i->data : NULL;
}
static void h_inst_set_data(gh_inst *gi, void *data) {
  mock_inst *i = I(gi, "inst_set_data");
  if (i)
    i->data = data;
}
static uint32_t h_inst_side(const gh_inst *gi) {
  mock_inst *i = I(gi, "inst_side");
  return i ? i->side : 0;
}
static const char *h_inst_destination(const gh_inst *gi) {
  mock_inst *i = I(gi, "inst_destination");
  return i ? i->destination : "";
}

const gh_option *mock_option(const gh_handler *h, const char *name) {
  for (uint32_t k = 0; h && k < h->n_options; k++)
    if (strcmp(h->options[k].name, name) == 0)
      return &h->options[k];
  return NULL;
}

static const gh_option *decl(const mock_inst *i, const char *name,
                             const char *fn) {
  const gh_option *o = name ? mock_option(i->h, name) : NULL;
  if (!o)
    violation("%s: option \"%s\" is not declared by handler %s", fn,
              name ? name : "(null)", i->h->name);
  return o;
}

static const char *opt_value(const mock_inst *i, const char *name,
                             uint32_t index, uint32_t *count) {
  uint32_t n = 0;
  const char *v = NULL;
  for (const struct mock_opt *o = i->opts; o; o = o->next) {
    if (!o->value || strcmp(o->name, name) != 0)
      continue;
    if (n == index)
      v = o->value;
    n++;
  }
  if (count)
    *count = n;
  return v;
}

static const char *h_opt_get(const gh_inst *gi, const char *name,
                             uint32_t index) {
  mock_inst *i = I(gi, "opt_get");
  const gh_option *d = i ? decl(i, name, "opt_get") : NULL;
  if (!d)
    return NULL;
  uint32_t n;
  const char *v = opt_value(i, name, index, &n);
  if (n == 0 && index == 0)
    return d->def;
  return v;
}

static uint32_t h_opt_count(const gh_inst *gi, const char *name) {
  mock_inst *i = I(gi, "opt_count");
  if (!i || !decl(i, name, "opt_count"))
    return 0;
  uint32_t n;
  opt_value(i, name, 0, &n);
  return n;
}

static int64_t h_opt_int(const gh_inst *gi, const char *name) {
  const char *v = h_opt_get(gi, name, 0);
  return v ? strtoll(v, NULL, 10) : 0;
}

static int32_t h_opt_bool(const gh_inst *gi, const char *name) {
  const char *v = h_opt_get(gi, name, 0);
  if (!v)
    return 0;
  return strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0 ||
         strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0;
}

static int read_file(const char *path, uint8_t **out, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return -errno;
  mock_buf b = {0};
  uint8_t chunk[8192];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    mock_buf_append(&b, chunk, n);
  int err = ferror(f) ? GH_EIO : 0;
  fclose(f);
  if (err) {
    mock_buf_reset(&b);
    return err;
  }
  *out = b.data;
  *len = b.len;
  return 0;
}

static int32_t h_opt_blob(const gh_inst *gi, const char *name,
                          const uint8_t **data, uint32_t *len) {
  mock_inst *i = I(gi, "opt_blob");
  const gh_option *d = i ? decl(i, name, "opt_blob") : NULL;
  if (!d)
    return GH_ENOENT;
  if (d->type != GH_OPT_FILE)
    violation("opt_blob: option \"%s\" is not GH_OPT_FILE", name);
  for (struct mock_opt *o = i->opts; o; o = o->next)
    if (o->has_blob && strcmp(o->name, name) == 0) {
      *data = o->blob;
      *len = (uint32_t)o->blob_len;
      return 0;
    }
  const char *path = h_opt_get(gi, name, 0);
  if (!path)
    return GH_ENOENT;
  uint8_t *content = NULL;
  size_t n = 0;
  int rc = read_file(path, &content, &n);
  if (rc)
    return rc;
  mock_inst_blob(i, name, content, n); /* cached until the inst goes */
  free(content);
  return h_opt_blob(gi, name, data, len);
}

mock_inst *mock_inst_new(const gh_handler *h, uint32_t side) {
  mock_inst *i = xcalloc(1, sizeof *i);
  i->h = h;
  i->side = side;
  i->destination = "mock";
  i->next = M.insts;
  M.insts = i;
  return i;
}

void mock_inst_opt(mock_inst *i, const char *name, const char *value) {
  struct mock_opt *o = xcalloc(1, sizeof *o), **tail = &i->opts;
  o->name = xstrdup(name);
  o->value = xstrdup(value);
  while (*tail)
    tail = &(*tail)->next;
  *tail = o;
}

void mock_inst_blob(mock_inst *i, const char *name, const void *data,
                    size_t len) {
  struct mock_opt *o = xcalloc(1, sizeof *o);
  o->name = xstrdup(name);
  o->blob = xcalloc(1, len + 1);
  if (len)
    memcpy(o->blob, data, len);
  o->blob_len = len;
  o->has_blob = 1;
  o->next = i->opts; /* first: found before older blobs */
  i->opts = o;
}

/* What the core checks before inst_init() and the mock would not
 * otherwise: a GH_OPT_ENUM value is one of its choices. */
static void enum_values_check(const mock_inst *i) {
  for (const struct mock_opt *o = i->opts; o; o = o->next) {
    const gh_option *d = o->value ? mock_option(i->h, o->name) : NULL;
    if (!d || d->type != GH_OPT_ENUM)
      continue;
    int found = 0;
    for (size_t k = 0; d->choices && d->choices[k] && !found; k++)
      found = strcmp(d->choices[k], o->value) == 0;
    if (!found)
      violation("test: %s.%s = \"%s\" is not one of its choices (the core "
                "refuses such a configuration)",
                i->h->name, o->name, o->value);
  }
}

int32_t mock_inst_init(mock_inst *i) {
  i->err[0] = '\0';
  enum_values_check(i);
  if (!i->h->inst_init) {
    i->inited = 1;
    return 0;
  }
  int32_t rc = i->h->inst_init(mock_gi(i), i->err, sizeof i->err);
  if (rc == 0)
    i->inited = 1;
  else if (i->err[0] == '\0')
    violation("inst_init of %s failed (%d) without a reason", i->h->name,
              (int)rc);
  return rc;
}

void mock_inst_free(mock_inst *i) {
  if (!i->inited)
    return;
  i->inited = 0;
  for (mock_link *l = M.links; l; l = l->next)
    if (l->inst == i && is_live(l))
      violation("test: inst_free with link %llu of the instance alive",
                (unsigned long long)l->id);
  for (mock_listener *l = M.listeners; l; l = l->next)
    if (l->inst == i && l->listening && !l->closed)
      violation("test: inst_free with a listener of the instance alive");
  if (i->h->inst_free)
    i->h->inst_free(mock_gi(i));
}

static void inst_destroy(mock_inst *i) {
  struct mock_opt *o = i->opts;
  while (o) {
    struct mock_opt *next = o->next;
    free(o->name);
    free(o->value);
    free(o->blob);
    free(o);
    o = next;
  }
  free(i);
}

/* ----------------------------------------------------------- listeners */

static mock_listener *LS(const gh_listener *gl, const char *fn) {
  if (!gl)
    violation("%s: NULL listener", fn);
  return (mock_listener *)(void *)gl;
}

static void *h_listener_data(const gh_listener *gl) {
  mock_listener *l = LS(gl, "listener_data");
  return l ? l->data : NULL;
}
static void h_listener_set_data(gh_listener *gl, void *data) {
  mock_listener *l = LS(gl, "listener_set_data");
  if (l)
    l->data = data;
}
static gh_inst *h_listener_inst(const gh_listener *gl) {
  mock_listener *l = LS(gl, "listener_inst");
  return l ? mock_gi(l->inst) : NULL;
}
static void h_listener_closed(gh_listener *gl) {
  mock_listener *l = LS(gl, "listener_closed");
  if (!l)
    return;
  if (!l->unlisten_called)
    violation("listener_closed without unlisten()");
  if (l->closed)
    violation("listener_closed twice");
  l->closed++;
}

mock_listener *mock_listener_new(mock_inst *inst) {
  mock_listener *l = xcalloc(1, sizeof *l);
  l->inst = inst;
  l->next = M.listeners;
  M.listeners = l;
  return l;
}

int32_t mock_listen(mock_listener *l, const char *host, uint16_t port) {
  if (l->listening) {
    violation("test: mock_listen on a listening listener");
    return GH_EINVAL;
  }
  int32_t rc = l->inst->h->listen(mock_glis(l), host, port);
  if (rc > 0)
    violation("listen returned %d (> 0)", (int)rc);
  if (rc == 0)
    l->listening = 1;
  return rc;
}

void mock_unlisten(mock_listener *l) {
  if (!l->listening || l->unlisten_called) {
    violation("test: mock_unlisten on a listener not listening");
    return;
  }
  l->unlisten_called = 1;
  l->inst->h->unlisten(mock_glis(l));
}

mock_link *mock_accepted(mock_listener *l, size_t i) {
  return i < l->n_accepted ? l->accepted[i] : NULL;
}

/* --------------------------------------------------------------- links */

mock_link *mock_link_new(mock_inst *inst) {
  mock_link *l = xcalloc(1, sizeof *l);
  l->magic = LINK_MAGIC;
  l->inst = inst;
  l->id = ++M.next_id;
  l->resource_host = "127.0.0.1";
  *M.links_tail = l;
  M.links_tail = &l->next;
  return l;
}

static void *h_link_data(const gh_link *gl) {
  mock_link *l = L(gl, "link_data");
  return l && !gone(l, "link_data") ? l->data : NULL;
}
/* Allowed inside close() (to clear it), not after. */
static void h_link_set_data(gh_link *gl, void *data) {
  mock_link *l = L(gl, "link_set_data");
  if (!l || gone(l, "link_set_data"))
    return;
  if (l->close_called && !l->in_close) {
    violation("link_set_data on link %llu after close()",
              (unsigned long long)l->id);
    return;
  }
  l->data = data;
}
static gh_inst *h_link_inst(const gh_link *gl) {
  mock_link *l = L(gl, "link_inst");
  return l && !gone(l, "link_inst") ? mock_gi(l->inst) : NULL;
}

static int32_t h_link_info(const gh_link *gl, gh_link_info *info) {
  mock_link *l = L(gl, "link_info");
  if (!l || !info || gone(l, "link_info"))
    return GH_EINVAL;
  if (info->size < GH_LINK_INFO_SIZE_1_0)
    violation("link_info: size %u smaller than ABI 1.0's",
              (unsigned)info->size);
  gh_link_info full;
  memset(&full, 0, sizeof full);
  full.size = info->size;
  full.side = l->inst->side;
  full.flags = (l->inst->h->flags & GH_HANDLER_DGRAM) ? GH_LINK_DGRAM : 0;
  full.resource_port = l->resource_port;
  full.stream_id = l->id;
  full.destination = l->inst->destination;
  full.gateway = "mock-gw";
  full.resource_host = l->resource_host;
  full.peer = l->peer;
  full.local = l->local;
  full.listen_chain = l->listen_chain ? l->listen_chain : "tcp";
  full.resource_chain = l->resource_chain ? l->resource_chain : "tcp";
  size_t n = info->size < sizeof full ? info->size : sizeof full;
  memcpy(info, &full, n);
  return 0;
}

static gh_link *h_accept(gh_listener *gl, void *link_data, const gh_addr *peer,
                         const gh_addr *local) {
  mock_listener *l = LS(gl, "accept");
  if (!l)
    return NULL;
  l->accepts++;
  if (!l->listening || l->unlisten_called || l->closed)
    violation("accept on a listener that is not listening");
  if (!peer || !local)
    violation("accept without addresses");
  if (l->inst->h->kind != GH_KIND_TRANSPORT)
    violation("accept from a layer");
  if (l->refuse) {
    l->refused++;
    return NULL;
  }
  mock_link *k = mock_link_new(l->inst);
  k->listener = l;
  k->data = link_data;
  if (peer)
    k->peer = *peer;
  if (local)
    k->local = *local;
  if (l->n_accepted == l->cap_accepted) {
    size_t cap = l->cap_accepted ? 2 * l->cap_accepted : 16;
    mock_link **a = realloc(l->accepted, cap * sizeof *a);
    if (!a)
      abort();
    l->accepted = a;
    l->cap_accepted = cap;
  }
  l->accepted[l->n_accepted++] = k;
  if (l->read_on_accept)
    l->inst->h->read_start(mock_gl(k));
  return mock_gl(k);
}

static void h_ready(gh_link *gl, int32_t status) {
  mock_link *l = L(gl, "ready");
  if (!l || dead(l, "ready"))
    return;
  if (l->ready_calls)
    violation("ready twice on link %llu", (unsigned long long)l->id);
  if (status > 0)
    violation("ready with status %d (> 0)", (int)status);
  if (is_transport_link(l) ? !l->connect_called
                           : !(l->open_called && l->open_result == GH_PENDING))
    violation("ready on link %llu that has no start pending",
              (unsigned long long)l->id);
  l->ready_calls++;
  l->ready_status = status;
}

static int32_t h_send_up(gh_link *gl, const uint8_t *data, uint32_t len) {
  mock_link *l = L(gl, "send_up");
  if (!l || dead(l, "send_up"))
    return GH_EINVAL;
  if (len && !data)
    violation("send_up: NULL data");
  l->send_up_calls++;
  mock_buf_append(&l->up, data, len);
  return l->send_up_ret;
}

static int32_t h_send_down(gh_link *gl, const uint8_t *data, uint32_t len) {
  mock_link *l = L(gl, "send_down");
  if (!l || dead(l, "send_down"))
    return GH_EINVAL;
  if (is_transport_link(l))
    violation("send_down from a transport");
  l->send_down_calls++;
  mock_buf_append(&l->down, data, len);
  return l->send_down_ret;
}

static void h_eof_up(gh_link *gl) {
  mock_link *l = L(gl, "eof_up");
  if (!l || dead(l, "eof_up"))
    return;
  if (l->eof_up)
    violation("eof_up twice on link %llu", (unsigned long long)l->id);
  l->eof_up++;
}

static void h_eof_down(gh_link *gl) {
  mock_link *l = L(gl, "eof_down");
  if (!l || dead(l, "eof_down"))
    return;
  if (is_transport_link(l))
    violation("eof_down from a transport");
  l->eof_down++;
}

static void h_written(gh_link *gl, uint32_t len) {
  mock_link *l = L(gl, "written");
  if (!l || dead(l, "written"))
    return;
  l->written += len;
  l->written_calls++;
  if (l->written > l->write_bytes)
    violation("written: %llu bytes reported, %llu given to write()",
              (unsigned long long)l->written,
              (unsigned long long)l->write_bytes);
}

static void defer_cb(uv_timer_t *t) {
  (void)t;
  for (mock_link *l = M.links; l; l = l->next)
    if (l->pending_close && !l->close_called) {
      l->pending_close = 0;
      mock_close(l, l->abort_reason < 0 ? l->abort_reason : GH_ECONNABORTED);
    }
}

static void h_abort(gh_link *gl, int32_t reason) {
  mock_link *l = L(gl, "abort");
  if (!l || dead(l, "abort"))
    return;
  if (l->abort_calls == 0)
    l->abort_reason = reason;
  l->abort_calls++;
  if (mock_config.close_on_abort && !l->pending_close) {
    l->pending_close = 1;
    uv_timer_start(&M.defer, defer_cb, 0, 0);
  }
}

static void h_closed(gh_link *gl) {
  mock_link *l = L(gl, "closed");
  if (!l)
    return;
  if (!is_transport_link(l))
    violation("closed() from a layer");
  if (!l->close_called)
    violation("closed() on link %llu without close()",
              (unsigned long long)l->id);
  if (l->closed)
    violation("closed() twice on link %llu", (unsigned long long)l->id);
  l->closed++;
}

/* ----------------------------------------------------------- the table */

const gh_host mock_host = {
    .size = (uint32_t)sizeof(gh_host),
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
    .accept = h_accept,
    .ready = h_ready,
    .send_up = h_send_up,
    .send_down = h_send_down,
    .eof_up = h_eof_up,
    .eof_down = h_eof_down,
    .written = h_written,
    .abort = h_abort,
    .closed = h_closed,
};

/* ------------------------------------------------------ driving links */

static int check_live(mock_link *l, const char *fn) {
  if (l->close_called) {
    violation("test: %s on link %llu after close()", fn,
              (unsigned long long)l->id);
    return 0;
  }
  return 1;
}

int32_t mock_connect(mock_link *l, const char *host, uint16_t port,
                     uint32_t timeout_ms) {
  if (!check_live(l, "mock_connect"))
    return GH_EINVAL;
  l->connect_called = 1;
  int32_t rc = l->inst->h->connect(mock_gl(l), host, port, timeout_ms);
  if (rc > 0)
    violation("connect returned %d (> 0)", (int)rc);
  if (rc < 0)
    l->connect_called = 0; /* no ready() may follow */
  return rc;
}

int32_t mock_write(mock_link *l, const void *data, size_t len) {
  if (!check_live(l, "mock_write"))
    return GH_EINVAL;
  /* Count first: written() may come from inside write(). */
  l->write_bytes += len;
  int32_t rc = l->inst->h->write(mock_gl(l), data, (uint32_t)len);
  if (rc < 0)
    l->write_bytes -= len;
  else
    l->write_calls++;
  return rc;
}

int32_t mock_shutdown(mock_link *l) {
  if (!check_live(l, "mock_shutdown"))
    return GH_EINVAL;
  l->shutdown_called = 1;
  return l->inst->h->shutdown(mock_gl(l));
}

void mock_read_start(mock_link *l) {
  if (check_live(l, "mock_read_start"))
    l->inst->h->read_start(mock_gl(l));
}

void mock_read_stop(mock_link *l) {
  if (check_live(l, "mock_read_stop"))
    l->inst->h->read_stop(mock_gl(l));
}

void mock_close(mock_link *l, int32_t reason) {
  if (!check_live(l, "mock_close"))
    return;
  l->close_called = 1;
  l->close_reason = reason;
  l->in_close = 1;
  l->inst->h->close(mock_gl(l), reason);
  l->in_close = 0;
  if (!is_transport_link(l))
    l->closed++;
}

int32_t mock_open(mock_link *l) {
  if (!check_live(l, "mock_open"))
    return GH_EINVAL;
  l->open_called = 1;
  l->open_result = GH_PENDING; /* ready() may come from inside open() */
  l->open_result = l->inst->h->open(mock_gl(l));
  return l->open_result;
}

int32_t mock_up(mock_link *l, const void *data, size_t len) {
  if (!check_live(l, "mock_up"))
    return GH_EINVAL;
  return l->inst->h->up(mock_gl(l), data, (uint32_t)len);
}

int32_t mock_down(mock_link *l, const void *data, size_t len) {
  if (!check_live(l, "mock_down"))
    return GH_EINVAL;
  return l->inst->h->down(mock_gl(l), data, (uint32_t)len);
}

void mock_up_eof(mock_link *l) {
  if (check_live(l, "mock_up_eof"))
    l->inst->h->up_eof(mock_gl(l));
}

void mock_down_eof(mock_link *l) {
  if (check_live(l, "mock_down_eof"))
    l->inst->h->down_eof(mock_gl(l));
}

/* ------------------------------------------------------------- plugins */

const gh_plugin *mock_plugin_load(const char *path, char *err, size_t errlen) {
  if (M.n_plugins == MAX_PLUGINS) {
    snprintf(err, errlen, "%s: too many plugins", path);
    return NULL;
  }
  void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    snprintf(err, errlen, "%s", dlerror());
    return NULL;
  }
  const char *why = NULL;
  const gh_plugin *p = NULL;
  gh_plugin_entry_fn entry;
  void *sym = dlsym(dl, GH_PLUGIN_ENTRY_NAME);
  memcpy(&entry, &sym, sizeof entry);
  if (!sym)
    why = "no " GH_PLUGIN_ENTRY_NAME;
  else if (!(p = entry()))
    why = GH_PLUGIN_ENTRY_NAME " returned NULL";
  else if (p->abi_major != GH_ABI_MAJOR)
    why = "ABI major differs";
  else if (p->abi_minor > GH_ABI_MINOR)
    why = "ABI minor is newer than the mock's";
  else if (p->size < offsetof(gh_plugin, fini) + sizeof p->fini)
    why = "descriptor too small";
  else if (!p->init || !p->handlers || p->n_handlers == 0)
    why = "descriptor incomplete";
  if (!why) {
    int32_t rc = p->init(&mock_host);
    if (rc > 0) {
      snprintf(err, errlen,
               "%s: init() returned %d: positive values are reserved; return "
               "0 or a negative errno",
               path, (int)rc);
      dlclose(dl);
      return NULL;
    }
    if (rc) {
      snprintf(err, errlen, "%s: init failed: %s", path, gh_strerror(rc));
      dlclose(dl);
      return NULL;
    }
  }
  if (why) {
    snprintf(err, errlen, "%s: %s", path, why);
    dlclose(dl);
    return NULL;
  }
  M.plugins[M.n_plugins].dl = dl;
  M.plugins[M.n_plugins].desc = p;
  M.n_plugins++;
  return p;
}

const gh_handler *mock_handler(const char *name) {
  for (size_t i = 0; i < M.n_plugins; i++) {
    const gh_plugin *p = M.plugins[i].desc;
    for (uint32_t k = 0; k < p->n_handlers; k++)
      if (p->handlers[k] && strcmp(p->handlers[k]->name, name) == 0)
        return p->handlers[k];
  }
  return NULL;
}

int mock_elf_exports(const char *path, char ***names) {
  uint8_t *f = NULL;
  size_t n = 0;
  int rc = read_file(path, &f, &n);
  if (rc)
    return rc;
  rc = -EINVAL;
  size_t count = 0, cap = 8;
  char **v = xcalloc(cap, sizeof *v);
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)(void *)f;
  if (n < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
      eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff > n ||
      (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > n - eh->e_shoff)
    goto out;
  const Elf64_Shdr *sh = (const Elf64_Shdr *)(void *)(f + eh->e_shoff);
  for (size_t s = 0; s < eh->e_shnum; s++) {
    if (sh[s].sh_type != SHT_DYNSYM)
      continue;
    if (sh[s].sh_link >= eh->e_shnum || sh[s].sh_offset > n ||
        sh[s].sh_size > n - sh[s].sh_offset)
      goto out;
    const Elf64_Shdr *st = &sh[sh[s].sh_link];
    if (st->sh_offset > n || st->sh_size > n - st->sh_offset)
      goto out;
    const Elf64_Sym *sym = (const Elf64_Sym *)(void *)(f + sh[s].sh_offset);
    const char *strs = (const char *)f + st->sh_offset;
    size_t nsym = sh[s].sh_size / sizeof(Elf64_Sym);
    for (size_t k = 1; k < nsym; k++) {
      unsigned bind = ELF64_ST_BIND(sym[k].st_info);
      if (sym[k].st_shndx == SHN_UNDEF ||
          (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE))
        continue;
      if (sym[k].st_name >= st->sh_size ||
          !memchr(strs + sym[k].st_name, 0, st->sh_size - sym[k].st_name))
        goto out;
      if (count + 1 >= cap) {
        cap *= 2;
        char **nv = realloc(v, cap * sizeof *nv);
        if (!nv)
          abort();
        v = nv;
      }
      v[count++] = xstrdup(strs + sym[k].st_name);
      v[count] = NULL;
    }
  }
  rc = (int)count;
out:
  free(f);
  if (rc < 0) {
    mock_strv_free(v);
    v = NULL;
  }
  *names = v;
  return rc;
}

void mock_strv_free(char **v) {
  for (size_t i = 0; v && v[i]; i++)
    free(v[i]);
  free(v);
}

/* ------------------------------------------------------------ the loop */

uv_loop_t *mock_loop(void) {
  return &M.loop;
}

static void guard_cb(uv_timer_t *t) {
  (void)t;
  M.guard_fired = 1;
}

int mock_run_until(mock_pred pred, void *arg, uint32_t timeout_ms) {
  if (pred && pred(arg))
    return 1;
  M.guard_fired = 0;
  uv_update_time(&M.loop);
  uv_timer_start(&M.guard, guard_cb, timeout_ms, 0);
  int ok = 0;
  while (!M.guard_fired) {
    uv_run(&M.loop, UV_RUN_ONCE);
    if (pred && pred(arg)) {
      ok = 1;
      break;
    }
  }
  uv_timer_stop(&M.guard);
  return ok;
}

void mock_run_for(uint32_t ms) {
  mock_run_until(NULL, NULL, ms);
}

int mock_pred_link_closed(void *l) {
  return ((mock_link *)l)->closed > 0;
}
int mock_pred_link_ready(void *l) {
  return ((mock_link *)l)->ready_calls > 0;
}
int mock_pred_link_eof_up(void *l) {
  return ((mock_link *)l)->eof_up > 0;
}
int mock_pred_link_aborted(void *l) {
  return ((mock_link *)l)->abort_calls > 0;
}
int mock_pred_listener_closed(void *l) {
  return ((mock_listener *)l)->closed > 0;
}
int mock_pred_listener_accepted(void *l) {
  return ((mock_listener *)l)->accepts > 0;
}

int mock_init(void) {
  if (M.up)
    mock_fini();
  memset(&M, 0, sizeof M);
  memset(&mock_stats, 0, sizeof mock_stats);
  memset(&mock_config, 0, sizeof mock_config);
  mock_config.log_level = GH_LOG_TRACE;
  mock_config.print_level = GH_LOG_WARN;
  const char *env = getenv("GH_MOCK_LOG");
  if (env && *env)
    mock_config.print_level = atoi(env);
  M.links_tail = &M.links;
  M.timers.next = M.timers.prev = &M.timers;
  signal(SIGPIPE, SIG_IGN);
  int rc = uv_loop_init(&M.loop);
  if (rc)
    return rc;
  uv_timer_init(&M.loop, &M.guard);
  uv_timer_init(&M.loop, &M.defer);
  uv_unref((uv_handle_t *)&M.defer);
  M.up = 1;
  return 0;
}

static void count_handle(uv_handle_t *h, void *arg) {
  (void)h;
  ++*(int *)arg;
}

static int n_handles(void) {
  int n = 0;
  uv_walk(&M.loop, count_handle, &n);
  return n;
}

static void noop_close(uv_handle_t *h) {
  (void)h;
}

static void force_close(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

int mock_fini(void) {
  if (!M.up)
    return 0;
  int rc = 0;
  for (mock_timer *t = M.timers.next; t != &M.timers; t = t->next)
    if (!t->freed) {
      fprintf(stderr, "mock: a timer was never freed\n");
      t->freed = 1;
      uv_close((uv_handle_t *)&t->uv, timer_closed);
    }
  uv_close((uv_handle_t *)&M.guard, noop_close);
  uv_close((uv_handle_t *)&M.defer, noop_close);
  /* Close callbacks run in the next iteration; give stragglers (a
   * plugin's lingering close, say) up to 2 s. */
  for (int i = 0; i < 2000 && n_handles() > 0; i++) {
    uv_run(&M.loop, UV_RUN_NOWAIT);
    if (n_handles() > 0)
      usleep(1000);
  }
  if (n_handles() > 0) {
    /* A leak, or a test that failed half-way. Close them anyway (their
     * owners are not told) so that the next test starts from a clean
     * loop; the plugins stay loaded, as their memory may be in use. */
    fprintf(stderr, "mock: handles still open at mock_fini:\n");
    uv_print_all_handles(&M.loop, stderr);
    rc = UV_EBUSY;
    uv_walk(&M.loop, force_close, NULL);
    for (int i = 0; i < 100 && n_handles() > 0; i++)
      uv_run(&M.loop, UV_RUN_NOWAIT);
  }
  for (mock_inst *i = M.insts; i; i = i->next)
    mock_inst_free(i);
  if (rc == 0)
    for (size_t i = M.n_plugins; i-- > 0;) {
      if (M.plugins[i].desc->fini)
        M.plugins[i].desc->fini();
      dlclose(M.plugins[i].dl);
    }
  int lc = uv_loop_close(&M.loop);
  if (lc) {
    fprintf(stderr, "mock: uv_loop_close: %s\n", uv_strerror(lc));
    if (rc == 0)
      rc = lc;
  }
  for (mock_link *l = M.links; l;) {
    mock_link *next = l->next;
    mock_buf_reset(&l->up);
    mock_buf_reset(&l->down);
    l->magic = 0;
    free(l);
    l = next;
  }
  for (mock_listener *l = M.listeners; l;) {
    mock_listener *next = l->next;
    free(l->accepted);
    free(l);
    l = next;
  }
  for (mock_inst *i = M.insts; i;) {
    mock_inst *next = i->next;
    inst_destroy(i);
    i = next;
  }
  M.up = 0;
  return rc;
}

/* ------------------------------------------------------------- helpers */

uint16_t mock_free_port(int type) {
  int fd = socket(AF_INET, type, 0);
  if (fd < 0)
    return 0;
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sin;
  uint16_t port = 0;
  if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
      getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
    port = ntohs(sin.sin_port);
  close(fd);
  return port;
}

int mock_addr(gh_addr *a, const char *ip, uint16_t port) {
  memset(a, 0, sizeof *a);
  a->port = port;
  if (inet_pton(AF_INET, ip, a->addr) == 1) {
    a->family = GH_AF_INET;
    return 0;
  }
  if (inet_pton(AF_INET6, ip, a->addr) == 1) {
    a->family = GH_AF_INET6;
    return 0;
  }
  return GH_EINVAL;
}

const char *mock_addr_str(const gh_addr *a, char *buf, size_t len) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (a->family == GH_AF_INET) {
    inet_ntop(AF_INET, a->addr, ip, sizeof ip);
    snprintf(buf, len, "%s:%u", ip, (unsigned)a->port);
  } else if (a->family == GH_AF_INET6) {
    inet_ntop(AF_INET6, a->addr, ip, sizeof ip);
    snprintf(buf, len, "[%s]:%u", ip, (unsigned)a->port);
  } else {
    snprintf(buf, len, "(none):%u", (unsigned)a->port);
  }
  return buf;
}
