#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ini.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define GH__NAME_MAX 255 /* gateway ids, destination names: fit a frame */
#define GH__TOKEN_MIN 16 /* secure default: a short token can be guessed */
#define GH__TOKEN_MAX 1024
#define GH__TOKENS_MAX 64
#define GH__SERVERS_MAX 64
#define GH__GATEWAYS_MAX 4096
#define GH__OPTS_MAX 1024
#define GH__VALUE_MAX 65535 /* of one pushed value */
#define GH__PUSHED "<pushed>"
#define GH__PUSH_MAGIC "GHD"
#define GH__PUSH_VERSION 1
#define GH__REC_KV 1
#define GH__REC_BLOB 2

/* ------------------------------------------------------------ helpers */

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fputs("gatehouse: out of memory\n", stderr);
    abort();
  }
  return q;
}

/* Grows *v (of *cap elements of `size`) to hold at least n + 1. */
static void grow(void **v, size_t *cap, size_t n, size_t size) {
  if (n < *cap)
    return;
  size_t c = *cap ? *cap * 2 : 4;
  *v = xrealloc(*v, c * size);
  memset((char *)*v + *cap * size, 0, (c - *cap) * size);
  *cap = c;
}

/* Tokens and key files must not linger in freed memory. */
static void secret_free(char *s) {
  if (!s)
    return;
  explicit_bzero(s, strlen(s));
  free(s);
}

static int name_valid(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > GH__NAME_MAX)
    return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
      return 0;
  return 1;
}

/* A key shown in a message: only when it cannot be part of a secret that
 * was mistyped into the key position. */
static int key_showable(const char *k) {
  size_t n = strlen(k);
  if (n == 0 || n > 64)
    return 0;
  for (; *k; k++)
    if (!isalnum((unsigned char)*k) && !strchr("._-", *k))
      return 0;
  return 1;
}

static void fmt_hostport(const char *host, uint16_t port, char *out,
                         size_t len) {
  if (!host)
    snprintf(out, len, ":%u", port);
  else if (strchr(host, ':'))
    snprintf(out, len, "[%s]:%u", host, port);
  else
    snprintf(out, len, "%s:%u", host, port);
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out) {
  uint64_t v = 0;
  if (!*s)
    return GH_EINVAL;
  for (; *s; s++) {
    if (!isdigit((unsigned char)*s))
      return GH_EINVAL;
    v = v * 10 + (uint64_t)(*s - '0');
    if (v > max)
      return GH_ERANGE;
  }
  if (v < min)
    return GH_ERANGE;
  *out = (uint32_t)v;
  return 0;
}

static int port_parse(const char *s, size_t n, uint16_t *port) {
  char buf[8];
  uint32_t v;
  if (n == 0 || n >= sizeof(buf))
    return GH_EINVAL;
  memcpy(buf, s, n);
  buf[n] = '\0';
  if (parse_u32(buf, 1, 65535, &v) < 0)
    return GH_EINVAL;
  *port = (uint16_t)v;
  return 0;
}

int gh__hostport_parse(const char *s, char **host, uint16_t *port) {
  const char *h, *colon;
  size_t hl;
  char buf[256];
  *host = NULL;
  *port = 0;
  if (!s)
    return GH_EINVAL;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':')
      return GH_EINVAL;
    h = s + 1;
    hl = (size_t)(close - h);
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon)
      return GH_EINVAL;
    h = s;
    hl = (size_t)(colon - s);
    if (memchr(h, ':', hl))
      return GH_EINVAL; /* an IPv6 address needs brackets */
  }
  if (hl >= sizeof(buf) || (hl == 0 && s[0] == '['))
    return GH_EINVAL;
  memcpy(buf, h, hl);
  buf[hl] = '\0';
  gh_addr a;
  int numeric = gh__addr_parse(buf, &a) == 0;
  if (s[0] == '[' ? !numeric || a.family != GH_AF_INET6
                  : hl > 0 && !numeric && !gh__hostname_valid(buf))
    return GH_EINVAL;
  if (port_parse(colon + 1, strlen(colon + 1), port) < 0)
    return GH_EINVAL;
  *host = hl ? gh__strdup(buf) : NULL;
  return 0;
}

const gh__kv *gh__kvs_find(const gh__kvs *kvs, const char *key) {
  for (size_t i = 0; i < kvs->n; i++)
    if (strcmp(kvs->v[i].key, key) == 0)
      return &kvs->v[i];
  return NULL;
}

/* ---------------------------------------------------------- file paths */

/* The directory that relative paths of `file` are anchored to; NULL when
 * the file name has none (the working directory). */
static char *path_dir(const char *file) {
  const char *slash = file ? strrchr(file, '/') : NULL;
  if (!slash)
    return NULL;
  if (slash == file)
    return gh__strdup("/");
  return gh__strndup(file, (size_t)(slash - file));
}

static char *path_resolve(const char *dir, const char *value) {
  if (value[0] == '/' || !dir)
    return gh__strdup(value);
  size_t n = strlen(dir) + strlen(value) + 2;
  char *out = gh__xcalloc(1, n);
  snprintf(out, n, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", value);
  return out;
}

/* 0 if path can be opened for reading; -errno otherwise. O_NONBLOCK so
 * that a FIFO does not hang the check (it is refused: not a regular file). */
static int file_check(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return -errno;
  struct stat st;
  /* As gh__file_read() will take it at the start: a regular file of at most
   * 16 MiB (a FIFO or /dev/zero passed `check`, then failed the start). */
  int rc = fstat(fd, &st) < 0        ? -errno
           : S_ISDIR(st.st_mode)     ? -EISDIR
           : !S_ISREG(st.st_mode)    ? -EINVAL
           : st.st_size > 16 * 1024 * 1024 ? -EFBIG
                                          : 0;
  close(fd);
  return rc;
}

/* ---- warnings: secrets that others can read */

static char **warn_v;
static size_t warn_n;
static gid_t secret_gid; /* the group gatehouse runs as: may read secrets */

static void cfg_warn(const char *file, int line, const char *fmt, ...)
    GH_PRINTF(3, 4);
static void cfg_warn(const char *file, int line, const char *fmt, ...) {
  char msg[768], out[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (line > 0)
    snprintf(out, sizeof(out), "%s:%d: warning: %s", file, line, msg);
  else
    snprintf(out, sizeof(out), "%s: warning: %s", file, msg);
  /* A client re-reads its own destinations' files at every tunnel: keep
   * each line once, and a bounded number of them, until flushed. */
  if (warn_n >= 64)
    return;
  for (size_t i = 0; i < warn_n; i++)
    if (strcmp(warn_v[i], out) == 0)
      return;
  char **v = realloc(warn_v, (warn_n + 1) * sizeof(*warn_v));
  if (!v)
    return;
  warn_v = v;
  warn_v[warn_n++] = gh__strdup(out);
}

void gh__cfg_warnings_flush(void (*fn)(const char *line, void *arg),
                            void *arg) {
  for (size_t i = 0; i < warn_n; i++) {
    if (fn)
      fn(warn_v[i], arg);
    free(warn_v[i]);
  }
  free(warn_v);
  warn_v = NULL;
  warn_n = 0;
}

/* A secret (a token file, a private key) that others can read is warned
 * about, not refused. Readable by its group is fine when that group is the
 * one gatehouse runs as (root:gatehouse 0640, so that a reload after the
 * privilege drop can read it). */
static void secret_mode_check(const char *file, int line, const char *key,
                              const char *path) {
  struct stat st;
  if (stat(path, &st) != 0)
    return;
  const char *who = (st.st_mode & S_IROTH) ? "others"
                    : (st.st_mode & S_IRGRP) && st.st_gid != secret_gid
                        ? "its group"
                        : NULL;
  if (who)
    cfg_warn(file, line,
             "%s: '%s' holds a secret and is readable by %s (mode %04o, "
             "gid %ld): chmod 600, or 640 with the group gatehouse runs as",
             key, path, who, (unsigned)(st.st_mode & 07777),
             (long)st.st_gid);
}

/* The option of a handler is a secret: "key", or a name ending in "_key". */
static int secret_option(const char *key) {
  const char *name = strrchr(key, '.');
  name = name ? name + 1 : key;
  size_t n = strlen(name);
  return strcmp(name, "key") == 0 ||
         (n > 4 && strcmp(name + n - 4, "_key") == 0);
}

/* ---------------------------------------------------- destination keys */

static const char *type_name(int type) {
  return type == GH__DEST_ONPREM  ? "onprem"
         : type == GH__DEST_CLOUD ? "cloud"
                                  : "?";
}

static int why(char *err, size_t errlen, const char *fmt, ...) GH_PRINTF(3, 4);
static int why(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  if (err && errlen) {
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return GH_EINVAL;
}

/* "tcp", "tcp+tls+http", blanks allowed around '+'. The names are checked
 * against the plugins in gh__dest_validate. */
static int proto_valid(const char *s) {
  for (;;) {
    while (*s == ' ' || *s == '\t')
      s++;
    size_t n = 0;
    while (islower((unsigned char)s[n]) || isdigit((unsigned char)s[n]) ||
           (n > 0 && s[n] == '-'))
      n++;
    if (n == 0 || n > 32)
      return 0;
    s += n;
    while (*s == ' ' || *s == '\t')
      s++;
    if (*s == '\0')
      return 1;
    if (*s++ != '+')
      return 0;
  }
}

static int ds_gateway(gh__dest *d, const char *v, char *err, size_t errlen) {
  if (!name_valid(v))
    return why(err, errlen,
               "gateway: bad id '%.100s' (letters, digits, '.', '_', '-')", v);
  d->gateway = gh__strdup(v);
  return 0;
}

static int ds_type(gh__dest *d, const char *v, char *err, size_t errlen) {
  if (strcmp(v, "onprem") == 0)
    d->type = GH__DEST_ONPREM;
  else if (strcmp(v, "cloud") == 0)
    d->type = GH__DEST_CLOUD;
  else
    return why(err, errlen, "type must be onprem or cloud, not '%.100s'", v);
  return 0;
}

static int ds_listen(gh__dest *d, const char *v, char *err, size_t errlen) {
  if (gh__hostport_parse(v, &d->listen_host, &d->listen_port) < 0)
    return why(err, errlen,
               "listen: expected host:port, [v6]:port or :port, not '%.100s'",
               v);
  return 0;
}

static int ds_client_port(gh__dest *d, const char *v, char *err,
                          size_t errlen) {
  uint32_t port;
  if (parse_u32(v, 1, 65535, &port) < 0)
    return why(err, errlen, "client_port must be a port from 1 to 65535");
  d->client_port = (uint16_t)port;
  return 0;
}

static int ds_client_bind(gh__dest *d, const char *v, char *err,
                          size_t errlen) {
  gh_addr a;
  if (gh__addr_parse(v, &a) < 0 && !gh__hostname_valid(v))
    return why(err, errlen,
               "client_bind: expected an address or a host name, not "
               "'%.100s'",
               v);
  d->client_bind = gh__strdup(v);
  return 0;
}

static int ds_resource(gh__dest *d, const char *v, char *err, size_t errlen) {
  if (gh__hostport_parse(v, &d->resource_host, &d->resource_port) < 0 ||
      !d->resource_host) {
    free(d->resource_host);
    d->resource_host = NULL;
    d->resource_port = 0;
    return why(err, errlen,
               "resource: expected host:port or [v6]:port, not '%.100s'", v);
  }
  return 0;
}

static int ds_proto(char **dst, const char *key, const char *v, char *err,
                    size_t errlen) {
  if (!proto_valid(v))
    return why(err, errlen,
               "%s: bad chain '%.100s' (handler names joined by '+', e.g. "
               "tcp+tls)",
               key, v);
  *dst = gh__strdup(v);
  return 0;
}

static int ds_listen_proto(gh__dest *d, const char *v, char *err,
                           size_t errlen) {
  return ds_proto(&d->listen_proto, "listen.protocol", v, err, errlen);
}

static int ds_resource_proto(gh__dest *d, const char *v, char *err,
                             size_t errlen) {
  return ds_proto(&d->resource_proto, "resource.protocol", v, err, errlen);
}

static int ds_protocol(gh__dest *d, const char *v, char *err, size_t errlen) {
  if (ds_proto(&d->listen_proto, "protocol", v, err, errlen) < 0)
    return GH_EINVAL;
  d->resource_proto = gh__strdup(v);
  return 0;
}

static int ds_allow(gh__dest *d, const char *v, char *err, size_t errlen) {
  char reason[256];
  if (gh__iplist_add(&d->allow, v, reason, sizeof(reason)) < 0)
    return why(err, errlen, "allow: %s", reason);
  return 0;
}

static int ds_connect_timeout(gh__dest *d, const char *v, char *err,
                              size_t errlen) {
  uint32_t s;
  if (parse_u32(v, 1, 3600, &s) < 0)
    return why(err, errlen,
               "connect_timeout must be a number of seconds from 1 to 3600");
  d->connect_timeout_ms = s * 1000u;
  return 0;
}

typedef int (*gh__dset_fn)(gh__dest *d, const char *v, char *err,
                           size_t errlen);

static const struct {
  const char *key;
  int idx; /* GH__DK_*; -1: protocol, which sets both sides */
  gh__dset_fn fn;
} dest_keys[] = {
    {"gateway", GH__DK_GATEWAY, ds_gateway},
    {"type", GH__DK_TYPE, ds_type},
    {"listen", GH__DK_LISTEN, ds_listen},
    {"client_port", GH__DK_CLIENT_PORT, ds_client_port},
    {"client_bind", GH__DK_CLIENT_BIND, ds_client_bind},
    {"resource", GH__DK_RESOURCE, ds_resource},
    {"protocol", -1, ds_protocol},
    {"listen.protocol", GH__DK_LISTEN_PROTO, ds_listen_proto},
    {"resource.protocol", GH__DK_RESOURCE_PROTO, ds_resource_proto},
    {"allow", GH__DK_ALLOW, ds_allow},
    {"connect_timeout", GH__DK_CONNECT_TIMEOUT, ds_connect_timeout},
};

static int dest_given(const gh__dest *d, int idx) {
  switch (idx) {
  case GH__DK_GATEWAY:
    return d->gateway != NULL;
  case GH__DK_TYPE:
    return d->type != 0;
  case GH__DK_LISTEN:
    return d->listen_port != 0;
  case GH__DK_CLIENT_PORT:
    return d->client_port != 0;
  case GH__DK_CLIENT_BIND:
    return d->client_bind != NULL;
  case GH__DK_RESOURCE:
    return d->resource_port != 0;
  case GH__DK_LISTEN_PROTO:
    return d->listen_proto != NULL;
  case GH__DK_RESOURCE_PROTO:
    return d->resource_proto != NULL;
  case GH__DK_CONNECT_TIMEOUT:
    return d->connect_timeout_ms != 0;
  default:
    return 0; /* allow repeats */
  }
}

static int twice(const gh__dest *d, const char *key, int idx, char *err,
                 size_t errlen) {
  int first = d->key_line[idx];
  if (first > 0)
    return why(err, errlen, "%s is already set (line %d)", key, first);
  return why(err, errlen, "%s is already set", key);
}

static int handler_name_ok(const char *s, size_t n) {
  if (n == 0 || n > 32 || s[0] == '-')
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) &&
        s[i] != '-')
      return 0;
  return 1;
}

static int option_name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 63)
    return 0;
  for (; *s; s++)
    if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) &&
        *s != '_' && *s != '-')
      return 0;
  return 1;
}

/* "SIDE.HANDLER.KEY" or "HANDLER.KEY" -> side (0: both), handler, key. */
static int opt_key_split(const char *key, uint32_t *side, char *handler,
                         size_t hlen, const char **opt) {
  const char *d1 = strchr(key, '.');
  if (!d1)
    return GH_EINVAL;
  const char *d2 = strchr(d1 + 1, '.');
  size_t l0 = (size_t)(d1 - key);
  int named_side = (l0 == 6 && strncmp(key, "listen", 6) == 0) ||
                   (l0 == 8 && strncmp(key, "resource", 8) == 0);
  const char *h = key, *o = d1 + 1;
  size_t hl = l0;
  *side = 0;
  if (d2) {
    if (!named_side || strchr(d2 + 1, '.'))
      return GH_EINVAL;
    *side = key[0] == 'l' ? GH_SIDE_LISTEN : GH_SIDE_RESOURCE;
    h = d1 + 1;
    hl = (size_t)(d2 - h);
    o = d2 + 1;
  } else if (named_side) {
    return GH_EINVAL; /* "listen.x": the handler is missing */
  }
  if (!handler_name_ok(h, hl) || hl >= hlen || !option_name_ok(o))
    return GH_EINVAL;
  memcpy(handler, h, hl);
  handler[hl] = '\0';
  *opt = o;
  return 0;
}

static gh__kv *kvs_push(gh__kvs *kvs, const char *key, const char *value,
                        int line) {
  grow((void **)&kvs->v, &kvs->cap, kvs->n, sizeof(gh__kv));
  gh__kv *kv = &kvs->v[kvs->n++];
  memset(kv, 0, sizeof(*kv));
  kv->key = gh__strdup(key);
  kv->value = gh__strdup(value);
  kv->line = line;
  return kv;
}

static void kv_free(gh__kv *kv) {
  free(kv->key);
  free(kv->value);
  if (kv->blob)
    explicit_bzero(kv->blob, kv->blob_len); /* may be a private key */
  free(kv->blob);
  free(kv->file);
  memset(kv, 0, sizeof(*kv));
}

/* A handler option "SIDE.HANDLER.KEY" or "HANDLER.KEY", added to kvs. */
static gh__kv *opt_push(gh__kvs *kvs, const char *key, const char *value,
                        int line, char *err, size_t errlen) {
  uint32_t side;
  char h[40];
  const char *o;
  if (opt_key_split(key, &side, h, sizeof(h), &o) < 0) {
    if (!key_showable(key))
      why(err, errlen, "unknown key");
    else
      why(err, errlen,
          "unknown key '%s' (handler options are HANDLER.KEY, "
          "listen.HANDLER.KEY or resource.HANDLER.KEY)",
          key);
    return NULL;
  }
  if (kvs->n >= GH__OPTS_MAX) {
    why(err, errlen, "too many handler options (at most %d)", GH__OPTS_MAX);
    return NULL;
  }
  return kvs_push(kvs, key, value, line);
}

static int opt_add(gh__dest *d, const char *key, const char *value, int line,
                   char *err, size_t errlen) {
  return opt_push(&d->opts, key, value, line, err, errlen) ? 0 : GH_EINVAL;
}

int gh__dest_set(gh__dest *d, const char *key, const char *value, int line,
                 char *err, size_t errlen) {
  if (!key || !value)
    return why(err, errlen, "missing key or value");
  for (size_t i = 0; i < GH__ARRAY_LEN(dest_keys); i++) {
    if (strcmp(dest_keys[i].key, key) != 0)
      continue;
    int idx = dest_keys[i].idx;
    if (idx < 0 && dest_given(d, GH__DK_LISTEN_PROTO))
      return twice(d, "the listen side's protocol", GH__DK_LISTEN_PROTO, err,
                   errlen);
    if (idx < 0 && dest_given(d, GH__DK_RESOURCE_PROTO))
      return twice(d, "the resource side's protocol", GH__DK_RESOURCE_PROTO,
                   err, errlen);
    if (idx >= 0 && dest_given(d, idx))
      return twice(d, key, idx, err, errlen);
    if (!*value)
      return why(err, errlen, "%s has no value", key);
    int rc = dest_keys[i].fn(d, value, err, errlen);
    if (rc < 0)
      return rc;
    if (idx < 0) {
      d->key_line[GH__DK_LISTEN_PROTO] = line;
      d->key_line[GH__DK_RESOURCE_PROTO] = line;
    } else if (!d->key_line[idx]) {
      d->key_line[idx] = line;
    }
    return 0;
  }
  if (strchr(key, '.'))
    return opt_add(d, key, value, line, err, errlen);
  if (!key_showable(key))
    return why(err, errlen, "unknown key");
  return why(err, errlen, "unknown key '%s'", key);
}

/* What a destination needs whatever its source (a file, a push), and its
 * defaults. *idx gets the key concerned (GH__DK_*), or -1 for the section. */
static int dest_finish(gh__dest *d, int *idx, char *err, size_t errlen) {
  const char *n = d->name ? d->name : "?";
  *idx = -1;
  if (!d->gateway)
    return why(err, errlen, "destination '%s' has no gateway = ID", n);
  if (!d->type)
    return why(err, errlen, "destination '%s' has no type = onprem | cloud", n);
  if (d->type == GH__DEST_ONPREM) {
    if (d->client_port || d->client_bind) {
      *idx = d->client_port ? GH__DK_CLIENT_PORT : GH__DK_CLIENT_BIND;
      return why(err, errlen,
                 "destination '%s': %s is for type = cloud (the client "
                 "listens); type = onprem uses listen = host:port (the "
                 "server listens)",
                 n, d->client_port ? "client_port" : "client_bind");
    }
    if (!d->listen_port)
      return why(err, errlen,
                 "destination '%s' (onprem) needs listen = host:port, where "
                 "the server listens",
                 n);
  } else {
    if (d->listen_port) {
      *idx = GH__DK_LISTEN;
      return why(err, errlen,
                 "destination '%s': listen is for type = onprem; a cloud "
                 "destination listens on the client, at client_port",
                 n);
    }
    if (!d->client_port)
      return why(err, errlen,
                 "destination '%s' (cloud) needs client_port = N, where the "
                 "client listens",
                 n);
    if (!d->client_bind)
      d->client_bind = gh__strdup("127.0.0.1");
  }
  if (!d->resource_port)
    return why(err, errlen, "destination '%s' needs resource = host:port", n);
  if (!d->listen_proto)
    d->listen_proto = gh__strdup("tcp");
  if (!d->resource_proto)
    d->resource_proto = gh__strdup("tcp");
  if (!d->connect_timeout_ms)
    d->connect_timeout_ms = 10000;
  return 0;
}

void gh__dest_free(gh__dest *d) {
  if (!d)
    return;
  free(d->name);
  free(d->gateway);
  free(d->listen_host);
  free(d->client_bind);
  free(d->resource_host);
  free(d->listen_proto);
  free(d->resource_proto);
  for (size_t i = 0; i < d->opts.n; i++)
    kv_free(&d->opts.v[i]);
  free(d->opts.v);
  gh__iplist_free(&d->allow);
  memset(d, 0, sizeof(*d));
}

/* --------------------------------------------------------- INI parsing */

enum {
  SEC_NONE,
  SEC_SERVER,
  SEC_CLIENT,
  SEC_SGW,
  SEC_CGW,
  SEC_DEST,
  SEC_ACL,
  SEC_LDEST /* a client's [destination NAME] */
};
enum { ROLE_SERVER = 1, ROLE_CLIENT = 2 };
#define GH__KEYS_MAX 32

typedef struct gh__parse {
  const char *file; /* as shown in messages */
  char *dir;        /* anchors relative paths; NULL: the working dir */
  const char *text;
  size_t len, pos;
  int line; /* of the line inih is working on */
  int failed, err_line;
  char *err;
  size_t errlen;
  int role;
  gh__server_cfg *s;
  gh__client_cfg *c;
  /* the keys [server] and [client] share */
  char **admin_host;
  uint16_t *admin_port;
  char **plugin_dir;
  char **user, **group;
  int *log_level;
  uint32_t *drain_s, *ka_s, *kat_s;
  uint32_t *connecting_max, *open_queue_max;
  /* the section being read */
  int sec, sec_line;
  char sec_name[GH__NAME_MAX + 1];
  size_t sec_idx;
  int seen[GH__KEYS_MAX]; /* line of each key of the section's table */
  int main_line;          /* [server] / [client] */
  int acl_line;
  int tunnel_line, admin_line, ka_line, kat_line;
  int group_line;
  /* token_file, key: checked for who may read them once user and group
   * are known (secrets_check) */
  struct secret_ref {
    char *path;
    const char *key;
    int line;
  } *secrets;
  size_t n_secrets;
} gh__parse;

static int fail(gh__parse *p, int line, const char *fmt, ...) GH_PRINTF(3, 4);
static int fail(gh__parse *p, int line, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  if (p->failed)
    return GH_EINVAL; /* the first error is the one to fix first */
  p->failed = 1;
  p->err_line = line;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (!p->err || !p->errlen)
    return GH_EINVAL;
  if (line > 0)
    snprintf(p->err, p->errlen, "%s:%d: %s", p->file, line, msg);
  else
    snprintf(p->err, p->errlen, "%s: %s", p->file, msg);
  return GH_EINVAL;
}

static const char *sec_desc(const gh__parse *p, char *buf, size_t len) {
  static const char *const kinds[] = {"",        "server",     "client",
                                      "gateway", "gateway",    "destination",
                                      "acl",     "destination"};
  if (p->sec_name[0])
    snprintf(buf, len, "[%s %s]", kinds[p->sec], p->sec_name);
  else
    snprintf(buf, len, "[%s]", kinds[p->sec]);
  return buf;
}

static gh__server_gw *cur_sgw(gh__parse *p) {
  return &p->s->gateways[p->sec_idx];
}
static gh__client_gw *cur_cgw(gh__parse *p) {
  return &p->c->gateways[p->sec_idx];
}
static gh__dest *cur_dest(gh__parse *p) {
  return &p->s->dests[p->sec_idx];
}
static gh__local_dest *cur_ldest(gh__parse *p) {
  return &p->c->locals[p->sec_idx];
}

/* ---- secrets: who may read them (see secret_mode_check) */

static void secret_add(gh__parse *p, const char *key, const char *path) {
  struct secret_ref *v =
      realloc(p->secrets, (p->n_secrets + 1) * sizeof(*p->secrets));
  if (!v)
    return;
  p->secrets = v;
  p->secrets[p->n_secrets++] =
      (struct secret_ref){gh__strdup(path), key, p->line};
}

/* Once user and group are known: who may read the secrets. */
static void secrets_check(gh__parse *p) {
  const char *group = *p->group, *user = *p->user;
  struct group *gr = group ? getgrnam(group) : NULL;
  struct passwd *pw = user ? getpwnam(user) : NULL;
  secret_gid = gr ? gr->gr_gid : pw ? pw->pw_gid : getegid();
  for (size_t i = 0; i < p->n_secrets; i++)
    secret_mode_check(p->file, p->secrets[i].line, p->secrets[i].key,
                      p->secrets[i].path);
  /* A client's own destinations: their files are read when a tunnel
   * brings the destination, so their modes are checked here, with the
   * rest of the file. */
  for (size_t i = 0; p->c && i < p->c->n_locals; i++) {
    const gh__kvs *o = &p->c->locals[i].opts;
    for (size_t k = 0; k < o->n; k++)
      if (secret_option(o->v[k].key)) {
        char *path = path_resolve(p->dir, o->v[k].value);
        secret_mode_check(p->file, o->v[k].line, o->v[k].key, path);
        free(path);
      }
  }
}

static void secrets_free(gh__parse *p) {
  for (size_t i = 0; i < p->n_secrets; i++)
    free(p->secrets[i].path);
  free(p->secrets);
  p->secrets = NULL;
  p->n_secrets = 0;
}

/* ---- keys of [server], [client] and the gateways */

typedef int (*gh__key_fn)(gh__parse *p, const char *key, const char *value);
typedef struct gh__keydef {
  const char *name;
  gh__key_fn fn;
  int multi;
} gh__keydef;

static int key_hostport(gh__parse *p, const char *key, const char *v,
                        char **host, uint16_t *port) {
  if (gh__hostport_parse(v, host, port) < 0)
    return fail(p, p->line,
                "%s: expected host:port, [v6]:port or :port, not '%.100s'", key,
                v);
  return 0;
}

static int key_seconds(gh__parse *p, const char *key, const char *v,
                       uint32_t min, uint32_t max, uint32_t *out) {
  if (parse_u32(v, min, max, out) < 0)
    return fail(p, p->line, "%s must be a number of seconds from %u to %u", key,
                min, max);
  return 0;
}

static int key_file(gh__parse *p, const char *key, const char *v, char **dst) {
  char *path = path_resolve(p->dir, v);
  int rc = file_check(path);
  if (rc < 0) {
    fail(p, p->line, "%s: cannot read '%s': %s", key, path, strerror(-rc));
    free(path);
    return GH_EINVAL;
  }
  *dst = path;
  return 0;
}

static int k_admin(gh__parse *p, const char *k, const char *v) {
  p->admin_line = p->line;
  return key_hostport(p, k, v, p->admin_host, p->admin_port);
}

static int k_plugin_dir(gh__parse *p, const char *k, const char *v) {
  (void)k;
  *p->plugin_dir = path_resolve(p->dir, v);
  return 0;
}

/* user and group must exist when the file is read, so that `check` says
 * so with FILE:LINE; the process takes that identity once it has bound its
 * ports and read its keys (main.c). */
static int k_user(gh__parse *p, const char *k, const char *v) {
  if (!*v || !getpwnam(v))
    return fail(p, p->line, "%s: no such user '%.64s'", k, v);
  free(*p->user);
  *p->user = gh__strdup(v);
  return 0;
}

static int k_group(gh__parse *p, const char *k, const char *v) {
  if (!*v || !getgrnam(v))
    return fail(p, p->line, "%s: no such group '%.64s'", k, v);
  free(*p->group);
  *p->group = gh__strdup(v);
  p->group_line = p->line;
  return 0;
}

/* group alone would leave the process root with another gid: refused, not
 * silently half-done. */
static int identity_check(gh__parse *p) {
  if (*p->group && !*p->user)
    return fail(p, p->group_line,
                "group = %s without user =: gatehouse would go on running as "
                "root; set user = too (e.g. user = gatehouse)",
                *p->group);
  return 0;
}

static int k_log_level(gh__parse *p, const char *k, const char *v) {
  int level = gh__log_parse_level(v);
  if (level < 0)
    return fail(p, p->line,
                "%s must be error, warn, info, debug or trace, not '%.40s'", k,
                v);
  *p->log_level = level;
  return 0;
}

static int k_drain(gh__parse *p, const char *k, const char *v) {
  return key_seconds(p, k, v, 0, 86400, p->drain_s);
}

static int k_keepalive(gh__parse *p, const char *k, const char *v) {
  p->ka_line = p->line;
  return key_seconds(p, k, v, 1, 3600, p->ka_s);
}

static int k_keepalive_timeout(gh__parse *p, const char *k, const char *v) {
  p->kat_line = p->line;
  return key_seconds(p, k, v, 2, 86400, p->kat_s);
}

/* The streams a tunnel may hold (65,536) bound both. */
static int k_connecting_max(gh__parse *p, const char *k, const char *v) {
  if (parse_u32(v, 1, 65536, p->connecting_max) < 0)
    return fail(p, p->line, "%s must be a number from 1 to 65536", k);
  return 0;
}

static int k_open_queue_max(gh__parse *p, const char *k, const char *v) {
  if (parse_u32(v, 0, 65536, p->open_queue_max) < 0)
    return fail(p, p->line, "%s must be a number from 0 to 65536", k);
  return 0;
}

static int k_tunnel(gh__parse *p, const char *k, const char *v) {
  p->tunnel_line = p->line;
  return key_hostport(p, k, v, &p->s->tunnel_host, &p->s->tunnel_port);
}

static int k_cert(gh__parse *p, const char *k, const char *v) {
  return key_file(p, k, v, &p->s->cert);
}

static int k_key(gh__parse *p, const char *k, const char *v) {
  if (key_file(p, k, v, &p->s->key) < 0)
    return GH_EINVAL;
  secret_add(p, "key", p->s->key);
  return 0;
}

static int k_client_ca(gh__parse *p, const char *k, const char *v) {
  return key_file(p, k, v, &p->s->client_ca);
}

/* A CRL file: read and parsed now, so that `check` and a reload name the
 * line of a file that holds none. */
static int key_crl(gh__parse *p, const char *k, const char *v, char **dst,
                   int *line) {
  char *path = NULL;
  if (key_file(p, k, v, &path) < 0)
    return GH_EINVAL;
  char why[300];
  if (gh__crl_file_check(path, why, sizeof(why)) < 0) {
    fail(p, p->line, "%s: '%s': %s", k, path, why);
    free(path);
    return GH_EINVAL;
  }
  free(*dst);
  *dst = path;
  *line = p->line;
  return 0;
}

static int k_client_crl(gh__parse *p, const char *k, const char *v) {
  return key_crl(p, k, v, &p->s->client_crl, &p->s->client_crl_line);
}

static int k_unauth_max(gh__parse *p, const char *k, const char *v) {
  if (parse_u32(v, 1, 65536, &p->s->unauth_max) < 0)
    return fail(p, p->line, "%s must be a number from 1 to 65536", k);
  return 0;
}

static int k_unauth_per_source(gh__parse *p, const char *k, const char *v) {
  if (parse_u32(v, 1, 65536, &p->s->unauth_per_source) < 0)
    return fail(p, p->line, "%s must be a number from 1 to 65536", k);
  return 0;
}

static int k_handshake_timeout(gh__parse *p, const char *k, const char *v) {
  return key_seconds(p, k, v, 1, 3600, &p->s->handshake_timeout_s);
}

static int k_reconnect_max(gh__parse *p, const char *k, const char *v) {
  return key_seconds(p, k, v, 1, 86400, &p->c->reconnect_max_s);
}

static const gh__keydef server_keys[] = {
    {"tunnel_listen", k_tunnel, 0},
    {"cert", k_cert, 0},
    {"key", k_key, 0},
    {"client_ca", k_client_ca, 0},
    {"client_crl", k_client_crl, 0},
    {"unauth_max", k_unauth_max, 0},
    {"unauth_per_source", k_unauth_per_source, 0},
    {"handshake_timeout", k_handshake_timeout, 0},
    {"admin_listen", k_admin, 0},
    {"plugin_dir", k_plugin_dir, 0},
    {"user", k_user, 0},
    {"group", k_group, 0},
    {"log_level", k_log_level, 0},
    {"drain_timeout", k_drain, 0},
    {"keepalive", k_keepalive, 0},
    {"keepalive_timeout", k_keepalive_timeout, 0},
    {"connecting_max", k_connecting_max, 0},
    {"open_queue_max", k_open_queue_max, 0},
};
_Static_assert(GH__ARRAY_LEN(server_keys) <= GH__KEYS_MAX, "raise GH__KEYS_MAX");

static const gh__keydef client_keys[] = {
    {"admin_listen", k_admin, 0},
    {"plugin_dir", k_plugin_dir, 0},
    {"user", k_user, 0},
    {"group", k_group, 0},
    {"log_level", k_log_level, 0},
    {"drain_timeout", k_drain, 0},
    {"keepalive", k_keepalive, 0},
    {"keepalive_timeout", k_keepalive_timeout, 0},
    {"reconnect_max", k_reconnect_max, 0},
    {"connecting_max", k_connecting_max, 0},
    {"open_queue_max", k_open_queue_max, 0},
};
_Static_assert(GH__ARRAY_LEN(client_keys) <= GH__KEYS_MAX, "raise GH__KEYS_MAX");

/* ---- tokens: never in a message */

static int token_check(gh__parse *p, const char *tok, size_t len,
                       const char *what) {
  if (len == 0)
    return fail(p, p->line, "%s is empty", what);
  if (len < GH__TOKEN_MIN)
    return fail(p, p->line,
                "%s is too short: a token needs at least %d characters so "
                "that it cannot be guessed (e.g. openssl rand -hex 32)",
                what, GH__TOKEN_MIN);
  if (len > GH__TOKEN_MAX)
    return fail(p, p->line, "%s is too long (at most %d characters)", what,
                GH__TOKEN_MAX);
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)tok[i] <= 0x20 || (unsigned char)tok[i] >= 0x7f)
      return fail(p, p->line,
                  "%s may hold only printable characters, without spaces",
                  what);
  return 0;
}

/* token_file: its content, less trailing blanks and newlines. */
static int token_read(gh__parse *p, const char *v, char **out) {
  char *path = path_resolve(p->dir, v);
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = gh__file_read(path, &buf, &len);
  if (rc < 0) {
    fail(p, p->line, "token_file: cannot read '%s': %s", path, strerror(-rc));
    free(path);
    return GH_EINVAL;
  }
  while (len > 0 && isspace(buf[len - 1]))
    len--;
  char what[300];
  snprintf(what, sizeof(what), "the token in '%.250s'", path);
  rc = token_check(p, (const char *)buf, len, what);
  if (rc == 0) {
    *out = gh__strndup((const char *)buf, len);
    secret_add(p, "token_file", path);
  }
  explicit_bzero(buf, len);
  free(buf);
  free(path);
  return rc;
}

static int sgw_push_token(gh__parse *p, char *tok) {
  gh__server_gw *g = cur_sgw(p);
  if (g->n_tokens >= GH__TOKENS_MAX) {
    secret_free(tok);
    return fail(p, p->line, "too many tokens (at most %d)", GH__TOKENS_MAX);
  }
  g->tokens = xrealloc(g->tokens, (g->n_tokens + 1) * sizeof(char *));
  g->tokens[g->n_tokens++] = tok;
  return 0;
}

static int k_sgw_token(gh__parse *p, const char *k, const char *v) {
  (void)k;
  if (token_check(p, v, strlen(v), "token") < 0)
    return GH_EINVAL;
  return sgw_push_token(p, gh__strdup(v));
}

static int k_sgw_token_file(gh__parse *p, const char *k, const char *v) {
  char *tok = NULL;
  (void)k;
  if (token_read(p, v, &tok) < 0)
    return GH_EINVAL;
  return sgw_push_token(p, tok);
}

static int k_sgw_tunnels_max(gh__parse *p, const char *k, const char *v) {
  if (parse_u32(v, 1, 65536, &cur_sgw(p)->tunnels_max) < 0)
    return fail(p, p->line, "%s must be a number from 1 to 65536", k);
  return 0;
}

static int k_sgw_streams_max(gh__parse *p, const char *k, const char *v) {
  if (parse_u32(v, 1, 16777216, &cur_sgw(p)->streams_max) < 0)
    return fail(p, p->line, "%s must be a number from 1 to 16777216", k);
  return 0;
}

static const gh__keydef sgw_keys[] = {
    {"token", k_sgw_token, 1},
    {"token_file", k_sgw_token_file, 1},
    {"tunnels_max", k_sgw_tunnels_max, 0},
    {"streams_max", k_sgw_streams_max, 0},
};
_Static_assert(GH__ARRAY_LEN(sgw_keys) <= GH__KEYS_MAX, "raise GH__KEYS_MAX");

static int cgw_one_token(gh__parse *p) {
  if (cur_cgw(p)->token)
    return fail(p, p->line,
                "a client's gateway has one token: give token or "
                "token_file, once");
  return 0;
}

static int k_cgw_token(gh__parse *p, const char *k, const char *v) {
  (void)k;
  if (cgw_one_token(p) < 0 || token_check(p, v, strlen(v), "token") < 0)
    return GH_EINVAL;
  cur_cgw(p)->token = gh__strdup(v);
  return 0;
}

static int k_cgw_token_file(gh__parse *p, const char *k, const char *v) {
  (void)k;
  if (cgw_one_token(p) < 0)
    return GH_EINVAL;
  return token_read(p, v, &cur_cgw(p)->token);
}

static int k_cgw_server(gh__parse *p, const char *k, const char *v) {
  gh__client_gw *g = cur_cgw(p);
  char *host = NULL;
  uint16_t port;
  if (key_hostport(p, k, v, &host, &port) < 0)
    return GH_EINVAL;
  free(host);
  if (!host)
    return fail(p, p->line, "server: a host is needed (host:port)");
  if (g->n_servers >= GH__SERVERS_MAX)
    return fail(p, p->line, "too many servers (at most %d)", GH__SERVERS_MAX);
  g->servers = xrealloc(g->servers, (g->n_servers + 1) * sizeof(char *));
  g->servers[g->n_servers++] = gh__strdup(v);
  return 0;
}

static int k_cgw_ca(gh__parse *p, const char *k, const char *v) {
  return key_file(p, k, v, &cur_cgw(p)->ca);
}

static int k_cgw_crl(gh__parse *p, const char *k, const char *v) {
  return key_crl(p, k, v, &cur_cgw(p)->crl, &cur_cgw(p)->crl_line);
}

static int k_cgw_cert(gh__parse *p, const char *k, const char *v) {
  return key_file(p, k, v, &cur_cgw(p)->cert);
}

static int k_cgw_key(gh__parse *p, const char *k, const char *v) {
  if (key_file(p, k, v, &cur_cgw(p)->key) < 0)
    return GH_EINVAL;
  secret_add(p, "key", cur_cgw(p)->key);
  return 0;
}

static int k_cgw_server_name(gh__parse *p, const char *k, const char *v) {
  gh_addr a;
  if (gh__addr_parse(v, &a) < 0 && !gh__hostname_valid(v))
    return fail(p, p->line, "%s: expected a host name, not '%.100s'", k, v);
  cur_cgw(p)->server_name = gh__strdup(v);
  return 0;
}

static int k_cgw_connections(gh__parse *p, const char *k, const char *v) {
  if (parse_u32(v, 1, 64, &cur_cgw(p)->connections) < 0)
    return fail(p, p->line, "%s must be a number from 1 to 64", k);
  return 0;
}

static const gh__keydef cgw_keys[] = {
    {"server", k_cgw_server, 1},
    {"token", k_cgw_token, 1}, /* once: checked by cgw_one_token */
    {"token_file", k_cgw_token_file, 1},
    {"ca", k_cgw_ca, 0},
    {"crl", k_cgw_crl, 0},
    {"cert", k_cgw_cert, 0},
    {"key", k_cgw_key, 0},
    {"server_name", k_cgw_server_name, 0},
    {"connections", k_cgw_connections, 0},
};
_Static_assert(GH__ARRAY_LEN(cgw_keys) <= GH__KEYS_MAX, "raise GH__KEYS_MAX");

/* [acl] or [acl GATEWAY]: the section being read. */
static gh__acl *cur_acl(gh__parse *p) {
  return p->sec_name[0] ? &p->c->gw_acls[p->sec_idx].acl : &p->c->acl;
}

static int k_acl(gh__parse *p, const char *k, const char *v) {
  char reason[256];
  if (gh__acl_add(cur_acl(p), strcmp(k, "allow") == 0, v, p->line, reason,
                  sizeof(reason)) < 0)
    return fail(p, p->line, "%s: %s", k, reason);
  return 0;
}

static int k_acl_listen(gh__parse *p, const char *k, const char *v) {
  char reason[256];
  if (gh__acl_add_listen(cur_acl(p), v, p->line, reason, sizeof(reason)) < 0)
    return fail(p, p->line, "%s: %s", k, reason);
  return 0;
}

static const gh__keydef acl_keys[] = {
    {"allow", k_acl, 1},
    {"deny", k_acl, 1},
    {"listen", k_acl_listen, 1},
};
_Static_assert(GH__ARRAY_LEN(acl_keys) <= GH__KEYS_MAX, "raise GH__KEYS_MAX");

static int unknown_key(gh__parse *p, const char *name) {
  char sd[300];
  sec_desc(p, sd, sizeof(sd));
  if (!key_showable(name))
    return fail(p, p->line, "unknown key in %s", sd);
  return fail(p, p->line, "unknown key '%s' in %s", name, sd);
}

static int apply_key(gh__parse *p, const gh__keydef *defs, size_t n,
                     const char *name, const char *value) {
  char sd[300];
  for (size_t i = 0; i < n && i < GH__KEYS_MAX; i++) {
    if (strcmp(defs[i].name, name) != 0)
      continue;
    if (!defs[i].multi && p->seen[i])
      return fail(p, p->line, "%s is already set in %s (line %d)", name,
                  sec_desc(p, sd, sizeof(sd)), p->seen[i]);
    if (!*value)
      return fail(p, p->line, "%s has no value", name);
    p->seen[i] = p->line;
    return defs[i].fn(p, name, value);
  }
  return unknown_key(p, name);
}

static int dest_key(gh__parse *p, const char *name, const char *value) {
  char reason[512];
  if (gh__dest_set(cur_dest(p), name, value, p->line, reason, sizeof(reason)) <
      0)
    return fail(p, p->line, "%s", reason);
  return 0;
}

/* A client's [destination NAME]: its gateway, and handler options only,
 * which replace what the server pushes. */
static int local_dest_key(gh__parse *p, const char *name, const char *value) {
  gh__local_dest *l = cur_ldest(p);
  char sd[300], reason[512];
  if (strcmp(name, "gateway") == 0) {
    if (l->gateway)
      return fail(p, p->line, "gateway is already set in %s (line %d)",
                  sec_desc(p, sd, sizeof(sd)), l->gateway_line);
    if (!name_valid(value))
      return fail(p, p->line,
                  "gateway: bad id '%.100s' (letters, digits, '.', '_', '-')",
                  value);
    l->gateway = gh__strdup(value);
    l->gateway_line = p->line;
    return 0;
  }
  if (!strchr(name, '.')) {
    if (!key_showable(name))
      return fail(p, p->line, "unknown key in %s", sec_desc(p, sd, sizeof(sd)));
    return fail(p, p->line,
                "'%s' cannot be set in a client's %s: only gateway = and "
                "handler options (SIDE.HANDLER.KEY or HANDLER.KEY), which "
                "replace what the server pushes",
                name, sec_desc(p, sd, sizeof(sd)));
  }
  if (!*value)
    return fail(p, p->line, "%s has no value", name);
  gh__kv *kv = opt_push(&l->opts, name, value, p->line, reason, sizeof(reason));
  if (!kv)
    return fail(p, p->line, "%s", reason);
  kv->file = gh__strdup(p->file);
  return 0;
}

static int on_kv(void *user, const char *section, const char *name,
                 const char *value) {
  gh__parse *p = user;
  int rc;
  (void)section; /* inih truncates long names; the reader tracks sections */
  if (p->failed)
    return 0;
#define GH__APPLY(tab) apply_key(p, tab, GH__ARRAY_LEN(tab), name, value)
  switch (p->sec) {
  case SEC_SERVER:
    rc = GH__APPLY(server_keys);
    break;
  case SEC_CLIENT:
    rc = GH__APPLY(client_keys);
    break;
  case SEC_SGW:
    rc = GH__APPLY(sgw_keys);
    break;
  case SEC_CGW:
    rc = GH__APPLY(cgw_keys);
    break;
  case SEC_ACL:
    rc = GH__APPLY(acl_keys);
    break;
  case SEC_DEST:
    rc = dest_key(p, name, value);
    break;
  case SEC_LDEST:
    rc = local_dest_key(p, name, value);
    break;
  default:
    rc = fail(p, p->line, "key outside of any section (start with [%s])",
              p->role == ROLE_SERVER ? "server" : "client");
  }
#undef GH__APPLY
  return rc == 0;
}

/* ---- sections */

static int sgw_end(gh__parse *p) {
  if (cur_sgw(p)->n_tokens == 0)
    return fail(p, p->sec_line,
                "[gateway %s] has no token: add token = or token_file = (at "
                "least %d characters)",
                p->sec_name, GH__TOKEN_MIN);
  return 0;
}

static int cgw_end(gh__parse *p) {
  gh__client_gw *g = cur_cgw(p);
  const char *id = p->sec_name;
  if (!g->n_servers)
    return fail(p, p->sec_line, "[gateway %s] needs server = host:port", id);
  if (!g->token)
    return fail(p, p->sec_line,
                "[gateway %s] needs token = or token_file = (the gateway's "
                "token on the server)",
                id);
  if (!g->ca)
    return fail(p, p->sec_line,
                "[gateway %s] needs ca = FILE, the CA the server's "
                "certificate must chain to",
                id);
  if (!g->cert != !g->key)
    return fail(p, p->sec_line,
                "[gateway %s]: cert and key go together; give both or "
                "neither",
                id);
  if (!g->connections)
    g->connections = 1;
  return 0;
}

static int dest_end(gh__parse *p) {
  gh__dest *d = cur_dest(p);
  char reason[512];
  int idx;
  if (dest_finish(d, &idx, reason, sizeof(reason)) < 0)
    return fail(p, idx >= 0 && d->key_line[idx] ? d->key_line[idx] : d->line,
                "%s", reason);
  gh_addr a;
  if (gh__addr_parse(d->resource_host, &a) == 0 && gh__addr_unspecified(&a))
    return fail(p, d->key_line[GH__DK_RESOURCE],
                "resource: %s is an unspecified address, which connects to "
                "the local host; write the address meant (e.g. 127.0.0.1)",
                d->resource_host);
  return 0;
}

static int ldest_end(gh__parse *p) {
  if (!cur_ldest(p)->gateway)
    return fail(p, p->sec_line,
                "[destination %s] needs gateway = ID, the gateway whose "
                "server pushes destination %s",
                p->sec_name, p->sec_name);
  return 0;
}

static int section_end(gh__parse *p) {
  switch (p->sec) {
  case SEC_SGW:
    return sgw_end(p);
  case SEC_CGW:
    return cgw_end(p);
  case SEC_DEST:
    return dest_end(p);
  case SEC_LDEST:
    return ldest_end(p);
  default:
    return 0;
  }
}

static int sec_dup(gh__parse *p, const char *what, int first) {
  return fail(p, p->line, "duplicate section [%s] (first at line %d)", what,
              first);
}

static int open_server(gh__parse *p) {
  if (p->main_line)
    return sec_dup(p, p->role == ROLE_SERVER ? "server" : "client",
                   p->main_line);
  p->main_line = p->line;
  p->sec = p->role == ROLE_SERVER ? SEC_SERVER : SEC_CLIENT;
  return 0;
}

static int open_gateway(gh__parse *p, const char *id) {
  char what[300];
  snprintf(what, sizeof(what), "gateway %s", id);
  if (p->role == ROLE_SERVER) {
    gh__server_cfg *s = p->s;
    for (size_t i = 0; i < s->n_gateways; i++)
      if (strcmp(s->gateways[i].id, id) == 0)
        return sec_dup(p, what, s->gateways[i].line);
    if (s->n_gateways >= GH__GATEWAYS_MAX)
      return fail(p, p->line, "too many gateways (at most %d)",
                  GH__GATEWAYS_MAX);
    s->gateways =
        xrealloc(s->gateways, (s->n_gateways + 1) * sizeof(*s->gateways));
    gh__server_gw *g = &s->gateways[s->n_gateways];
    memset(g, 0, sizeof(*g));
    g->id = gh__strdup(id);
    g->line = p->line;
    g->tunnels_max = GH__GW_TUNNELS_MAX;
    g->streams_max = GH__GW_STREAMS_MAX;
    p->sec_idx = s->n_gateways++;
    p->sec = SEC_SGW;
    return 0;
  }
  gh__client_cfg *c = p->c;
  for (size_t i = 0; i < c->n_gateways; i++)
    if (strcmp(c->gateways[i].id, id) == 0)
      return sec_dup(p, what, c->gateways[i].line);
  if (c->n_gateways >= GH__GATEWAYS_MAX)
    return fail(p, p->line, "too many gateways (at most %d)", GH__GATEWAYS_MAX);
  c->gateways =
      xrealloc(c->gateways, (c->n_gateways + 1) * sizeof(*c->gateways));
  gh__client_gw *g = &c->gateways[c->n_gateways];
  memset(g, 0, sizeof(*g));
  g->id = gh__strdup(id);
  g->line = p->line;
  p->sec_idx = c->n_gateways++;
  p->sec = SEC_CGW;
  return 0;
}

static int open_dest(gh__parse *p, const char *name) {
  gh__server_cfg *s = p->s;
  char what[300];
  snprintf(what, sizeof(what), "destination %s", name);
  for (size_t i = 0; i < s->n_dests; i++)
    if (strcmp(s->dests[i].name, name) == 0)
      return sec_dup(p, what, s->dests[i].line);
  if (s->n_dests >= GH__DESTS_MAX)
    return fail(p, p->line, "too many destinations (at most %d)",
                GH__DESTS_MAX);
  s->dests = xrealloc(s->dests, (s->n_dests + 1) * sizeof(*s->dests));
  gh__dest *d = &s->dests[s->n_dests];
  memset(d, 0, sizeof(*d));
  d->name = gh__strdup(name);
  d->file = s->file;
  d->line = p->line;
  p->sec_idx = s->n_dests++;
  p->sec = SEC_DEST;
  return 0;
}

static int open_local_dest(gh__parse *p, const char *name) {
  gh__client_cfg *c = p->c;
  char what[300];
  snprintf(what, sizeof(what), "destination %s", name);
  for (size_t i = 0; i < c->n_locals; i++)
    if (strcmp(c->locals[i].name, name) == 0)
      return sec_dup(p, what, c->locals[i].line);
  if (c->n_locals >= GH__DESTS_MAX)
    return fail(p, p->line, "too many destinations (at most %d)",
                GH__DESTS_MAX);
  c->locals = xrealloc(c->locals, (c->n_locals + 1) * sizeof(*c->locals));
  gh__local_dest *l = &c->locals[c->n_locals];
  memset(l, 0, sizeof(*l));
  l->name = gh__strdup(name);
  l->line = p->line;
  p->sec_idx = c->n_locals++;
  p->sec = SEC_LDEST;
  return 0;
}

static int open_acl(gh__parse *p, const char *gateway) {
  gh__client_cfg *c = p->c;
  p->sec = SEC_ACL;
  if (!*gateway) {
    if (p->acl_line)
      return sec_dup(p, "acl", p->acl_line);
    p->acl_line = p->line;
    c->acl.present = 1;
    return 0;
  }
  char what[300];
  snprintf(what, sizeof(what), "acl %s", gateway);
  for (size_t i = 0; i < c->n_gw_acls; i++)
    if (strcmp(c->gw_acls[i].gateway, gateway) == 0)
      return sec_dup(p, what, c->gw_acls[i].line);
  if (c->n_gw_acls >= GH__GATEWAYS_MAX)
    return fail(p, p->line, "too many [acl GATEWAY] sections (at most %d)",
                GH__GATEWAYS_MAX);
  c->gw_acls = xrealloc(c->gw_acls, (c->n_gw_acls + 1) * sizeof(*c->gw_acls));
  gh__gw_acl *a = &c->gw_acls[c->n_gw_acls];
  memset(a, 0, sizeof(*a));
  a->gateway = gh__strdup(gateway);
  a->line = p->line;
  a->acl.present = 1; /* an empty section allows nothing */
  p->sec_idx = c->n_gw_acls++;
  return 0;
}

const gh__acl *gh__client_acl(const gh__client_cfg *cfg, const char *gateway) {
  for (size_t i = 0; gateway && i < cfg->n_gw_acls; i++)
    if (strcmp(cfg->gw_acls[i].gateway, gateway) == 0)
      return &cfg->gw_acls[i].acl;
  return &cfg->acl;
}

static int unknown_section(gh__parse *p, const char *kind) {
  const int srv = p->role == ROLE_SERVER;
  int other = srv ? strcmp(kind, "client") == 0 || strcmp(kind, "acl") == 0
                  : strcmp(kind, "server") == 0;
  if (!key_showable(kind))
    return fail(p, p->line, "unknown section");
  if (other)
    return fail(p, p->line, "unknown section [%s]: it belongs in a %s's file",
                kind, srv ? "client" : "server");
  return fail(p, p->line, "unknown section [%s]", kind);
}

static int section_open(gh__parse *p, const char *kind, const char *name) {
  const int srv = p->role == ROLE_SERVER;
  int named = strcmp(kind, "gateway") == 0 || strcmp(kind, "destination") == 0;
  int plain = strcmp(kind, srv ? "server" : "client") == 0;
  int acl = !srv && strcmp(kind, "acl") == 0; /* [acl] or [acl GATEWAY] */
  if (!named && !plain && !acl)
    return unknown_section(p, kind);
  if (plain && *name)
    return fail(p, p->line, "[%s] takes no name", kind);
  if (named && !*name)
    return fail(p, p->line, "[%s] needs a name: [%s %s]", kind, kind,
                strcmp(kind, "gateway") == 0 ? "ID" : "NAME");
  if ((named || (acl && *name)) && !name_valid(name))
    return fail(p, p->line,
                "bad %s name: use letters, digits, '.', '_' and '-' (at "
                "most %d)",
                kind, GH__NAME_MAX);
  /* name_valid() bounds it to GH__NAME_MAX, which sec_name holds. */
  size_t nlen = strnlen(name, sizeof(p->sec_name) - 1);
  memcpy(p->sec_name, name, nlen);
  p->sec_name[nlen] = '\0';
  if (strcmp(kind, "gateway") == 0)
    return open_gateway(p, name);
  if (strcmp(kind, "destination") == 0)
    return srv ? open_dest(p, name) : open_local_dest(p, name);
  if (acl)
    return open_acl(p, name);
  return open_server(p);
}

/* inih's rule for the end of a token: one of chars, or an inline ';'
 * comment (a ';' after a blank). The reader must see lines as inih does. */
static const char *find_end(const char *s, const char *chars) {
  int was_space = 0;
  while (*s && !strchr(chars, *s) && !(was_space && *s == ';')) {
    was_space = isspace((unsigned char)*s);
    s++;
  }
  return s;
}

static void trim(const char **s, size_t *n) {
  while (*n > 0 && isspace((unsigned char)**s)) {
    (*s)++;
    (*n)--;
  }
  while (*n > 0 && isspace((unsigned char)(*s)[*n - 1]))
    (*n)--;
}

static int section_begin(gh__parse *p, const char *line) {
  const char *end = find_end(line + 1, "]");
  if (*end != ']')
    return fail(p, p->line, "section header without ']'");
  const char *after = end + 1;
  while (isspace((unsigned char)*after))
    after++;
  if (*after && *after != ';' && *after != '#')
    return fail(p, p->line, "text after the section header");
  const char *in = line + 1;
  size_t n = (size_t)(end - in);
  trim(&in, &n);
  size_t kn = 0;
  while (kn < n && !isspace((unsigned char)in[kn]))
    kn++;
  const char *nm = in + kn;
  size_t nn = n - kn;
  trim(&nm, &nn);
  char kind[64], name[GH__NAME_MAX + 2];
  if (kn == 0 || kn >= sizeof(kind))
    return fail(p, p->line, "bad section header");
  if (nn > GH__NAME_MAX || memchr(nm, ' ', nn) || memchr(nm, '\t', nn))
    return fail(p, p->line, "bad section name (no spaces, at most %d)",
                GH__NAME_MAX);
  memcpy(kind, in, kn);
  kind[kn] = '\0';
  memcpy(name, nm, nn);
  name[nn] = '\0';
  if (section_end(p) < 0)
    return GH_EINVAL;
  p->sec = SEC_NONE;
  p->sec_line = p->line;
  p->sec_name[0] = '\0';
  memset(p->seen, 0, sizeof(p->seen));
  return section_open(p, kind, name);
}

/* Sees each line before inih does: sections are opened here (inih has no
 * callback for them, and truncates their names), and lines inih would
 * reject get a clear reason. */
static int line_classify(gh__parse *p, const char *line) {
  if (!*line || *line == '\n' || *line == ';' || *line == '#')
    return 0;
  if (*line == '[')
    return section_begin(p, line);
  const char *e = find_end(line, "=:");
  if (*e != '=' && *e != ':')
    return fail(p, p->line, "expected key = value or a [section]");
  return 0;
}

/* The next physical line of text at *pos, trimmed, in *s / *n; 0 at the
 * end. */
static int next_line(const char *text, size_t len, size_t *pos, const char **s,
                     size_t *n, int first) {
  if (*pos >= len)
    return 0;
  const char *b = text + *pos;
  size_t rest = len - *pos;
  const char *nl = memchr(b, '\n', rest);
  size_t ln = nl ? (size_t)(nl - b) : rest;
  *pos += ln + (nl != NULL);
  if (first && ln >= 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0) {
    b += 3; /* a UTF-8 byte order mark */
    ln -= 3;
  }
  *s = b;
  *n = ln;
  return 1;
}

/* inih's reader, fgets-like: exactly one line per call so that p->line is
 * the line inih works on. Leading blanks are removed, so that an indented
 * key is a key and never an inih continuation line. inih silently splits a
 * line longer than its buffer (num); that is refused here instead. */
static char *rd_line(char *str, int num, void *stream) {
  gh__parse *p = stream;
  const char *s;
  size_t n;
  if (p->failed || !next_line(p->text, p->len, &p->pos, &s, &n, p->line == 0))
    return NULL;
  p->line++;
  if (memchr(s, '\0', n)) {
    fail(p, p->line, "NUL byte in the line");
    return NULL;
  }
  trim(&s, &n);
  if (num < 3 || n > (size_t)num - 2) {
    fail(p, p->line,
         "line too long (at most %d characters; split a long allow list "
         "over several allow lines)",
         num < 3 ? 0 : num - 2);
    return NULL;
  }
  memcpy(str, s, n);
  str[n] = '\n';
  str[n + 1] = '\0';
  if (line_classify(p, str) < 0)
    return NULL;
  return str;
}

static int parse_text(gh__parse *p) {
  int r = ini_parse_stream(rd_line, p, on_kv, p);
  if (r > 0 && (!p->failed || r < p->err_line)) {
    p->failed = 0; /* inih saw an earlier error than ours */
    fail(p, r, "syntax error: expected key = value or a [section]");
  } else if (r < 0 && !p->failed) {
    fail(p, 0, "cannot parse (out of memory)");
  }
  if (!p->failed)
    section_end(p);
  return p->failed ? GH_EINVAL : 0;
}

/* ---- rules between sections */

static int keepalive_check(gh__parse *p) {
  if (*p->kat_s > *p->ka_s)
    return 0;
  int line = p->kat_line ? p->kat_line : p->ka_line ? p->ka_line : p->main_line;
  return fail(p, line,
              "keepalive_timeout (%u s) must be greater than keepalive (%u "
              "s)",
              *p->kat_s, *p->ka_s);
}

/* Whether two listeners on one port take the same address: the same host,
 * or a wildcard that covers the other. NULL (":port") and "::" (dual
 * stack) cover everything, 0.0.0.0 every IPv4 address; names are compared
 * as written, as the resolver is not asked. */
static int hosts_clash(const char *a, const char *b) {
  gh_addr x, y;
  if (!a || !b)
    return 1;
  int nx = gh__addr_parse(a, &x) == 0, ny = gh__addr_parse(b, &y) == 0;
  static const uint8_t zero[16];
  int wx6 = nx && x.family == GH_AF_INET6 && !memcmp(x.addr, zero, 16);
  int wy6 = ny && y.family == GH_AF_INET6 && !memcmp(y.addr, zero, 16);
  int wx4 = nx && x.family == GH_AF_INET && !memcmp(x.addr, zero, 4);
  int wy4 = ny && y.family == GH_AF_INET && !memcmp(y.addr, zero, 4);
  if (wx6 || wy6)
    return 1;
  if ((wx4 && (!ny || y.family == GH_AF_INET)) ||
      (wy4 && (!nx || x.family == GH_AF_INET)))
    return 1;
  if (nx && ny)
    return x.family == y.family && !memcmp(x.addr, y.addr, 16);
  if (nx || ny)
    return 0;
  return strcasecmp(a, b) == 0;
}

static int listen_check(gh__parse *p, size_t i) {
  const gh__server_cfg *s = p->s;
  const gh__dest *d = &s->dests[i];
  int line = d->key_line[GH__DK_LISTEN] ? d->key_line[GH__DK_LISTEN] : d->line;
  char hp[300];
  fmt_hostport(d->listen_host, d->listen_port, hp, sizeof(hp));
  for (size_t j = 0; j < i; j++) {
    const gh__dest *o = &s->dests[j];
    if (o->type == GH__DEST_ONPREM && o->listen_port == d->listen_port &&
        hosts_clash(o->listen_host, d->listen_host))
      return fail(p, line,
                  "destination '%s': listen %s clashes with destination "
                  "'%s' (line %d)",
                  d->name, hp, o->name,
                  o->key_line[GH__DK_LISTEN] ? o->key_line[GH__DK_LISTEN]
                                             : o->line);
  }
  if (s->tunnel_port == d->listen_port &&
      hosts_clash(s->tunnel_host, d->listen_host))
    return fail(p, line,
                "destination '%s': listen %s clashes with tunnel_listen "
                "(line %d)",
                d->name, hp, p->tunnel_line);
  if (s->admin_port == d->listen_port &&
      hosts_clash(s->admin_host, d->listen_host))
    return fail(p, line,
                "destination '%s': listen %s clashes with admin_listen "
                "(line %d)",
                d->name, hp, p->admin_line);
  return 0;
}

static int client_port_check(gh__parse *p, size_t i) {
  const gh__dest *d = &p->s->dests[i];
  for (size_t j = 0; j < i; j++) {
    const gh__dest *o = &p->s->dests[j];
    if (o->type == GH__DEST_CLOUD && o->client_port == d->client_port &&
        strcmp(o->gateway, d->gateway) == 0)
      return fail(p, d->key_line[GH__DK_CLIENT_PORT],
                  "destination '%s': client_port %u is already used by "
                  "destination '%s' (line %d) of gateway %s",
                  d->name, d->client_port, o->name,
                  o->key_line[GH__DK_CLIENT_PORT], d->gateway);
  }
  return 0;
}

static int server_gw_find(const gh__server_cfg *s, const char *id) {
  for (size_t i = 0; i < s->n_gateways; i++)
    if (strcmp(s->gateways[i].id, id) == 0)
      return 1;
  return 0;
}

static int server_finish(gh__parse *p) {
  gh__server_cfg *s = p->s;
  if (!p->main_line)
    return fail(p, 0, "no [server] section");
  if (!s->tunnel_port)
    return fail(p, p->main_line, "[server] needs tunnel_listen = host:port");
  if (!s->cert || !s->key)
    return fail(p, p->main_line, "[server] needs %s = FILE (PEM)",
                s->cert ? "key" : "cert");
  if (keepalive_check(p) < 0 || identity_check(p) < 0)
    return GH_EINVAL;
  if (s->client_crl && !s->client_ca)
    return fail(p, s->client_crl_line,
                "client_crl needs client_ca (the CA whose certificates it "
                "revokes)");
  if (s->admin_host || s->admin_port)
    if (s->admin_port == s->tunnel_port &&
        hosts_clash(s->admin_host, s->tunnel_host))
      return fail(p, p->admin_line,
                  "admin_listen clashes with tunnel_listen (line %d)",
                  p->tunnel_line);
  for (size_t i = 0; i < s->n_dests; i++) {
    const gh__dest *d = &s->dests[i];
    if (!server_gw_find(s, d->gateway))
      return fail(p, d->key_line[GH__DK_GATEWAY],
                  "destination '%s': no [gateway %s] in this file", d->name,
                  d->gateway);
    int rc = d->type == GH__DEST_CLOUD ? client_port_check(p, i)
                                       : listen_check(p, i);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static int client_finish(gh__parse *p) {
  const gh__client_cfg *c = p->c;
  if (!c->n_gateways)
    return fail(p, 0, "no [gateway ID] section: a client needs at least one");
  for (size_t i = 0; i < c->n_locals; i++) {
    const gh__local_dest *l = &c->locals[i];
    size_t g = 0;
    while (g < c->n_gateways && strcmp(c->gateways[g].id, l->gateway) != 0)
      g++;
    if (g == c->n_gateways)
      return fail(p, l->gateway_line,
                  "destination '%s': no [gateway %s] in this file", l->name,
                  l->gateway);
  }
  if (identity_check(p) < 0)
    return GH_EINVAL;
  for (size_t i = 0; i < c->n_gw_acls; i++) {
    const gh__gw_acl *a = &c->gw_acls[i];
    size_t g = 0;
    while (g < c->n_gateways && strcmp(c->gateways[g].id, a->gateway) != 0)
      g++;
    if (g == c->n_gateways)
      return fail(p, a->line, "[acl %s]: no [gateway %s] in this file",
                  a->gateway, a->gateway);
  }
  return keepalive_check(p);
}

static void parse_init(gh__parse *p, const char *file, const char *text,
                       size_t len, char *err, size_t errlen) {
  memset(p, 0, sizeof(*p));
  p->file = file;
  p->dir = path_dir(file);
  p->text = text;
  p->len = len;
  p->err = err;
  p->errlen = errlen;
  if (err && errlen)
    err[0] = '\0';
}

/* What [server] and [client] share: the defaults, and where the keys of
 * both go. */
typedef struct common_keys {
  char **admin_host;
  uint16_t *admin_port;
  char **plugin_dir;
  char **user, **group;
  int *log_level;
  uint32_t *drain_s, *ka_s, *kat_s;
  uint32_t *connecting_max, *open_queue_max;
} common_keys;

static void parse_common(gh__parse *p, const common_keys *k) {
  *k->log_level = GH_LOG_INFO;
  *k->drain_s = 30;
  *k->ka_s = 10;
  *k->kat_s = 30;
  *k->connecting_max = GH__CONNECTING_MAX_DEFAULT;
  *k->open_queue_max = GH__OPEN_QUEUE_MAX_DEFAULT;
  p->connecting_max = k->connecting_max;
  p->open_queue_max = k->open_queue_max;
  p->admin_host = k->admin_host;
  p->admin_port = k->admin_port;
  p->plugin_dir = k->plugin_dir;
  p->user = k->user;
  p->group = k->group;
  p->log_level = k->log_level;
  p->drain_s = k->drain_s;
  p->ka_s = k->ka_s;
  p->kat_s = k->kat_s;
}

int gh__server_cfg_load_string(gh__server_cfg *cfg, const char *text,
                               size_t len, const char *name, char *err,
                               size_t errlen) {
  gh__parse p;
  memset(cfg, 0, sizeof(*cfg));
  cfg->file = gh__strdup(name ? name : "<string>");
  parse_init(&p, cfg->file, text ? text : "", text ? len : 0, err, errlen);
  p.role = ROLE_SERVER;
  p.s = cfg;
  cfg->unauth_max = GH__UNAUTH_MAX;
  cfg->unauth_per_source = GH__UNAUTH_PER_SOURCE;
  cfg->handshake_timeout_s = GH__HANDSHAKE_S;
  common_keys k = {&cfg->admin_host,
                   &cfg->admin_port,
                   &cfg->plugin_dir,
                   &cfg->user,
                   &cfg->group,
                   &cfg->log_level,
                   &cfg->drain_timeout_s,
                   &cfg->keepalive_s,
                   &cfg->keepalive_timeout_s,
                   &cfg->connecting_max,
                   &cfg->open_queue_max};
  parse_common(&p, &k);
  int rc = parse_text(&p);
  if (rc == 0)
    rc = server_finish(&p);
  if (rc == 0)
    secrets_check(&p);
  secrets_free(&p);
  free(p.dir);
  if (rc < 0)
    gh__server_cfg_free(cfg);
  return rc;
}

int gh__client_cfg_load_string(gh__client_cfg *cfg, const char *text,
                               size_t len, const char *name, char *err,
                               size_t errlen) {
  gh__parse p;
  memset(cfg, 0, sizeof(*cfg));
  cfg->file = gh__strdup(name ? name : "<string>");
  cfg->reconnect_max_s = 30;
  parse_init(&p, cfg->file, text ? text : "", text ? len : 0, err, errlen);
  p.role = ROLE_CLIENT;
  p.c = cfg;
  common_keys k = {&cfg->admin_host,
                   &cfg->admin_port,
                   &cfg->plugin_dir,
                   &cfg->user,
                   &cfg->group,
                   &cfg->log_level,
                   &cfg->drain_timeout_s,
                   &cfg->keepalive_s,
                   &cfg->keepalive_timeout_s,
                   &cfg->connecting_max,
                   &cfg->open_queue_max};
  parse_common(&p, &k);
  int rc = parse_text(&p);
  if (rc == 0)
    rc = client_finish(&p);
  if (rc == 0)
    secrets_check(&p);
  secrets_free(&p);
  free(p.dir);
  if (rc < 0)
    gh__client_cfg_free(cfg);
  return rc;
}

static int load_file(const char *path, char *err, size_t errlen,
                     int (*load)(void *, const char *, size_t, const char *,
                                 char *, size_t),
                     void *cfg) {
  uint8_t *text = NULL;
  size_t len = 0;
  int rc = gh__file_read(path, &text, &len);
  if (rc < 0) {
    if (err && errlen)
      snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
    return GH_EINVAL;
  }
  rc = load(cfg, (const char *)text, len, path, err, errlen);
  explicit_bzero(text, len); /* it may hold tokens */
  free(text);
  return rc;
}

static int load_server(void *cfg, const char *text, size_t len,
                       const char *name, char *err, size_t errlen) {
  return gh__server_cfg_load_string(cfg, text, len, name, err, errlen);
}

static int load_client(void *cfg, const char *text, size_t len,
                       const char *name, char *err, size_t errlen) {
  return gh__client_cfg_load_string(cfg, text, len, name, err, errlen);
}

int gh__server_cfg_load(gh__server_cfg *cfg, const char *path, char *err,
                        size_t errlen) {
  memset(cfg, 0, sizeof(*cfg));
  return load_file(path, err, errlen, load_server, cfg);
}

int gh__client_cfg_load(gh__client_cfg *cfg, const char *path, char *err,
                        size_t errlen) {
  memset(cfg, 0, sizeof(*cfg));
  return load_file(path, err, errlen, load_client, cfg);
}

void gh__server_cfg_free(gh__server_cfg *cfg) {
  if (!cfg)
    return;
  free(cfg->file);
  free(cfg->tunnel_host);
  free(cfg->cert);
  free(cfg->key);
  free(cfg->client_ca);
  free(cfg->client_crl);
  free(cfg->admin_host);
  free(cfg->plugin_dir);
  free(cfg->user);
  free(cfg->group);
  for (size_t i = 0; i < cfg->n_gateways; i++) {
    gh__server_gw *g = &cfg->gateways[i];
    free(g->id);
    for (size_t t = 0; t < g->n_tokens; t++)
      secret_free(g->tokens[t]);
    free(g->tokens);
  }
  free(cfg->gateways);
  for (size_t i = 0; i < cfg->n_dests; i++)
    gh__dest_free(&cfg->dests[i]);
  free(cfg->dests);
  memset(cfg, 0, sizeof(*cfg));
}

void gh__client_cfg_free(gh__client_cfg *cfg) {
  if (!cfg)
    return;
  free(cfg->file);
  free(cfg->admin_host);
  free(cfg->plugin_dir);
  free(cfg->user);
  free(cfg->group);
  for (size_t i = 0; i < cfg->n_gateways; i++) {
    gh__client_gw *g = &cfg->gateways[i];
    free(g->id);
    for (size_t s = 0; s < g->n_servers; s++)
      free(g->servers[s]);
    free(g->servers);
    secret_free(g->token);
    free(g->ca);
    free(g->crl);
    free(g->cert);
    free(g->key);
    free(g->server_name);
  }
  free(cfg->gateways);
  gh__acl_free(&cfg->acl);
  for (size_t i = 0; i < cfg->n_gw_acls; i++) {
    free(cfg->gw_acls[i].gateway);
    gh__acl_free(&cfg->gw_acls[i].acl);
  }
  free(cfg->gw_acls);
  for (size_t i = 0; i < cfg->n_locals; i++) {
    gh__local_dest *l = &cfg->locals[i];
    free(l->name);
    free(l->gateway);
    for (size_t k = 0; k < l->opts.n; k++)
      kv_free(&l->opts.v[k]);
    free(l->opts.v);
  }
  free(cfg->locals);
  memset(cfg, 0, sizeof(*cfg));
}

/* ---------------------------------------------------------------- sniff */

int gh__cfg_sniff(const char *path) {
  uint8_t *text = NULL;
  size_t len = 0, pos = 0, n;
  const char *s;
  int rc = gh__file_read(path, &text, &len);
  if (rc < 0)
    return rc;
  int server = 0, client = 0, in_gw = 0, first = 1;
  while (next_line((const char *)text, len, &pos, &s, &n, first)) {
    first = 0;
    trim(&s, &n);
    if (n == 0 || *s == ';' || *s == '#')
      continue;
    if (*s == '[') {
      const char *k = s + 1;
      size_t kn = n - 1;
      trim(&k, &kn);
      in_gw = kn >= 8 && strncmp(k, "gateway", 7) == 0 &&
              isspace((unsigned char)k[7]);
      if (kn >= 7 && strncmp(k, "server", 6) == 0 &&
          (k[6] == ']' || isspace((unsigned char)k[6])))
        server = 1;
      if (kn >= 7 && strncmp(k, "client", 6) == 0 &&
          (k[6] == ']' || isspace((unsigned char)k[6])))
        client = 1;
      continue;
    }
    size_t kl = 0;
    while (kl < n && s[kl] != '=' && s[kl] != ':')
      kl++;
    while (kl > 0 && isspace((unsigned char)s[kl - 1]))
      kl--;
    if (in_gw && kl == 6 && strncmp(s, "server", 6) == 0)
      client = 1;
  }
  explicit_bzero(text, len);
  free(text);
  return server ? 1 : client ? 2 : 0;
}

/* ----------------------------------------------------------- validation */

static int vfail(const gh__dest *d, int line, char *err, size_t errlen,
                 const char *fmt, ...) GH_PRINTF(5, 6);
static int vfail(const gh__dest *d, int line, char *err, size_t errlen,
                 const char *fmt, ...) {
  char msg[768];
  va_list ap;
  const char *file = d->file ? d->file : GH__PUSHED;
  if (!err || !errlen)
    return GH_EINVAL;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  /* At a key's line the key says enough; elsewhere name the destination. */
  if (line > 0)
    snprintf(err, errlen, "%s:%d: %s", file, line, msg);
  else if (d->line > 0)
    snprintf(err, errlen, "%s:%d: destination '%s': %s", file, d->line, d->name,
             msg);
  else
    snprintf(err, errlen, "%s: destination '%s': %s", file, d->name, msg);
  return GH_EINVAL;
}

/* At a kv's line, in the file it was written in (a client's own file for
 * its [destination] values, the destination's otherwise). */
static int kvfail(const gh__dest *d, const gh__kv *kv, char *err, size_t errlen,
                  const char *fmt, ...) GH_PRINTF(5, 6);
static int kvfail(const gh__dest *d, const gh__kv *kv, char *err, size_t errlen,
                  const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (!kv->file)
    return vfail(d, kv->line, err, errlen, "%s", msg);
  if (err && errlen)
    snprintf(err, errlen, "%s:%d: %s", kv->file, kv->line, msg);
  return GH_EINVAL;
}

static uint32_t dest_sides(const gh__dest *d) {
  if (!d->pushed)
    return GH_SIDE_LISTEN | GH_SIDE_RESOURCE;
  return d->type == GH__DEST_CLOUD ? GH_SIDE_LISTEN : GH_SIDE_RESOURCE;
}

static const char *side_name(uint32_t side) {
  return side == GH_SIDE_LISTEN ? "listen" : "resource";
}

static const gh__chain *dest_chain(const gh__dest *d, uint32_t side) {
  return side == GH_SIDE_LISTEN ? &d->listen_chain : &d->resource_chain;
}

static const char *dest_proto(const gh__dest *d, uint32_t side) {
  const char *s = side == GH_SIDE_LISTEN ? d->listen_proto : d->resource_proto;
  return s ? s : "tcp";
}

static const gh_handler *chain_find(const gh__chain *c, const char *name) {
  for (size_t i = 0; i < c->n; i++)
    if (c->h[i] && strcmp(c->h[i]->name, name) == 0)
      return c->h[i];
  return NULL;
}

static int chain_side(gh__dest *d, const gh__registry *reg, uint32_t side,
                      char *err, size_t errlen) {
  char reason[512] = "";
  gh__chain *c = side == GH_SIDE_LISTEN ? &d->listen_chain : &d->resource_chain;
  int idx =
      side == GH_SIDE_LISTEN ? GH__DK_LISTEN_PROTO : GH__DK_RESOURCE_PROTO;
  if (gh__chain_parse(reg, dest_proto(d, side), c, reason, sizeof(reason)) <
      0) {
    c->n = 0;
    return vfail(d, d->key_line[idx], err, errlen, "%s protocol '%s': %s",
                 side_name(side), dest_proto(d, side), reason);
  }
  return 0;
}

static int is_dgram(const gh__chain *c) {
  return c->n > 0 && (c->h[0]->flags & GH_HANDLER_DGRAM);
}

static int opt_int_parse(const char *v, int64_t *out) {
  char *end;
  if (!(isdigit((unsigned char)v[0]) ||
        (v[0] == '-' && isdigit((unsigned char)v[1]))))
    return GH_EINVAL;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (errno || *end)
    return GH_EINVAL;
  *out = x;
  return 0;
}

static int opt_bool_ok(const char *v) {
  static const char *const words[] = {"yes", "no",  "true", "false",
                                      "on",  "off", "1",    "0"};
  for (size_t i = 0; i < GH__ARRAY_LEN(words); i++)
    if (strcasecmp(v, words[i]) == 0)
      return 1;
  return 0;
}

static int opt_file_read(const gh__dest *d, gh__kv *kv, char *err,
                         size_t errlen) {
  char *dir = path_dir(kv->file ? kv->file : d->file);
  char *path = path_resolve(dir, kv->value);
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = gh__file_read(path, &buf, &len);
  if (rc < 0)
    kvfail(d, kv, err, errlen, "%s: cannot read '%s': %s", kv->key, path,
           strerror(-rc));
  else if (secret_option(kv->key) && !kv->file && !d->pushed)
    /* the server's own file; a client's own: secrets_check */
    secret_mode_check(d->file, kv->line, kv->key, path);
  free(dir);
  free(path);
  if (rc < 0)
    return GH_EINVAL;
  kv->blob = buf;
  kv->blob_len = len;
  return 0;
}

static int opt_value_check(const gh__dest *d, gh__kv *kv, const gh_option *o,
                           char *err, size_t errlen) {
  int64_t x;
  switch (o->type) {
  case GH_OPT_STRING:
    return 0;
  case GH_OPT_INT:
    /* min == max == 0: the plugin set no bounds */
    if (opt_int_parse(kv->value, &x) < 0 ||
        ((o->min || o->max) && (x < o->min || x > o->max)))
      return kvfail(d, kv, err, errlen,
                    "%s must be a whole number from %lld to %lld", kv->key,
                    (long long)o->min, (long long)o->max);
    return 0;
  case GH_OPT_BOOL:
    if (!opt_bool_ok(kv->value))
      return kvfail(d, kv, err, errlen,
                    "%s must be yes, no, true, false, on, off, 1 or 0",
                    kv->key);
    return 0;
  case GH_OPT_FILE:
    if (kv->blob)
      return 0;
    /* A server names no file for the client to open: it could make the
     * client present its own key, or learn which files exist. Content
     * comes pushed, or from the client's own [destination NAME]. The
     * answer is the same whatever the path. */
    if (d->pushed && !kv->file)
      return kvfail(d, kv, err, errlen,
                    "%s: pushed as a file name without its content; this "
                    "client opens no file that a server names (push the "
                    "content, or set it in the client's [destination %s])",
                    kv->key, d->name);
    return opt_file_read(d, kv, err, errlen);
  default:
    return kvfail(d, kv, err, errlen,
                  "%s: the handler declares it with an unknown type %u",
                  kv->key, o->type);
  }
}

static int opt_unknown(const gh__dest *d, const gh__kv *kv, const gh_handler *h,
                       char *err, size_t errlen) {
  char list[300] = "";
  size_t used = 0;
  for (uint32_t i = 0; h->options && i < h->n_options; i++) {
    const char *name = h->options[i].name ? h->options[i].name : "?";
    if (used + strlen(name) + 8 > sizeof(list)) {
      snprintf(list + used, sizeof(list) - used, ", ...");
      break;
    }
    used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
                             i ? ", " : "", name);
  }
  if (!used)
    return kvfail(d, kv, err, errlen,
                  "unknown option '%s' (handler %s has no options)", kv->key,
                  h->name);
  return kvfail(d, kv, err, errlen, "unknown option '%s' (handler %s has: %s)",
                kv->key, h->name, list);
}

/* One option: its handler is on a side it names (or on one side at least),
 * the handler declares it, and the value fits its type. */
static int opt_check(gh__dest *d, gh__kv *kv, uint32_t sides, char *err,
                     size_t errlen) {
  uint32_t side;
  char hname[40];
  const char *oname;
  if (opt_key_split(kv->key, &side, hname, sizeof(hname), &oname) < 0)
    return kvfail(d, kv, err, errlen, "unknown key '%s'", kv->key);
  if (side && !(side & sides))
    return 0; /* pushed: the server's side, not run here */
  const gh_handler *h = NULL;
  for (uint32_t s = GH_SIDE_LISTEN; s <= GH_SIDE_RESOURCE && !h; s <<= 1)
    if ((side ? side : sides) & s)
      h = chain_find(dest_chain(d, s), hname);
  if (!h && d->pushed && !side)
    return 0; /* meant for the server's side */
  if (!h && side)
    return kvfail(d, kv, err, errlen,
                  "option '%s': handler %s is not in the %s chain (%s)",
                  kv->key, hname, side_name(side), dest_proto(d, side));
  if (!h)
    return kvfail(d, kv, err, errlen,
                  "option '%s': handler %s is in neither chain (listen: %s, "
                  "resource: %s)",
                  kv->key, hname, dest_proto(d, GH_SIDE_LISTEN),
                  dest_proto(d, GH_SIDE_RESOURCE));
  const gh_option *o = gh__handler_option(h, oname);
  if (!o)
    return opt_unknown(d, kv, h, err, errlen);
  return opt_value_check(d, kv, o, err, errlen);
}

static int opt_applies(const gh__kv *kv, uint32_t side, const char *hname,
                       const char *oname) {
  uint32_t s;
  char h[40];
  const char *o;
  if (opt_key_split(kv->key, &s, h, sizeof(h), &o) < 0)
    return 0;
  return (s == 0 || s == side) && strcmp(h, hname) == 0 &&
         strcmp(o, oname) == 0;
}

/* Each declared option of each handler of a side: given at most once
 * unless MULTI, and given when REQUIRED. */
static int opt_counts(const gh__dest *d, uint32_t side, char *err,
                      size_t errlen) {
  const gh__chain *c = dest_chain(d, side);
  for (size_t i = 0; i < c->n; i++) {
    const gh_handler *h = c->h[i];
    for (uint32_t j = 0; h->options && j < h->n_options; j++) {
      const gh_option *o = &h->options[j];
      int count = 0, first = 0;
      for (size_t k = 0; k < d->opts.n; k++) {
        const gh__kv *kv = &d->opts.v[k];
        if (!opt_applies(kv, side, h->name, o->name))
          continue;
        if (++count == 1) {
          first = kv->line;
          continue;
        }
        if (!(o->flags & GH_OPT_MULTI))
          return kvfail(d, kv, err, errlen,
                        "%s.%s is given twice for the %s side (first at line "
                        "%d)",
                        h->name, o->name, side_name(side), first);
      }
      if (!count && (o->flags & GH_OPT_REQUIRED))
        return vfail(d, 0, err, errlen,
                     "the %s side's handler %s needs %s.%s.%s", side_name(side),
                     h->name, side_name(side), h->name, o->name);
    }
  }
  return 0;
}

int gh__dest_validate(gh__dest *d, const gh__registry *reg, char *err,
                      size_t errlen) {
  uint32_t sides = dest_sides(d);
  memset(&d->listen_chain, 0, sizeof(d->listen_chain));
  memset(&d->resource_chain, 0, sizeof(d->resource_chain));
  for (uint32_t s = GH_SIDE_LISTEN; s <= GH_SIDE_RESOURCE; s <<= 1)
    if ((sides & s) && chain_side(d, reg, s, err, errlen) < 0)
      return GH_EINVAL;
  if (sides == (GH_SIDE_LISTEN | GH_SIDE_RESOURCE) &&
      is_dgram(&d->listen_chain) != is_dgram(&d->resource_chain))
    return vfail(d, 0, err, errlen,
                 "one side carries datagrams and the other a byte stream "
                 "(listen: %s, resource: %s)",
                 dest_proto(d, GH_SIDE_LISTEN),
                 dest_proto(d, GH_SIDE_RESOURCE));
  for (size_t i = 0; i < d->opts.n; i++)
    if (opt_check(d, &d->opts.v[i], sides, err, errlen) < 0)
      return GH_EINVAL;
  for (uint32_t s = GH_SIDE_LISTEN; s <= GH_SIDE_RESOURCE; s <<= 1)
    if ((sides & s) && opt_counts(d, s, err, errlen) < 0)
      return GH_EINVAL;
  return 0;
}

/* ------------------------------------------ a client's own values */

const gh__local_dest *gh__local_dest_find(const gh__client_cfg *cfg,
                                          const char *gateway,
                                          const char *name) {
  if (!cfg || !gateway || !name)
    return NULL;
  for (size_t i = 0; i < cfg->n_locals; i++)
    if (strcmp(cfg->locals[i].name, name) == 0 &&
        strcmp(cfg->locals[i].gateway, gateway) == 0)
      return &cfg->locals[i];
  return NULL;
}

/* Whether kv gives, for `side`, the option that the local kv `l` sets. */
static int opt_same(const gh__kv *kv, uint32_t side, const gh__kv *l) {
  uint32_t s1, s2;
  char h1[40], h2[40];
  const char *o1, *o2;
  if (opt_key_split(kv->key, &s1, h1, sizeof(h1), &o1) < 0 ||
      opt_key_split(l->key, &s2, h2, sizeof(h2), &o2) < 0)
    return 0;
  return (s1 == 0 || s1 == side) && strcmp(h1, h2) == 0 && strcmp(o1, o2) == 0;
}

int gh__dest_apply_local(gh__dest *d, const gh__local_dest *l, char *err,
                         size_t errlen) {
  uint32_t mine = d->type == GH__DEST_CLOUD ? GH_SIDE_LISTEN : GH_SIDE_RESOURCE;
  for (size_t i = 0; i < l->opts.n; i++) {
    const gh__kv *lk = &l->opts.v[i];
    uint32_t side;
    char h[40];
    const char *o;
    if (opt_key_split(lk->key, &side, h, sizeof(h), &o) < 0)
      continue; /* cannot be: checked when the file was read */
    if (side && side != mine) {
      if (err && errlen)
        snprintf(err, errlen,
                 "%s:%d: %s: this client runs the %s side of destination "
                 "'%s' (type = %s); the %s side's options belong in the "
                 "server's file",
                 lk->file ? lk->file : "?", lk->line, lk->key, side_name(mine),
                 d->name, type_name(d->type), side_name(side));
      return GH_EINVAL;
    }
  }
  /* Drop what the server gave for those options, keep the rest in order. */
  size_t kept = 0;
  for (size_t i = 0; i < d->opts.n; i++) {
    gh__kv *kv = &d->opts.v[i];
    int replaced = 0;
    for (size_t j = 0; j < l->opts.n && !replaced; j++)
      replaced = opt_same(kv, mine, &l->opts.v[j]);
    if (replaced)
      kv_free(kv);
    else
      d->opts.v[kept++] = *kv;
  }
  d->opts.n = kept;
  for (size_t j = 0; j < l->opts.n; j++) {
    const gh__kv *lk = &l->opts.v[j];
    gh__kv *kv = kvs_push(&d->opts, lk->key, lk->value, lk->line);
    kv->file = lk->file ? gh__strdup(lk->file) : NULL;
  }
  return 0;
}

/* ------------------------------------------------- the pushed set: encode
 *
 *   "GHD" version(1)  u32 count
 *   per destination:  u16 name_len name  u16 n_records
 *   per record:       u8 tag  u16 key_len key  u32 value_len value
 *                     [tag 2: u32 blob_len blob]
 *
 * Big-endian. Records are INI keys and values, replayed through
 * gh__dest_set on the client; tag 2 adds a file option's content. */

typedef struct gh__enc {
  gh__buf b;
  int rc;
  uint32_t records; /* in the whole set: GH__PUSH_RECORDS_MAX at most */
} gh__enc;

static void enc_bytes(gh__enc *e, const void *p, size_t n) {
  if (e->rc)
    return;
  if (e->b.len + n > GH__DESTS_BYTES_MAX)
    e->rc = GH_EMSGSIZE;
  else if (gh__buf_append(&e->b, p, n) < 0)
    e->rc = GH_ENOMEM;
}

static void enc_u8(gh__enc *e, uint8_t v) {
  enc_bytes(e, &v, 1);
}

static void enc_u16(gh__enc *e, uint16_t v) {
  uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  enc_bytes(e, b, 2);
}

static void enc_u32(gh__enc *e, uint32_t v) {
  uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                  (uint8_t)v};
  enc_bytes(e, b, 4);
}

static void enc_rec(gh__enc *e, size_t *n, const char *key, const char *value,
                    const uint8_t *blob, size_t blob_len) {
  size_t kl = strlen(key), vl = value ? strlen(value) : 0;
  if (!value || kl > GH__NAME_MAX || vl > GH__VALUE_MAX ||
      blob_len > GH__DESTS_BYTES_MAX || *n >= 65535 ||
      e->records >= GH__PUSH_RECORDS_MAX) {
    if (!e->rc)
      e->rc = GH_EMSGSIZE;
    return;
  }
  e->records++;
  enc_u8(e, blob ? GH__REC_BLOB : GH__REC_KV);
  enc_u16(e, (uint16_t)kl);
  enc_bytes(e, key, kl);
  enc_u32(e, (uint32_t)vl);
  enc_bytes(e, value, vl);
  if (blob) {
    enc_u32(e, (uint32_t)blob_len);
    enc_bytes(e, blob, blob_len);
  }
  (*n)++;
}

/* Options the client needs: those of the side it runs, and side-less ones
 * whose handler is in that side's chain (when the chains are known). The
 * server's own side - its listening key, say - stays on the server. */
static int opt_for_client(const gh__dest *d, const gh__kv *kv) {
  uint32_t side, mine;
  char h[40];
  const char *o;
  if (opt_key_split(kv->key, &side, h, sizeof(h), &o) < 0)
    return 0;
  mine = d->type == GH__DEST_CLOUD ? GH_SIDE_LISTEN : GH_SIDE_RESOURCE;
  if (side)
    return side == mine;
  const gh__chain *c = dest_chain(d, mine);
  return c->n == 0 || chain_find(c, h) != NULL;
}

static void enc_allow(gh__enc *e, size_t *n, const gh__iplist *l) {
  for (size_t i = 0; i < l->n; i++) {
    const gh__iprange *r = &l->v[i];
    gh_addr lo = {.family = r->family}, hi = {.family = r->family};
    char a[64], b[64], text[140];
    memcpy(lo.addr, r->lo, 16);
    memcpy(hi.addr, r->hi, 16);
    gh__addr_format(&lo, a, sizeof(a));
    gh__addr_format(&hi, b, sizeof(b));
    if (strcmp(a, b) == 0)
      snprintf(text, sizeof(text), "%s", a);
    else
      snprintf(text, sizeof(text), "%s-%s", a, b);
    enc_rec(e, n, "allow", text, NULL, 0);
  }
}

static void enc_dest(gh__enc *e, const gh__dest *d) {
  char v[300];
  size_t n = 0, at;
  size_t nl = strlen(d->name);
  if (nl == 0 || nl > GH__NAME_MAX || !d->gateway || !d->resource_host) {
    e->rc = e->rc ? e->rc : GH_EINVAL;
    return;
  }
  enc_u16(e, (uint16_t)nl);
  enc_bytes(e, d->name, nl);
  at = e->b.len;
  enc_u16(e, 0); /* n_records, patched below */
  enc_rec(e, &n, "gateway", d->gateway, NULL, 0);
  enc_rec(e, &n, "type", type_name(d->type), NULL, 0);
  if (d->type == GH__DEST_ONPREM) {
    fmt_hostport(d->listen_host, d->listen_port, v, sizeof(v));
    enc_rec(e, &n, "listen", v, NULL, 0);
  } else {
    snprintf(v, sizeof(v), "%u", d->client_port);
    enc_rec(e, &n, "client_port", v, NULL, 0);
    enc_rec(e, &n, "client_bind", d->client_bind, NULL, 0);
    if (d->allow.present)
      enc_allow(e, &n, &d->allow); /* the client listens: it enforces */
  }
  fmt_hostport(d->resource_host, d->resource_port, v, sizeof(v));
  enc_rec(e, &n, "resource", v, NULL, 0);
  enc_rec(e, &n, "listen.protocol", d->listen_proto, NULL, 0);
  enc_rec(e, &n, "resource.protocol", d->resource_proto, NULL, 0);
  snprintf(v, sizeof(v), "%u", (d->connect_timeout_ms + 999) / 1000);
  enc_rec(e, &n, "connect_timeout", v, NULL, 0);
  for (size_t i = 0; i < d->opts.n; i++) {
    const gh__kv *kv = &d->opts.v[i];
    if (opt_for_client(d, kv))
      enc_rec(e, &n, kv->key, kv->value, kv->blob, kv->blob_len);
  }
  if (!e->rc) {
    e->b.data[e->b.off + at] = (uint8_t)(n >> 8);
    e->b.data[e->b.off + at + 1] = (uint8_t)n;
  }
}

/* ---- comparing ---- */

static int str_eq(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int gh__dest_equal(const gh__dest *a, const gh__dest *b) {
  if (a->type != b->type || !str_eq(a->gateway, b->gateway) ||
      !str_eq(a->listen_host, b->listen_host) ||
      a->listen_port != b->listen_port ||
      !str_eq(a->resource_host, b->resource_host) ||
      a->resource_port != b->resource_port ||
      a->client_port != b->client_port ||
      !str_eq(a->client_bind, b->client_bind) ||
      !str_eq(a->listen_proto, b->listen_proto) ||
      !str_eq(a->resource_proto, b->resource_proto) ||
      a->connect_timeout_ms != b->connect_timeout_ms ||
      a->allow.present != b->allow.present || a->allow.n != b->allow.n ||
      a->opts.n != b->opts.n)
    return 0;
  if (a->allow.n &&
      memcmp(a->allow.v, b->allow.v, a->allow.n * sizeof(*a->allow.v)) != 0)
    return 0;
  for (size_t i = 0; i < a->opts.n; i++) {
    const gh__kv *x = &a->opts.v[i], *y = &b->opts.v[i];
    if (!str_eq(x->key, y->key) || !str_eq(x->value, y->value) ||
        !str_eq(x->file, y->file))
      return 0;
    /* A value of the client's own file is read when the destination is
     * validated: a new push carries no content for it to compare. */
    if (!x->file &&
        (x->blob_len != y->blob_len ||
         (x->blob_len && memcmp(x->blob, y->blob, x->blob_len) != 0)))
      return 0;
  }
  return 1;
}

int gh__dests_encode(const gh__server_cfg *cfg, const char *gateway,
                     uint8_t **out, size_t *len) {
  gh__enc e;
  uint32_t count = 0;
  *out = NULL;
  *len = 0;
  if (!cfg || !gateway)
    return GH_EINVAL;
  memset(&e, 0, sizeof(e));
  for (size_t i = 0; i < cfg->n_dests; i++)
    if (cfg->dests[i].gateway && strcmp(cfg->dests[i].gateway, gateway) == 0)
      count++;
  if (count > GH__DESTS_MAX)
    return GH_EMSGSIZE;
  enc_bytes(&e, GH__PUSH_MAGIC, 3);
  enc_u8(&e, GH__PUSH_VERSION);
  enc_u32(&e, count);
  for (size_t i = 0; i < cfg->n_dests && !e.rc; i++)
    if (cfg->dests[i].gateway && strcmp(cfg->dests[i].gateway, gateway) == 0)
      enc_dest(&e, &cfg->dests[i]);
  if (e.rc) {
    if (e.b.data)
      explicit_bzero(e.b.data, e.b.cap);
    gh__buf_free(&e.b);
    return e.rc;
  }
  *out = e.b.data; /* nothing was consumed: off is 0 */
  *len = e.b.len;
  return 0;
}

/* ------------------------------------------------- the pushed set: decode */

typedef struct gh__rd {
  const uint8_t *p;
  size_t len, off;
  uint32_t records; /* read so far, in the whole set */
} gh__rd;

static int rd_take(gh__rd *r, size_t n, const uint8_t **out) {
  if (r->len - r->off < n)
    return GH_EPROTO;
  *out = r->p + r->off;
  r->off += n;
  return 0;
}

static int rd_uint(gh__rd *r, size_t n, uint32_t *v) {
  const uint8_t *b;
  if (rd_take(r, n, &b) < 0)
    return GH_EPROTO;
  *v = 0;
  for (size_t i = 0; i < n; i++)
    *v = (*v << 8) | b[i];
  return 0;
}

/* A length-prefixed string without NUL bytes, copied into a new string. */
static int rd_str(gh__rd *r, size_t lsize, size_t max, char **out) {
  uint32_t n;
  const uint8_t *b;
  if (rd_uint(r, lsize, &n) < 0 || n > max || rd_take(r, n, &b) < 0 ||
      memchr(b, 0, n))
    return GH_EPROTO;
  *out = gh__strndup((const char *)b, n);
  return 0;
}

static int dfail(char *err, size_t errlen, int rc, const char *fmt, ...)
    GH_PRINTF(4, 5);
static int dfail(char *err, size_t errlen, int rc, const char *fmt, ...) {
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (err && errlen)
    snprintf(err, errlen, "pushed destinations: %s", msg);
  return rc;
}

static int rd_blob(gh__rd *r, gh__dest *d, size_t before, const char *key,
                   char *err, size_t errlen) {
  uint32_t n;
  const uint8_t *b;
  if (rd_uint(r, 4, &n) < 0 || rd_take(r, n, &b) < 0)
    return dfail(err, errlen, GH_EPROTO, "truncated");
  if (d->opts.n != before + 1)
    return dfail(err, errlen, GH_EPROTO,
                 "destination '%s': file content for '%.64s', which is not "
                 "a handler option",
                 d->name, key);
  gh__kv *kv = &d->opts.v[before];
  kv->blob = gh__xcalloc(1, n ? n : 1);
  memcpy(kv->blob, b, n);
  kv->blob_len = n;
  return 0;
}

static int rd_record(gh__rd *r, gh__dest *d, char *err, size_t errlen) {
  uint32_t tag;
  char *key = NULL, *value = NULL, reason[512];
  int rc;
  if (rd_uint(r, 1, &tag) < 0 || (tag != GH__REC_KV && tag != GH__REC_BLOB) ||
      rd_str(r, 2, GH__NAME_MAX, &key) < 0 ||
      rd_str(r, 4, GH__VALUE_MAX, &value) < 0) {
    free(key);
    return dfail(err, errlen, GH_EPROTO, "malformed record in '%s'", d->name);
  }
  size_t before = d->opts.n;
  rc = gh__dest_set(d, key, value, 0, reason, sizeof(reason));
  if (rc < 0)
    rc = dfail(err, errlen, GH_EINVAL, "destination '%s': %s", d->name, reason);
  else if (tag == GH__REC_BLOB)
    rc = rd_blob(r, d, before, key, err, errlen);
  free(key);
  free(value);
  return rc;
}

static int rd_dest(gh__rd *r, gh__dest *v, size_t i, char *err, size_t errlen) {
  gh__dest *d = &v[i];
  uint32_t nrec;
  char reason[512];
  int idx;
  if (rd_str(r, 2, GH__NAME_MAX, &d->name) < 0 || !name_valid(d->name))
    return dfail(err, errlen, GH_EPROTO, "bad destination name");
  d->file = GH__PUSHED;
  d->pushed = 1;
  for (size_t j = 0; j < i; j++)
    if (strcmp(v[j].name, d->name) == 0)
      return dfail(err, errlen, GH_EINVAL, "destination '%s' given twice",
                   d->name);
  if (rd_uint(r, 2, &nrec) < 0)
    return dfail(err, errlen, GH_EPROTO, "truncated");
  if (nrec > GH__PUSH_RECORDS_MAX - r->records)
    return dfail(err, errlen, GH_EPROTO, "more than %u keys in the set",
                 GH__PUSH_RECORDS_MAX);
  r->records += nrec;
  for (uint32_t k = 0; k < nrec; k++) {
    int rc = rd_record(r, d, err, errlen);
    if (rc < 0)
      return rc;
  }
  if (dest_finish(d, &idx, reason, sizeof(reason)) < 0)
    return dfail(err, errlen, GH_EINVAL, "%s", reason);
  return 0;
}

int gh__dests_decode(const uint8_t *p, size_t len, gh__dest **out, size_t *n,
                     char *err, size_t errlen) {
  gh__rd r = {p, len, 0, 0};
  const uint8_t *magic;
  uint32_t version, count;
  *out = NULL;
  *n = 0;
  if (!p || len > GH__DESTS_BYTES_MAX)
    return dfail(err, errlen, GH_EPROTO, "too large or missing");
  if (rd_take(&r, 3, &magic) < 0 || memcmp(magic, GH__PUSH_MAGIC, 3) != 0 ||
      rd_uint(&r, 1, &version) < 0)
    return dfail(err, errlen, GH_EPROTO, "not a destination set");
  if (version != GH__PUSH_VERSION)
    return dfail(err, errlen, GH_EPROTO, "unsupported version %u", version);
  if (rd_uint(&r, 4, &count) < 0 || count > GH__DESTS_MAX)
    return dfail(err, errlen, GH_EPROTO, "bad count of destinations");
  /* Each destination takes 4 bytes at least: allocate nothing more than
   * the input can justify. */
  if ((size_t)count * 4 > len - r.off)
    return dfail(err, errlen, GH_EPROTO, "truncated");
  gh__dest *v = gh__xcalloc(count ? count : 1, sizeof(*v));
  size_t i = 0;
  int rc = 0;
  while (i < count && rc == 0)
    rc = rd_dest(&r, v, i++, err, errlen);
  if (rc == 0 && r.off != r.len)
    rc = dfail(err, errlen, GH_EPROTO, "%zu bytes after the last destination",
               r.len - r.off);
  if (rc < 0) {
    for (size_t j = 0; j < i; j++)
      gh__dest_free(&v[j]);
    free(v);
    return rc;
  }
  *out = v;
  *n = count;
  return 0;
}
