/* Checks of a destination against the plugin registry: its chains, its
 * handler options (names, types, bounds, required ones) and file
 * options read into their blobs. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "../util.h"
#include "../words.h"
#include "validate.h"

/* ----------------------------------------------------------- validation */

static int vfail(const gh__dest *d, int line, char *err, size_t errlen,
                 const char *fmt, ...) GH_PRINTF(5, 6);
static int vfail(const gh__dest *d, int line, char *err, size_t errlen,
                 const char *fmt, ...) {
  char msg[768];
  va_list ap;
  if (!err || !errlen)
    return GH_EINVAL;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  /* At a key's line the key says enough; elsewhere name the destination.
   * A pushed one has no file here: it stands where the file would. */
  if (d->pushed || !d->file)
    snprintf(err, errlen, "destination %s (pushed): %s", d->name, msg);
  else if (line > 0)
    snprintf(err, errlen, "%s:%d: %s", d->file, line, msg);
  else if (d->line > 0)
    snprintf(err, errlen, "%s:%d: destination %s: %s", d->file, d->line,
             d->name, msg);
  else
    snprintf(err, errlen, "%s: destination %s: %s", d->file, d->name, msg);
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

const char *gh__cf_side_name(uint32_t side) {
  return side == GH_SIDE_LISTEN ? "listen" : "resource";
}

const gh__chain *gh__cf_dest_chain(const gh__dest *d, uint32_t side) {
  return side == GH_SIDE_LISTEN ? &d->listen_chain : &d->resource_chain;
}

static const char *dest_proto(const gh__dest *d, uint32_t side) {
  const char *s = side == GH_SIDE_LISTEN ? d->listen_proto : d->resource_proto;
  return s ? s : "tcp";
}

const gh_handler *gh__cf_chain_find(const gh__chain *c, const char *name) {
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
  int rc = gh__chain_parse(reg, dest_proto(d, side), c, reason, sizeof(reason));
  if (rc < 0) {
    c->n = 0;
    /* The server's own file names handlers of the side its client runs
     * too: it checks their options, so it needs their plugins. */
    uint32_t clients =
        d->type == GH__DEST_CLOUD ? GH_SIDE_LISTEN : GH_SIDE_RESOURCE;
    int hint = !d->pushed && side == clients && rc == GH_ENOENT &&
               strncmp(reason, "unknown ", 8) == 0;
    return vfail(d, d->key_line[idx], err, errlen, "%s protocol '%s': %s%s",
                 gh__cf_side_name(side), dest_proto(d, side), reason,
                 hint ? "; the client runs this side, and the server checks "
                        "it too: install the plugin on both machines"
                      : "");
  }
  return 0;
}

/* A side's address and its transport agree: a socket path for a
 * GH_HANDLER_UNIX transport, HOST:PORT for the others. */
static int unix_side_check(const gh__dest *d, uint32_t side, char *err,
                           size_t errlen) {
  const gh__chain *c = gh__cf_dest_chain(d, side);
  int path = side == GH_SIDE_LISTEN ? d->listen_unix : d->resource_unix;
  int takes = c->n > 0 && (c->h[0]->flags & GH_HANDLER_UNIX);
  int idx = side == GH_SIDE_LISTEN ? GH__DK_LISTEN : GH__DK_RESOURCE;
  if (path == takes)
    return 0;
  const char *key = gh__cf_side_name(side);
  if (path)
    return vfail(d, d->key_line[idx], err, errlen,
                 "%s = unix:%s needs a transport for socket paths (%s."
                 "protocol = unix, or unix+LAYERS), not %s",
                 key,
                 side == GH_SIDE_LISTEN ? d->listen_host : d->resource_host,
                 key, c->n > 0 ? c->h[0]->name : "?");
  return vfail(d, d->key_line[idx], err, errlen,
               "transport %s takes a socket path: write %s = unix:/PATH",
               c->h[0]->name, key);
}

static int is_dgram(const gh__chain *c) {
  return c->n > 0 && (c->h[0]->flags & GH_HANDLER_DGRAM);
}

static int opt_file_read(const gh__dest *d, gh__kv *kv, char *err,
                         size_t errlen) {
  char *dir = gh__cf_path_dir(kv->file ? kv->file : d->file);
  char *path = gh__cf_path_resolve(dir, kv->value);
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = gh__file_read(path, &buf, &len);
  if (rc < 0)
    kvfail(d, kv, err, errlen, "%s: cannot read '%s': %s", kv->key, path,
           strerror(-rc));
  else if (gh__cf_secret_option(kv->key) && !kv->file && !d->pushed)
    /* the server's own file; a client's own: secrets_check */
    gh__cf_secret_mode_check(d->file, kv->line, kv->key, path);
  free(dir);
  free(path);
  if (rc < 0)
    return GH_EINVAL;
  kv->blob = buf;
  kv->blob_len = len;
  return 0;
}

/* The value is one of the option's choices, compared exactly. */
static int opt_enum_check(const gh__dest *d, const gh__kv *kv,
                          const gh_option *o, char *err, size_t errlen) {
  for (size_t i = 0; o->choices && o->choices[i]; i++)
    if (strcmp(kv->value, o->choices[i]) == 0)
      return 0;
  char list[512];
  gh__opt_choices(o, ", ", list, sizeof(list));
  if (d->pushed && !kv->file) /* vfail names the destination */
    return vfail(d, 0, err, errlen, "%s = \"%.64s\": expected one of %s",
                 kv->key, kv->value, list);
  return kvfail(d, kv, err, errlen,
                "destination %s: %s = \"%.64s\": expected one of %s", d->name,
                kv->key, kv->value, list);
}

static int opt_value_check(const gh__dest *d, gh__kv *kv, const gh_option *o,
                           char *err, size_t errlen) {
  int64_t x;
  int b;
  switch (o->type) {
  case GH_OPT_ENUM:
    return opt_enum_check(d, kv, o, err, errlen);
  case GH_OPT_STRING:
    return 0;
  case GH_OPT_INT:
    /* min == max == 0: the plugin set no bounds */
    if (gh__word_int(kv->value, &x) < 0 ||
        ((o->min || o->max) && (x < o->min || x > o->max)))
      return kvfail(d, kv, err, errlen,
                    "%s must be a whole number from %lld to %lld", kv->key,
                    (long long)o->min, (long long)o->max);
    return 0;
  case GH_OPT_BOOL:
    if (gh__word_bool(kv->value, &b) < 0)
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
  if (gh__cf_opt_key_split(kv->key, &side, hname, sizeof(hname), &oname) < 0)
    return kvfail(d, kv, err, errlen, "unknown key '%s'", kv->key);
  if (side && !(side & sides))
    return 0; /* pushed: the server's side, not run here */
  const gh_handler *h = NULL;
  for (uint32_t s = GH_SIDE_LISTEN; s <= GH_SIDE_RESOURCE && !h; s <<= 1)
    if ((side ? side : sides) & s)
      h = gh__cf_chain_find(gh__cf_dest_chain(d, s), hname);
  if (!h && d->pushed && !side)
    return 0; /* meant for the server's side */
  if (!h && side)
    return kvfail(d, kv, err, errlen,
                  "option '%s': handler %s is not in the %s chain (%s)",
                  kv->key, hname, gh__cf_side_name(side), dest_proto(d, side));
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
  if (gh__cf_opt_key_split(kv->key, &s, h, sizeof(h), &o) < 0)
    return 0;
  return (s == 0 || s == side) && strcmp(h, hname) == 0 &&
         strcmp(o, oname) == 0;
}

/* Each declared option of each handler of a side: given at most once
 * unless MULTI, and given when REQUIRED. */
static int opt_counts(const gh__dest *d, uint32_t side, char *err,
                      size_t errlen) {
  const gh__chain *c = gh__cf_dest_chain(d, side);
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
                        h->name, o->name, gh__cf_side_name(side), first);
      }
      if (!count && (o->flags & GH_OPT_REQUIRED))
        return vfail(d, 0, err, errlen,
                     "the %s side's handler %s needs %s.%s.%s",
                     gh__cf_side_name(side), h->name, gh__cf_side_name(side),
                     h->name, o->name);
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
  for (uint32_t s = GH_SIDE_LISTEN; s <= GH_SIDE_RESOURCE; s <<= 1)
    if ((sides & s) && unix_side_check(d, s, err, errlen) < 0)
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
