/* The destination set a server pushes to a client: its wire codec, on
 * the big-endian cursors of wire.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "../util.h"
#include "../wire.h"
#include "validate.h"

/* ------------------------------------------------- the pushed set: encode
 *
 *   "GHD" version(1)  u32 count
 *   per destination:  u16 name_len name  u16 n_records
 *   per record:       u8 tag  u16 key_len key  u32 value_len value
 *                     [tag 2: u32 blob_len blob]
 *
 * Big-endian. Records are INI keys and values, replayed through
 * gh__dest_set on the client; tag 2 adds a file option's content. */

/* Encoding runs twice over the same cursor code: once to measure (a
 * writer without a buffer), once to write. */
typedef struct gh__enc {
  gh__wr w;
  int rc;
  uint32_t records; /* in the whole set: GH__PUSH_RECORDS_MAX at most */
} gh__enc;

static void enc_bytes(gh__enc *e, const void *p, size_t n) {
  if (e->rc)
    return;
  gh__wr_bytes(&e->w, p, n);
  if (e->w.bad)
    e->rc = GH_EMSGSIZE; /* past GH__DESTS_BYTES_MAX */
}

static void enc_u8(gh__enc *e, uint8_t v) {
  enc_bytes(e, &v, 1);
}

static void enc_u16(gh__enc *e, uint16_t v) {
  uint8_t b[2];
  gh__put_u16(b, v);
  enc_bytes(e, b, 2);
}

static void enc_u32(gh__enc *e, uint32_t v) {
  uint8_t b[4];
  gh__put_u32(b, v);
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
  if (gh__cf_opt_key_split(kv->key, &side, h, sizeof(h), &o) < 0)
    return 0;
  mine = d->type == GH__DEST_CLOUD ? GH_SIDE_LISTEN : GH_SIDE_RESOURCE;
  if (side)
    return side == mine;
  const gh__chain *c = gh__cf_dest_chain(d, mine);
  return c->n == 0 || gh__cf_chain_find(c, h) != NULL;
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
  size_t n = 0;
  uint8_t *at;
  size_t nl = strlen(d->name);
  if (nl == 0 || nl > GH__NAME_MAX || !d->gateway || !d->resource_host) {
    e->rc = e->rc ? e->rc : GH_EINVAL;
    return;
  }
  enc_u16(e, (uint16_t)nl);
  enc_bytes(e, d->name, nl);
  at = e->w.p; /* n_records, written below */
  enc_u16(e, 0);
  enc_rec(e, &n, "gateway", d->gateway, NULL, 0);
  enc_rec(e, &n, "type", gh__cf_type_name(d->type), NULL, 0);
  if (d->type == GH__DEST_ONPREM || d->listen_unix) {
    gh__dest_listen_text(d, v, sizeof(v));
    enc_rec(e, &n, "listen", v, NULL, 0);
    if (d->type == GH__DEST_CLOUD && d->allow.present)
      enc_allow(e, &n, &d->allow); /* the client listens: it enforces */
  } else {
    snprintf(v, sizeof(v), "%u", d->client_port);
    enc_rec(e, &n, "client_port", v, NULL, 0);
    enc_rec(e, &n, "client_bind", d->client_bind, NULL, 0);
    if (d->allow.present)
      enc_allow(e, &n, &d->allow); /* the client listens: it enforces */
  }
  gh__dest_resource_text(d, v, sizeof(v));
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
  if (!e->rc && at)
    gh__put_u16(at, (uint16_t)n);
}

static void enc_set(gh__enc *e, const gh__server_cfg *cfg, const char *gateway,
                    uint32_t count) {
  enc_bytes(e, GH__PUSH_MAGIC, 3);
  enc_u8(e, GH__PUSH_VERSION);
  enc_u32(e, count);
  for (size_t i = 0; i < cfg->n_dests && !e->rc; i++)
    if (cfg->dests[i].gateway && strcmp(cfg->dests[i].gateway, gateway) == 0)
      enc_dest(e, &cfg->dests[i]);
}

int gh__dests_encode(const gh__server_cfg *cfg, const char *gateway,
                     uint8_t **out, size_t *len) {
  uint32_t count = 0;
  *out = NULL;
  *len = 0;
  if (!cfg || !gateway)
    return GH_EINVAL;
  for (size_t i = 0; i < cfg->n_dests; i++)
    if (cfg->dests[i].gateway && strcmp(cfg->dests[i].gateway, gateway) == 0)
      count++;
  if (count > GH__DESTS_MAX)
    return GH_EMSGSIZE;
  gh__enc e = {{NULL, GH__DESTS_BYTES_MAX, 0, 0}, 0, 0};
  enc_set(&e, cfg, gateway, count);
  if (e.rc)
    return e.rc;
  size_t n = e.w.n;
  uint8_t *buf = gh__xcalloc(1, n ? n : 1);
  e = (gh__enc){{buf, n, 0, 0}, 0, 0};
  enc_set(&e, cfg, gateway, count);
  *out = buf;
  *len = n;
  return 0;
}

/* ------------------------------------------------- the pushed set: decode */

/* A length-prefixed string without NUL bytes, copied into a new string. */
static int rd_str(gh__rd *r, size_t lsize, size_t max, char **out) {
  size_t n;
  const uint8_t *b = gh__rd_lp(r, lsize, max, &n);
  if (!b || memchr(b, 0, n))
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
  size_t n;
  const uint8_t *b = gh__rd_lp(r, 4, SIZE_MAX, &n);
  if (!b)
    return dfail(err, errlen, GH_EPROTO, "truncated");
  if (d->opts.n != before + 1)
    return dfail(
        err, errlen, GH_EPROTO,
        "destination %s (pushed): file content for '%.64s', which is not "
        "a handler option",
        d->name, key);
  gh__kv *kv = &d->opts.v[before];
  kv->blob = gh__xcalloc(1, n ? n : 1);
  memcpy(kv->blob, b, n);
  kv->blob_len = n;
  return 0;
}

static int rd_record(gh__rd *r, gh__dest *d, char *err, size_t errlen) {
  char *key = NULL, *value = NULL, reason[512];
  int rc;
  uint8_t tag = gh__rd_u8(r);
  if (r->bad || (tag != GH__REC_KV && tag != GH__REC_BLOB) ||
      rd_str(r, 2, GH__NAME_MAX, &key) < 0 ||
      rd_str(r, 4, GH__VALUE_MAX, &value) < 0) {
    free(key);
    return dfail(err, errlen, GH_EPROTO, "malformed record in '%s'", d->name);
  }
  size_t before = d->opts.n;
  rc = gh__dest_set(d, key, value, 0, reason, sizeof(reason));
  if (rc < 0)
    rc = dfail(err, errlen, GH_EINVAL, "destination %s (pushed): %s", d->name,
               reason);
  else if (tag == GH__REC_BLOB)
    rc = rd_blob(r, d, before, key, err, errlen);
  free(key);
  free(value);
  return rc;
}

/* *records: the keys read so far in the whole set. */
static int rd_dest(gh__rd *r, gh__dest *v, size_t i, uint32_t *records,
                   char *err, size_t errlen) {
  gh__dest *d = &v[i];
  char reason[512];
  int idx;
  if (rd_str(r, 2, GH__NAME_MAX, &d->name) < 0 || !gh__cf_name_valid(d->name))
    return dfail(err, errlen, GH_EPROTO, "bad destination name");
  d->file = gh__strdup(GH__PUSHED);
  d->pushed = 1;
  for (size_t j = 0; j < i; j++)
    if (strcmp(v[j].name, d->name) == 0)
      return dfail(err, errlen, GH_EINVAL, "destination %s given twice",
                   d->name);
  uint16_t nrec = gh__rd_u16(r);
  if (r->bad)
    return dfail(err, errlen, GH_EPROTO, "truncated");
  if (nrec > GH__PUSH_RECORDS_MAX - *records)
    return dfail(err, errlen, GH_EPROTO, "more than %u keys in the set",
                 GH__PUSH_RECORDS_MAX);
  *records += nrec;
  for (uint32_t k = 0; k < nrec; k++) {
    int rc = rd_record(r, d, err, errlen);
    if (rc < 0)
      return rc;
  }
  if (gh__cf_dest_finish(d, &idx, reason, sizeof(reason)) < 0)
    return dfail(err, errlen, GH_EINVAL, "%s", reason);
  return 0;
}

int gh__dests_decode(const uint8_t *p, size_t len, gh__dest **out, size_t *n,
                     char *err, size_t errlen) {
  gh__rd r = {p, len, 0};
  const uint8_t *magic;
  *out = NULL;
  *n = 0;
  if (!p || len > GH__DESTS_BYTES_MAX)
    return dfail(err, errlen, GH_EPROTO, "too large or missing");
  magic = gh__rd_take(&r, 3);
  uint8_t version = gh__rd_u8(&r);
  if (r.bad || memcmp(magic, GH__PUSH_MAGIC, 3) != 0)
    return dfail(err, errlen, GH_EPROTO, "not a destination set");
  if (version != GH__PUSH_VERSION)
    return dfail(err, errlen, GH_EPROTO, "unsupported version %u", version);
  uint32_t count = gh__rd_u32(&r);
  if (r.bad || count > GH__DESTS_MAX)
    return dfail(err, errlen, GH_EPROTO, "bad count of destinations");
  /* Each destination takes 4 bytes at least: allocate nothing more than
   * the input can justify. */
  if ((size_t)count * 4 > r.left)
    return dfail(err, errlen, GH_EPROTO, "truncated");
  gh__dest *v = gh__xcalloc(count ? count : 1, sizeof(*v));
  size_t i = 0;
  uint32_t records = 0;
  int rc = 0;
  while (i < count && rc == 0)
    rc = rd_dest(&r, v, i++, &records, err, errlen);
  if (rc == 0 && r.left)
    rc = dfail(err, errlen, GH_EPROTO, "%zu bytes after the last destination",
               r.left);
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
