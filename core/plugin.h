/* The plugin loader and the registry of handlers.
 *
 * Each file of a plugin directory ending in ".so" is opened with
 * dlopen(RTLD_NOW | RTLD_LOCAL). Before anything of the plugin runs but its
 * entry function, the descriptor is checked: ABI major equal to the core's,
 * minor not newer, sizes large enough, handler kinds known, mandatory
 * callbacks present, handler names well-formed and unique across every
 * plugin loaded. Only then is init() called. Any failure refuses the file
 * with a reason naming it, dlclose()s it, and loading goes on. */
#ifndef GH_PLUGIN_H
#define GH_PLUGIN_H

#include <stddef.h>

#include "gatehouse/gatehouse.h"

typedef struct gh__plugin_ent {
  char *path;             /* the file */
  void *dl;               /* dlopen handle; NULL when refused */
  const gh_plugin *desc;  /* NULL when refused */
  char *refused;          /* the reason, when refused; NULL otherwise */
} gh__plugin_ent;

typedef struct gh__registry {
  gh__plugin_ent *plugins; /* loaded and refused files, in load order */
  size_t n_plugins;
  const gh_handler **handlers; /* of the loaded plugins */
  size_t n_handlers;
  const gh_host *host;
} gh__registry;

/* Empty registry; plugins' init() will receive `host`. */
void gh__registry_init(gh__registry *r, const gh_host *host);

/* Loads every "*.so" of dir in name order. Refused files are kept with
 * their reason (and logged as warnings). Returns the number loaded, or
 * -errno if the directory cannot be read. */
int gh__registry_load_dir(gh__registry *r, const char *dir);

/* Loads one file. Returns 0, or a negative code with the reason (which
 * names the file) in err. A refused file is also recorded in r. */
int gh__registry_load_file(gh__registry *r, const char *path, char *err,
                           size_t errlen);

const gh_handler *gh__registry_find(const gh__registry *r, const char *name);

/* Calls fini() and dlclose()s every loaded plugin; frees everything. */
void gh__registry_free(gh__registry *r);

/* A side's protocol chain, resolved: handlers[0] is the transport.
 * Aliases: tls = tcp+tls, http = tcp+http, https = tcp+tls+http. */
#define GH__CHAIN_MAX 8
typedef struct gh__chain {
  const gh_handler *h[GH__CHAIN_MAX];
  size_t n;
} gh__chain;

/* Parses "tcp+tls+http" (or an alias). The first handler must be a
 * transport and the rest layers; a datagram transport takes no layers.
 * Returns 0 or GH_EINVAL with the reason in err. */
int gh__chain_parse(const gh__registry *r, const char *spec, gh__chain *out,
                    char *err, size_t errlen);

/* Finds an option declaration of handler h; NULL if it has none by name. */
const gh_option *gh__handler_option(const gh_handler *h, const char *name);

#endif
