/* Finding names in the registry: handlers and aliases, the file that
 * declares a name (and so two files that do), the refused file that would
 * have; protocol chains ("tcp+tls+http", or an alias); declared options. */
#include "plugin.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "plugin_int.h"
#include "words.h"

const gh_handler *gh__registry_find(const gh__registry *r, const char *name) {
  for (size_t i = 0; i < r->n_handlers; i++)
    if (strcmp(r->handlers[i]->name, name) == 0)
      return r->handlers[i];
  return NULL;
}

static int name_is(const char *s, const char *name, size_t len) {
  return strlen(s) == len && memcmp(s, name, len) == 0;
}

static const gh_alias *alias_n(const gh__registry *r, const char *name,
                               size_t len) {
  for (size_t i = 0; i < r->n_aliases; i++)
    if (name_is(r->aliases[i]->name, name, len))
      return r->aliases[i];
  return NULL;
}

const gh_alias *gh__registry_alias(const gh__registry *r, const char *name) {
  return alias_n(r, name, strlen(name));
}

const char *gh__registry_owner(const gh__registry *r, const char *name,
                               size_t len, int *is_alias) {
  for (size_t i = 0; i < r->n_plugins; i++) {
    const gh_plugin *p = r->plugins[i].desc;
    if (!p)
      continue;
    for (uint32_t j = 0; j < p->n_handlers; j++)
      if (name_is(p->handlers[j]->name, name, len)) {
        if (is_alias)
          *is_alias = 0;
        return r->plugins[i].path;
      }
    for (uint32_t j = 0; j < gh__plugin_n_aliases(p); j++)
      if (name_is(p->aliases[j].name, name, len)) {
        if (is_alias)
          *is_alias = 1;
        return r->plugins[i].path;
      }
  }
  return NULL;
}

int gh__registry_conflict(const gh__registry *r, char *err, size_t errlen) {
  for (size_t i = 0; i < r->n_plugins; i++)
    if (r->plugins[i].conflict) {
      if (err && errlen)
        snprintf(err, errlen, "%s", r->plugins[i].refused);
      return GH_EEXIST;
    }
  return 0;
}

/* "NAME.so" as the last component of path. */
static int file_is(const char *path, const char *name, size_t len) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  return strlen(base) == len + 3 && memcmp(base, name, len) == 0 &&
         strcmp(base + len, ".so") == 0;
}

/* names: "a b c " */
static int names_have(const char *names, const char *name, size_t len) {
  for (const char *p = names; p && *p;) {
    const char *sp = strchr(p, ' ');
    size_t n = sp ? (size_t)(sp - p) : strlen(p);
    if (n == len && memcmp(p, name, len) == 0)
      return 1;
    p = sp ? sp + 1 : p + n;
  }
  return 0;
}

const gh__plugin_ent *gh__registry_refused_for(const gh__registry *r,
                                               const char *name, size_t len) {
  for (int by_file = 0; by_file < 2; by_file++)
    for (size_t i = 0; i < r->n_plugins; i++) {
      const gh__plugin_ent *e = &r->plugins[i];
      if (!e->refused || e->conflict)
        continue;
      if (by_file ? file_is(e->path, name, len)
                  : names_have(e->names, name, len))
        return e;
    }
  return NULL;
}

/* --------------------------------------------------------------- chains */

static int is_blank(char c) {
  return c == ' ' || c == '\t';
}

static const gh_handler *find_n(const gh__registry *r, const char *name,
                                size_t len) {
  for (size_t i = 0; i < r->n_handlers; i++)
    if (name_is(r->handlers[i]->name, name, len))
      return r->handlers[i];
  return NULL;
}

static void known_list(const gh__registry *r, char *out, size_t len) {
  size_t used = 0;
  out[0] = '\0';
  if (r->n_handlers == 0) {
    snprintf(out, len, "no handlers are loaded");
    return;
  }
  for (size_t i = 0; i < r->n_handlers; i++) {
    int k = snprintf(out + used, len - used, "%s%s",
                     i ? ", " : "known: ", r->handlers[i]->name);
    if (k < 0 || (size_t)k >= len - used)
      break;
    used += (size_t)k;
  }
}

GH_PRINTF(3, 4)
static int chain_err(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return GH_EINVAL;
}

/* A handler that is not loaded: its file's refusal when one was refused,
 * else the names that are known. */
static int unknown(const gh__registry *r, const char *name, size_t len,
                   const char *alias, const char *chain, char *err,
                   size_t errlen) {
  char needed[160] = "";
  if (alias)
    snprintf(needed, sizeof(needed), "needed by %s = %s", alias, chain);
  const gh__plugin_ent *e = gh__registry_refused_for(r, name, len);
  if (e) {
    /* The reason starts with the path: "PATH: why". */
    size_t plen = strlen(e->path);
    const char *why = e->refused;
    if (strncmp(why, e->path, plen) == 0 && strncmp(why + plen, ": ", 2) == 0)
      why += plen + 2;
    chain_err(err, errlen, "handler \"%.*s\": %s was refused: %s%s%s%s",
              (int)len, name, e->path, why, alias ? " (" : "", needed,
              alias ? ")" : "");
    return GH_ENOENT;
  }
  char known[512];
  known_list(r, known, sizeof(known));
  chain_err(err, errlen, "unknown protocol handler \"%.*s\" (%s%s%s)", (int)len,
            name, needed, alias ? "; " : "", known);
  return GH_ENOENT;
}

int gh__chain_parse(const gh__registry *r, const char *spec, gh__chain *out,
                    char *err, size_t errlen) {
  out->n = 0;
  if (!spec)
    return chain_err(err, errlen, "no protocol given");
  const char *b = spec, *e = spec + strlen(spec);
  while (b < e && is_blank(*b))
    b++;
  while (e > b && is_blank(e[-1]))
    e--;
  if (b == e)
    return chain_err(err, errlen, "empty protocol");

  /* The spec as written, for messages; and the chain it stands for. */
  const char *shown = spec;
  const char *alias = NULL;
  const gh_alias *a = alias_n(r, b, (size_t)(e - b));
  if (a) {
    alias = a->name;
    b = a->chain;
    e = b + strlen(b);
  }

  gh__chain c = {{NULL}, 0};
  for (const char *p = b; p <= e;) {
    const char *plus = memchr(p, '+', (size_t)(e - p));
    const char *end = plus ? plus : e;
    const char *nb = p, *ne = end;
    while (nb < ne && is_blank(*nb))
      nb++;
    while (ne > nb && is_blank(ne[-1]))
      ne--;
    int len = (int)(ne - nb);
    if (len == 0)
      return chain_err(err, errlen, "empty handler name in protocol \"%s\"",
                       shown);
    if (c.n == GH__CHAIN_MAX)
      return chain_err(err, errlen,
                       "protocol \"%s\" chains more than %d handlers", shown,
                       GH__CHAIN_MAX);
    const gh_handler *h = find_n(r, nb, (size_t)len);
    if (!h)
      return unknown(r, nb, (size_t)len, alias, alias ? b : NULL, err, errlen);
    for (size_t i = 0; i < c.n; i++)
      if (c.h[i] == h)
        return chain_err(err, errlen,
                         "handler \"%s\" appears twice in protocol \"%s\"",
                         h->name, shown);
    if (c.n == 0 && h->kind != GH_KIND_TRANSPORT)
      return chain_err(err, errlen,
                       "protocol \"%s\" starts with \"%s\", a layer: a chain "
                       "starts with a transport (e.g. tcp+%s)",
                       shown, h->name, h->name);
    if (c.n > 0 && h->kind != GH_KIND_LAYER)
      return chain_err(err, errlen,
                       "protocol \"%s\": \"%s\" is a transport; only the "
                       "first handler of a chain may be one",
                       shown, h->name);
    if (c.n == 1 && (c.h[0]->flags & GH_HANDLER_DGRAM))
      return chain_err(err, errlen,
                       "protocol \"%s\": \"%s\" carries datagrams and takes "
                       "no layers",
                       shown, c.h[0]->name);
    c.h[c.n++] = h;
    if (!plus)
      break;
    p = plus + 1;
  }
  *out = c;
  return 0;
}

const char *gh__chain_canonical(const gh__registry *r, const char *spec,
                                char *buf, size_t len) {
  size_t n = 0;
  if (len == 0)
    return buf;
  const char *b = spec ? spec : "", *e = b + strlen(b);
  while (b < e && is_blank(*b))
    b++;
  while (e > b && is_blank(e[-1]))
    e--;
  const gh_alias *a = r ? alias_n(r, b, (size_t)(e - b)) : NULL;
  if (a) {
    b = a->chain;
    e = b + strlen(b);
  }
  for (; b < e && n + 1 < len; b++)
    if (!is_blank(*b))
      buf[n++] = *b;
  buf[n] = 0;
  return buf;
}

const gh_option *gh__handler_option(const gh_handler *h, const char *name) {
  if (!h->options || !name)
    return NULL;
  for (uint32_t i = 0; i < h->n_options; i++)
    if (h->options[i].name && strcmp(h->options[i].name, name) == 0)
      return &h->options[i];
  return NULL;
}

const char *gh__opt_type_name(uint32_t type) {
  switch (type) {
  case GH_OPT_STRING:
    return "string";
  case GH_OPT_INT:
    return "int";
  case GH_OPT_BOOL:
    return "bool";
  case GH_OPT_FILE:
    return "file";
  case GH_OPT_ENUM:
    return "enum";
  default:
    return "?";
  }
}

const char *gh__opt_choices(const gh_option *o, const char *sep, char *buf,
                            size_t len) {
  size_t used = 0;
  if (!len)
    return buf;
  buf[0] = '\0';
  if (o->type != GH_OPT_ENUM || !o->choices)
    return buf;
  for (size_t i = 0; o->choices[i]; i++) {
    int k =
        snprintf(buf + used, len - used, "%s%s", i ? sep : "", o->choices[i]);
    if (k < 0 || (size_t)k >= len - used) {
      buf[used] = '\0'; /* whole words only */
      break;
    }
    used += (size_t)k;
  }
  return buf;
}
