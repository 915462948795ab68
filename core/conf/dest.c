/* The destination model: the keys of a [destination] (the setters the
 * key table names), its handler options, what it needs whatever its source
 * (a file, a push), and free and equal. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "../util.h"
#include "../words.h"
#include "keys.h"

/* ---------------------------------------------------- destination keys */
int gh__cf_ds_gateway(const gh__key *k, gh__kctx *c, const char *v) {
  gh__dest *d = c->obj;
  (void)k;
  if (!gh__cf_name_valid(v))
    return gh__cf_why(
        c->err, c->errlen,
        "gateway: bad id '%.100s' (letters, digits, '.', '_', '-')", v);
  d->gateway = gh__strdup(v);
  return 0;
}

int gh__cf_ds_type(const gh__key *k, gh__kctx *c, const char *v) {
  gh__dest *d = c->obj;
  (void)k;
  if (strcmp(v, "onprem") == 0)
    d->type = GH__DEST_ONPREM;
  else if (strcmp(v, "cloud") == 0)
    d->type = GH__DEST_CLOUD;
  else
    return gh__cf_why(c->err, c->errlen,
                      "type must be onprem or cloud, not '%.100s'", v);
  return 0;
}

/* "unix:PATH": 1 and the path in *path, 0 when v is not one, GH_EINVAL
 * (with the reason) when the path is not acceptable. */
static int unix_value(const char *key, const char *v, char **path, char *err,
                      size_t errlen) {
  if (strncmp(v, "unix:", 5) != 0)
    return 0;
  if (!gh__unix_path_valid(v + 5))
    return gh__cf_why(err, errlen,
                      "%s: '%.100s' is not a socket path gatehouse takes "
                      "(absolute, no '.' or '..' component, at most 107 bytes)",
                      key, v + 5);
  *path = gh__strdup(v + 5);
  return 1;
}

int gh__cf_ds_listen(const gh__key *k, gh__kctx *c, const char *v) {
  gh__dest *d = c->obj;
  (void)k;
  int u = unix_value("listen", v, &d->listen_host, c->err, c->errlen);
  if (u != 0) {
    d->listen_unix = u > 0;
    return u < 0 ? u : 0;
  }
  if (gh__hostport_parse(v, &d->listen_host, &d->listen_port) < 0)
    return gh__cf_why(
        c->err, c->errlen,
        "listen: expected host:port, [v6]:port, :port or unix:/PATH, not "
        "'%.100s'",
        v);
  return 0;
}

int gh__cf_ds_client_port(const gh__key *k, gh__kctx *c, const char *v) {
  gh__dest *d = c->obj;
  (void)k;
  uint32_t port;
  if (gh__word_u32(v, 1, 65535, &port) < 0)
    return gh__cf_why(c->err, c->errlen,
                      "client_port must be a port from 1 to 65535");
  d->client_port = (uint16_t)port;
  return 0;
}

int gh__cf_ds_client_bind(const gh__key *k, gh__kctx *c, const char *v) {
  gh__dest *d = c->obj;
  (void)k;
  gh_addr a;
  if (gh__addr_parse(v, &a) < 0 && !gh__hostname_valid(v))
    return gh__cf_why(c->err, c->errlen,
                      "client_bind: expected an address or a host name, not "
                      "'%.100s'",
                      v);
  d->client_bind = gh__strdup(v);
  return 0;
}

int gh__cf_ds_resource(const gh__key *k, gh__kctx *c, const char *v) {
  gh__dest *d = c->obj;
  (void)k;
  int u = unix_value("resource", v, &d->resource_host, c->err, c->errlen);
  if (u != 0) {
    d->resource_unix = u > 0;
    return u < 0 ? u : 0;
  }
  if (gh__hostport_parse(v, &d->resource_host, &d->resource_port) < 0 ||
      !d->resource_host) {
    free(d->resource_host);
    d->resource_host = NULL;
    d->resource_port = 0;
    return gh__cf_why(c->err, c->errlen,
                      "resource: expected host:port, [v6]:port or unix:/PATH, "
                      "not '%.100s'",
                      v);
  }
  return 0;
}

static int ds_proto(char **dst, const char *key, const char *v, char *err,
                    size_t errlen) {
  if (!gh__cf_proto_valid(v))
    return gh__cf_why(
        err, errlen,
        "%s: bad chain '%.100s' (handler names joined by '+', e.g. "
        "tcp+tls)",
        key, v);
  *dst = gh__strdup(v);
  return 0;
}

/* listen.protocol, resource.protocol: the row's offset says which. */
int gh__cf_ds_side_proto(const gh__key *k, gh__kctx *c, const char *v) {
  return ds_proto((char **)(void *)((char *)c->obj + k->offset), k->name, v,
                  c->err, c->errlen);
}

int gh__cf_ds_protocol(const gh__key *k, gh__kctx *c, const char *v) {
  gh__dest *d = c->obj;
  (void)k;
  if (ds_proto(&d->listen_proto, "protocol", v, c->err, c->errlen) < 0)
    return GH_EINVAL;
  d->resource_proto = gh__strdup(v);
  return 0;
}

int gh__cf_ds_allow(const gh__key *k, gh__kctx *c, const char *v) {
  gh__dest *d = c->obj;
  (void)k;
  char reason[256];
  if (gh__iplist_add(&d->allow, v, reason, sizeof(reason)) < 0)
    return gh__cf_why(c->err, c->errlen, "allow: %s", reason);
  return 0;
}

int gh__cf_ds_connect_timeout(const gh__key *k, gh__kctx *c, const char *v) {
  gh__dest *d = c->obj;
  (void)k;
  uint32_t s;
  if (gh__word_u32(v, 1, 3600, &s) < 0)
    return gh__cf_why(
        c->err, c->errlen,
        "connect_timeout must be a number of seconds from 1 to 3600");
  d->connect_timeout_ms = s * 1000u;
  return 0;
}

static int dest_given(const gh__dest *d, int idx) {
  switch (idx) {
  case GH__DK_GATEWAY:
    return d->gateway != NULL;
  case GH__DK_TYPE:
    return d->type != 0;
  case GH__DK_LISTEN:
    return d->listen_port != 0 || d->listen_unix;
  case GH__DK_CLIENT_PORT:
    return d->client_port != 0;
  case GH__DK_CLIENT_BIND:
    return d->client_bind != NULL;
  case GH__DK_RESOURCE:
    return d->resource_port != 0 || d->resource_unix;
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
    return gh__cf_why(err, errlen, "%s is already set (line %d)", key, first);
  return gh__cf_why(err, errlen, "%s is already set", key);
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
int gh__cf_opt_key_split(const char *key, uint32_t *side, char *handler,
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

gh__kv *gh__cf_kvs_push(gh__kvs *kvs, const char *key, const char *value,
                        int line) {
  gh__cf_grow((void **)&kvs->v, &kvs->cap, kvs->n, sizeof(gh__kv));
  gh__kv *kv = &kvs->v[kvs->n++];
  memset(kv, 0, sizeof(*kv));
  kv->key = gh__strdup(key);
  kv->value = gh__strdup(value);
  kv->line = line;
  return kv;
}

void gh__cf_kv_free(gh__kv *kv) {
  free(kv->key);
  free(kv->value);
  if (kv->blob)
    explicit_bzero(kv->blob, kv->blob_len); /* may be a private key */
  free(kv->blob);
  free(kv->file);
  memset(kv, 0, sizeof(*kv));
}

/* A handler option "SIDE.HANDLER.KEY" or "HANDLER.KEY", added to kvs. */
gh__kv *gh__cf_opt_push(gh__kvs *kvs, const char *key, const char *value,
                        int line, char *err, size_t errlen) {
  uint32_t side;
  char h[40];
  const char *o;
  if (gh__cf_opt_key_split(key, &side, h, sizeof(h), &o) < 0) {
    if (!gh__cf_key_showable(key))
      gh__cf_why(err, errlen, "unknown key");
    else
      gh__cf_why(err, errlen,
                 "unknown key '%s' (handler options are HANDLER.KEY, "
                 "listen.HANDLER.KEY or resource.HANDLER.KEY)",
                 key);
    return NULL;
  }
  if (kvs->n >= GH__OPTS_MAX) {
    gh__cf_why(err, errlen, "too many handler options (at most %d)",
               GH__OPTS_MAX);
    return NULL;
  }
  return gh__cf_kvs_push(kvs, key, value, line);
}

static int opt_add(gh__dest *d, const char *key, const char *value, int line,
                   char *err, size_t errlen) {
  return gh__cf_opt_push(&d->opts, key, value, line, err, errlen) ? 0
                                                                  : GH_EINVAL;
}

int gh__dest_set(gh__dest *d, const char *key, const char *value, int line,
                 char *err, size_t errlen) {
  if (!key || !value)
    return gh__cf_why(err, errlen, "missing key or value");
  const gh__key *k = gh__cf_key_find(GH__K_DEST, key);
  if (k) {
    int idx = k->slot;
    if (idx < 0 && dest_given(d, GH__DK_LISTEN_PROTO))
      return twice(d, "the listen side's protocol", GH__DK_LISTEN_PROTO, err,
                   errlen);
    if (idx < 0 && dest_given(d, GH__DK_RESOURCE_PROTO))
      return twice(d, "the resource side's protocol", GH__DK_RESOURCE_PROTO,
                   err, errlen);
    if (idx >= 0 && dest_given(d, idx))
      return twice(d, key, idx, err, errlen);
    if (!*value)
      return gh__cf_why(err, errlen, "%s has no value", key);
    gh__kctx c = {NULL, d, line, err, errlen};
    int rc = k->set(k, &c, value);
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
  if (!gh__cf_key_showable(key))
    return gh__cf_why(err, errlen, "unknown key");
  return gh__cf_why(err, errlen, "unknown key '%s'", key);
}

/* What a destination needs whatever its source (a file, a push), and its
 * defaults. *idx gets the key concerned (GH__DK_*), or -1 for the section. */
int gh__cf_dest_finish(gh__dest *d, int *idx, char *err, size_t errlen) {
  const char *n = d->name ? d->name : "?";
  *idx = -1;
  if (!d->gateway)
    return gh__cf_why(err, errlen, "destination %s has no gateway = ID", n);
  if (!d->type)
    return gh__cf_why(err, errlen,
                      "destination %s has no type = onprem | cloud", n);
  if (d->type == GH__DEST_ONPREM) {
    if (d->client_port || d->client_bind) {
      *idx = d->client_port ? GH__DK_CLIENT_PORT : GH__DK_CLIENT_BIND;
      return gh__cf_why(err, errlen,
                        "destination %s: %s is for type = cloud (the client "
                        "listens); type = onprem uses listen = host:port (the "
                        "server listens)",
                        n, d->client_port ? "client_port" : "client_bind");
    }
    if (!d->listen_port && !d->listen_unix)
      return gh__cf_why(
          err, errlen,
          "destination %s (onprem) needs listen = host:port, where "
          "the server listens",
          n);
  } else if (d->listen_unix) {
    if (d->client_port || d->client_bind) {
      *idx = d->client_port ? GH__DK_CLIENT_PORT : GH__DK_CLIENT_BIND;
      return gh__cf_why(err, errlen,
                        "destination %s: listen = unix:%s is where the "
                        "client listens; client_port and client_bind are for "
                        "an IP listener",
                        n, d->listen_host);
    }
  } else {
    if (d->listen_port) {
      *idx = GH__DK_LISTEN;
      return gh__cf_why(err, errlen,
                        "destination %s: listen is for type = onprem; a cloud "
                        "destination listens on the client, at client_port",
                        n);
    }
    if (!d->client_port)
      return gh__cf_why(
          err, errlen,
          "destination %s (cloud) needs client_port = N, where the "
          "client listens",
          n);
    if (!d->client_bind)
      d->client_bind = gh__strdup("127.0.0.1");
  }
  if (!d->resource_port && !d->resource_unix)
    return gh__cf_why(err, errlen, "destination %s needs resource = host:port",
                      n);
  /* A socket path has its own transport by default. */
  if (!d->listen_proto)
    d->listen_proto = gh__strdup(d->listen_unix ? "unix" : "tcp");
  if (!d->resource_proto)
    d->resource_proto = gh__strdup(d->resource_unix ? "unix" : "tcp");
  if (!d->connect_timeout_ms)
    d->connect_timeout_ms = 10000;
  return 0;
}

void gh__dest_free(gh__dest *d) {
  if (!d)
    return;
  free(d->file);
  free(d->name);
  free(d->gateway);
  free(d->listen_host);
  free(d->client_bind);
  free(d->resource_host);
  free(d->listen_proto);
  free(d->resource_proto);
  for (size_t i = 0; i < d->opts.n; i++)
    gh__cf_kv_free(&d->opts.v[i]);
  free(d->opts.v);
  gh__iplist_free(&d->allow);
  memset(d, 0, sizeof(*d));
}

/* ---- as text ---- */

static void endpoint_text(int is_unix, const char *host, uint16_t port,
                          char *out, size_t len) {
  if (is_unix)
    snprintf(out, len, "unix:%s", host ? host : "");
  else
    gh__cf_fmt_hostport(host, port, out, len);
}

void gh__dest_listen_text(const gh__dest *d, char *out, size_t len) {
  if (d->type == GH__DEST_CLOUD && !d->listen_unix)
    endpoint_text(0, d->client_bind ? d->client_bind : "127.0.0.1",
                  d->client_port, out, len);
  else
    endpoint_text(d->listen_unix, d->listen_host, d->listen_port, out, len);
}

void gh__dest_resource_text(const gh__dest *d, char *out, size_t len) {
  endpoint_text(d->resource_unix, d->resource_host, d->resource_port, out, len);
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
      a->listen_unix != b->listen_unix ||
      a->resource_unix != b->resource_unix ||
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
