/* A plugin's descriptor, checked before its init() runs: names, handlers,
 * their callbacks, and the options they declare. */
#include "plugin.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "plugin_int.h"
#include "words.h"

/* ------------------------------------------------------ the descriptor */

static int name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > GH__HANDLER_NAME_MAX)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0);
    if (!ok)
      return 0;
  }
  return 1;
}

static int option_name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > GH__OPTION_NAME_MAX)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return 0;
  }
  return 1;
}

/* A declared default is written as the configuration would be, the
 * boolean words in lower case. */
static int default_bool_ok(const char *s) {
  int b;
  for (const char *p = s; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      return 0;
  return gh__word_bool(s, &b) == 0;
}

/* A word of a GH_OPT_ENUM: what a configuration value can be written as,
 * blanks, quotes and separators excluded. */
static int choice_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > GH__OPTION_NAME_MAX)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '+' ||
          c == '-'))
      return 0;
  }
  return 1;
}

static int check_choices(const char *path, const gh_plugin *p,
                         const gh_handler *h, const gh_option *o, gh__why *w) {
  /* An older SDK has no such type: the plugin cannot mean it, and an older
   * core would refuse it anyway. */
  if (p->abi_minor < 2) {
    gh__why_set(w,
                "%s: handler \"%s\": option \"%s\" is GH_OPT_ENUM, which "
                "needs ABI 1.2; the plugin was built for ABI %u.%u",
                path, h->name, o->name, p->abi_major, p->abi_minor);
    return GH_EINVAL;
  }
  if (!o->choices || !o->choices[0]) {
    gh__why_set(w,
                "%s: handler \"%s\": option \"%s\": GH_OPT_ENUM without "
                "choices",
                path, h->name, o->name);
    return GH_EINVAL;
  }
  uint32_t n = 0;
  int def_found = o->def == NULL;
  for (; o->choices[n]; n++) {
    const char *c = o->choices[n];
    if (n == GH_OPT_CHOICES_MAX) {
      gh__why_set(w, "%s: handler \"%s\": option \"%s\": more than %d choices",
                  path, h->name, o->name, GH_OPT_CHOICES_MAX);
      return GH_EINVAL;
    }
    if (!choice_ok(c)) {
      gh__why_set(w,
                  "%s: handler \"%s\": option \"%s\": invalid choice "
                  "\"%.64s\" (must match [A-Za-z0-9._+-]{1,63})",
                  path, h->name, o->name, c);
      return GH_EINVAL;
    }
    for (uint32_t k = 0; k < n; k++)
      if (strcmp(o->choices[k], c) == 0) {
        gh__why_set(w,
                    "%s: handler \"%s\": option \"%s\": choice \"%s\" "
                    "is listed twice",
                    path, h->name, o->name, c);
        return GH_EINVAL;
      }
    if (o->def && strcmp(o->def, c) == 0)
      def_found = 1;
  }
  if (!def_found) {
    gh__why_set(w,
                "%s: handler \"%s\": option \"%s\": default \"%.64s\" is "
                "not one of its choices",
                path, h->name, o->name, o->def);
    return GH_EINVAL;
  }
  return 0;
}

static int check_option(const char *path, const gh_plugin *p,
                        const gh_handler *h, const gh_option *o, uint32_t i,
                        gh__why *w) {
  if (!o->name) {
    gh__why_set(w, "%s: handler \"%s\": option #%u has no name", path, h->name,
                i);
    return GH_EINVAL;
  }
  if (!option_name_ok(o->name)) {
    gh__why_set(w,
                "%s: handler \"%s\": invalid option name \"%.64s\" (must match "
                "[a-z0-9_-]{1,63})",
                path, h->name, o->name);
    return GH_EINVAL;
  }
  for (uint32_t j = 0; j < i; j++)
    if (h->options[j].name && strcmp(h->options[j].name, o->name) == 0) {
      gh__why_set(w, "%s: handler \"%s\": option \"%s\" is declared twice",
                  path, h->name, o->name);
      return GH_EINVAL;
    }
  if (o->type < GH_OPT_STRING || o->type > GH_OPT_ENUM) {
    gh__why_set(w, "%s: handler \"%s\": option \"%s\": unknown type %u", path,
                h->name, o->name, o->type);
    return GH_EINVAL;
  }
  if (o->flags & ~(uint32_t)(GH_OPT_MULTI | GH_OPT_REQUIRED)) {
    gh__why_set(w, "%s: handler \"%s\": option \"%s\": unknown flags 0x%x",
                path, h->name, o->name, o->flags);
    return GH_EINVAL;
  }
  if (o->type == GH_OPT_INT) {
    if (o->min > o->max) {
      gh__why_set(w,
                  "%s: handler \"%s\": option \"%s\": min %lld is greater than "
                  "max %lld",
                  path, h->name, o->name, (long long)o->min, (long long)o->max);
      return GH_EINVAL;
    }
    int64_t v;
    if (o->def && (gh__word_int(o->def, &v) < 0 || v < o->min || v > o->max)) {
      gh__why_set(w,
                  "%s: handler \"%s\": option \"%s\": default \"%.64s\" is not "
                  "an integer in [%lld, %lld]",
                  path, h->name, o->name, o->def, (long long)o->min,
                  (long long)o->max);
      return GH_EINVAL;
    }
  }
  if (o->type == GH_OPT_ENUM)
    return check_choices(path, p, h, o, w);
  if (o->type == GH_OPT_BOOL && o->def && !default_bool_ok(o->def)) {
    gh__why_set(w,
                "%s: handler \"%s\": option \"%s\": default \"%.64s\" is not "
                "a boolean",
                path, h->name, o->name, o->def);
    return GH_EINVAL;
  }
  return 0;
}

/* The mandatory callbacks, as listed in gatehouse.h on gh_handler. */
static void missing_callbacks(const gh_handler *h, char *out, size_t len) {
  struct cb {
    const char *name;
    int present;
  };
  const struct cb transport[] = {
      {"listen", h->listen != NULL},
      {"unlisten", h->unlisten != NULL},
      {"connect", h->connect != NULL},
      {"write", h->write != NULL},
      {"shutdown", h->shutdown != NULL},
      {"read_start", h->read_start != NULL},
      {"read_stop", h->read_stop != NULL},
      {"close", h->close != NULL},
  };
  const struct cb layer[] = {
      {"open", h->open != NULL},         {"up", h->up != NULL},
      {"down", h->down != NULL},         {"up_eof", h->up_eof != NULL},
      {"down_eof", h->down_eof != NULL}, {"close", h->close != NULL},
  };
  const struct cb *list = h->kind == GH_KIND_TRANSPORT ? transport : layer;
  size_t n = h->kind == GH_KIND_TRANSPORT ? sizeof(transport) / sizeof(*list)
                                          : sizeof(layer) / sizeof(*list);
  size_t used = 0;
  out[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    if (list[i].present)
      continue;
    int k = snprintf(out + used, len - used, "%s%s()", used ? ", " : "",
                     list[i].name);
    if (k < 0 || (size_t)k >= len - used)
      break;
    used += (size_t)k;
  }
}

/* A name another file declares: the conflict that stops a start. Both
 * files are named, and neither is chosen. */
static int taken(const gh__registry *r, const char *path, const char *what,
                 const char *name, gh__why *w) {
  int other_alias = 0;
  const char *owner = gh__registry_owner(r, name, strlen(name), &other_alias);
  if (!owner)
    return 0;
  gh__why_set(w,
              "%s: %s \"%s\" is already declared by %s%s: two plugin files "
              "declare one name (remove one, or rename its %s)",
              path, what, name, owner, other_alias ? " (an alias)" : "", what);
  return GH_EEXIST;
}

static int check_handler(const gh__registry *r, const char *path,
                         const gh_plugin *p, uint32_t i, gh__why *w) {
  const gh_handler *h = p->handlers[i];
  if (!h) {
    gh__why_set(w, "%s: handler #%u is NULL", path, i);
    return GH_EINVAL;
  }
  if (h->size < GH__HANDLER_SIZE_1_0) {
    gh__why_set(w, "%s: handler #%u: size %u is smaller than ABI 1.0's %zu",
                path, i, h->size, (size_t)GH__HANDLER_SIZE_1_0);
    return GH_EINVAL;
  }
  if (!h->name) {
    gh__why_set(w, "%s: handler #%u has no name", path, i);
    return GH_EINVAL;
  }
  if (!name_ok(h->name)) {
    gh__why_set(w,
                "%s: handler #%u: invalid name \"%.64s\" (must "
                "match " GH_HANDLER_NAME_RULE ")",
                path, i, h->name);
    return GH_EINVAL;
  }
  for (uint32_t j = 0; j < i; j++)
    if (strcmp(p->handlers[j]->name, h->name) == 0) {
      gh__why_set(w, "%s: handler \"%s\" is declared twice", path, h->name);
      return GH_EINVAL;
    }
  int rc = taken(r, path, "handler", h->name, w);
  if (rc < 0)
    return rc;
  if (h->kind != GH_KIND_TRANSPORT && h->kind != GH_KIND_LAYER) {
    gh__why_set(w, "%s: handler \"%s\": unknown kind %u", path, h->name,
                h->kind);
    return GH_EINVAL;
  }
  if (h->flags & ~(uint32_t)(GH_HANDLER_DGRAM | GH_HANDLER_UNIX)) {
    gh__why_set(w, "%s: handler \"%s\": unknown flags 0x%x", path, h->name,
                h->flags);
    return GH_EINVAL;
  }
  if ((h->flags & GH_HANDLER_DGRAM) && h->kind != GH_KIND_TRANSPORT) {
    gh__why_set(w, "%s: handler \"%s\": a layer cannot be GH_HANDLER_DGRAM",
                path, h->name);
    return GH_EINVAL;
  }
  if ((h->flags & GH_HANDLER_UNIX) &&
      (h->kind != GH_KIND_TRANSPORT || (h->flags & GH_HANDLER_DGRAM))) {
    gh__why_set(w,
                "%s: handler \"%s\": GH_HANDLER_UNIX is for a byte-stream "
                "transport",
                path, h->name);
    return GH_EINVAL;
  }
  char missing[160];
  missing_callbacks(h, missing, sizeof(missing));
  if (missing[0]) {
    gh__why_set(w, "%s: handler \"%s\" (%s) lacks %s", path, h->name,
                h->kind == GH_KIND_TRANSPORT ? "transport" : "layer", missing);
    return GH_EINVAL;
  }
  if (h->n_options > 0 && !h->options) {
    gh__why_set(w, "%s: handler \"%s\": n_options is %u but options is NULL",
                path, h->name, h->n_options);
    return GH_EINVAL;
  }
  for (uint32_t j = 0; j < h->n_options; j++) {
    rc = check_option(path, p, h, &h->options[j], j, w);
    if (rc < 0)
      return rc;
  }
  return 0;
}

uint32_t gh__plugin_n_aliases(const gh_plugin *p) {
  return p->size >= offsetof(gh_plugin, n_aliases) + sizeof(p->n_aliases)
             ? p->n_aliases
             : 0;
}

/* "tcp+tls+http": 1 to GH__CHAIN_MAX handler names joined by '+', no
 * blanks (a declaration is data, written once). */
static int chain_ok(const char *s) {
  size_t n = 0;
  for (const char *p = s;;) {
    const char *plus = strchr(p, '+');
    size_t len = plus ? (size_t)(plus - p) : strlen(p);
    char name[GH__HANDLER_NAME_MAX + 1];
    if (len == 0 || len > GH__HANDLER_NAME_MAX || ++n > GH__CHAIN_MAX)
      return 0;
    memcpy(name, p, len);
    name[len] = '\0';
    if (!name_ok(name))
      return 0;
    if (!plus)
      return 1;
    p = plus + 1;
  }
}

static int check_alias(const gh__registry *r, const char *path,
                       const gh_plugin *p, uint32_t i, gh__why *w) {
  const gh_alias *a = &p->aliases[i];
  if (!a->name || !name_ok(a->name)) {
    gh__why_set(w,
                "%s: alias #%u: invalid name \"%.64s\" (must match "
                "[a-z0-9][a-z0-9-]{0,31})",
                path, i, a->name ? a->name : "(null)");
    return GH_EINVAL;
  }
  if (!a->chain || !chain_ok(a->chain)) {
    gh__why_set(w,
                "%s: alias \"%s\": invalid chain \"%.64s\" (handler names "
                "joined by '+', at most %d)",
                path, a->name, a->chain ? a->chain : "(null)", GH__CHAIN_MAX);
    return GH_EINVAL;
  }
  for (uint32_t j = 0; j < i; j++)
    if (strcmp(p->aliases[j].name, a->name) == 0) {
      gh__why_set(w, "%s: alias \"%s\" is declared twice", path, a->name);
      return GH_EINVAL;
    }
  /* Its own layer may share the name: alone, a layer makes no chain. */
  for (uint32_t j = 0; j < p->n_handlers; j++)
    if (strcmp(p->handlers[j]->name, a->name) == 0 &&
        p->handlers[j]->kind != GH_KIND_LAYER) {
      gh__why_set(w, "%s: alias \"%s\" would hide the transport of that name",
                  path, a->name);
      return GH_EINVAL;
    }
  return taken(r, path, "alias", a->name, w);
}

void gh__plugin_desc_names(const gh_plugin *p, char *out, size_t len) {
  size_t used = 0;
  out[0] = '\0';
  if (p->abi_major != GH_ABI_MAJOR || p->size < GH__PLUGIN_SIZE_1_0 ||
      !p->handlers || p->n_handlers > GH__PLUGIN_HANDLERS_MAX)
    return;
  for (uint32_t i = 0; i < p->n_handlers; i++) {
    const gh_handler *h = p->handlers[i];
    if (!h || h->size < GH__HANDLER_SIZE_1_0 || !h->name || !name_ok(h->name))
      continue;
    int k = snprintf(out + used, len - used, "%s ", h->name);
    if (k < 0 || (size_t)k >= len - used)
      return;
    used += (size_t)k;
  }
  if (!gh__plugin_n_aliases(p) || !p->aliases ||
      p->n_aliases > GH__PLUGIN_ALIASES_MAX)
    return;
  for (uint32_t i = 0; i < p->n_aliases; i++) {
    const char *a = p->aliases[i].name;
    if (!a || !name_ok(a))
      continue;
    int k = snprintf(out + used, len - used, "%s ", a);
    if (k < 0 || (size_t)k >= len - used)
      return;
    used += (size_t)k;
  }
}

/* Reads only the four members that never move until the version is known
 * to be one whose layout this core understands. */
int gh__plugin_desc_check(const gh__registry *r, const char *path,
                          const gh_plugin *p, gh__why *w) {
  if (p->abi_major != GH_ABI_MAJOR) {
    gh__why_set(w, "%s: built for ABI %u.%u, this core speaks %d.%d", path,
                p->abi_major, p->abi_minor, GH_ABI_MAJOR, GH_ABI_MINOR);
    return GH_ENOTSUP;
  }
  if (p->abi_minor > GH_ABI_MINOR) {
    gh__why_set(w, "%s: needs ABI %u.%u, this core has %d.%d", path,
                p->abi_major, p->abi_minor, GH_ABI_MAJOR, GH_ABI_MINOR);
    return GH_ENOTSUP;
  }
  if (p->size < GH__PLUGIN_SIZE_1_0) {
    gh__why_set(w, "%s: descriptor size %u is smaller than ABI 1.0's %zu", path,
                p->size, (size_t)GH__PLUGIN_SIZE_1_0);
    return GH_EINVAL;
  }
  const char *lacks = !p->name       ? "a name"
                      : !p->version  ? "a version"
                      : !p->handlers ? "handlers"
                      : !p->init     ? "init()"
                                     : NULL;
  if (lacks) {
    gh__why_set(w, "%s: descriptor lacks %s", path, lacks);
    return GH_EINVAL;
  }
  if (p->n_handlers == 0 || p->n_handlers > GH__PLUGIN_HANDLERS_MAX) {
    gh__why_set(w, "%s: declares %u handlers (1 to %d allowed)", path,
                p->n_handlers, GH__PLUGIN_HANDLERS_MAX);
    return GH_EINVAL;
  }
  for (uint32_t i = 0; i < p->n_handlers; i++) {
    int rc = check_handler(r, path, p, i, w);
    if (rc < 0)
      return rc;
  }
  if (!gh__plugin_n_aliases(p))
    return 0;
  if (!p->aliases || p->n_aliases > GH__PLUGIN_ALIASES_MAX) {
    if (p->aliases)
      gh__why_set(w, "%s: declares %u aliases (at most %d)", path, p->n_aliases,
                  GH__PLUGIN_ALIASES_MAX);
    else
      gh__why_set(w, "%s: n_aliases is %u but aliases is NULL", path,
                  p->n_aliases);
    return GH_EINVAL;
  }
  for (uint32_t i = 0; i < p->n_aliases; i++) {
    int rc = check_alias(r, path, p, i, w);
    if (rc < 0)
      return rc;
  }
  return 0;
}
