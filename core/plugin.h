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
  char *path;            /* the file */
  void *dl;              /* dlopen handle; NULL when refused */
  const gh_plugin *desc; /* NULL when refused */
  char *refused;         /* the reason, when refused; NULL otherwise */
} gh__plugin_ent;

typedef struct gh__registry {
  gh__plugin_ent *plugins; /* loaded and refused files, in load order */
  size_t n_plugins;
  const gh_handler **handlers; /* of the loaded plugins */
  size_t n_handlers;
  const gh_host *host;
  char *dir_refused; /* "plugin_dir DIR: refused: why", or NULL */
} gh__registry;

/* Empty registry; plugins' init() will receive `host`. */
void gh__registry_init(gh__registry *r, const gh_host *host);

/* Loads every "*.so" of dir in name order. Refused files are kept with
 * their reason (and logged as warnings). Returns the number loaded, or
 * -errno if the directory cannot be read, or GH_EPERM (with the reason in
 * r->dir_refused, logged as an error) if gh__plugin_path_check() refuses
 * it: then nothing of it is opened. */
int gh__registry_load_dir(gh__registry *r, const char *dir);

/* Plugins run as the process (root before the privilege drop): 0 when
 * only root or the running user can change what path names, else a
 * negative code and the reason in `reason` (e.g. "/opt/x is writable by
 * group (mode 0775)"). Every directory from / down and the entry itself
 * must be owned by root or the running user (geteuid()) and be writable by
 * neither group nor others; symbolic links are followed and their targets
 * checked the same way. A sticky directory (/tmp) writable by others is
 * accepted on the way down, never as the entry itself: its other users
 * cannot rename or remove the entry below it, which is checked too. */
int gh__plugin_path_check(const char *path, char *reason, size_t len);

/* What the loader checks, in this order (the first failure is the reason):
 *   - the file is a regular file that only root or the running user can
 *     change (gh__plugin_path_check), whose first bytes are an ELF shared
 * object header (checked before dlopen(), which runs the file's constructors);
 *   - dlopen() succeeds; a path without '/' is taken as "./path", never
 *     searched for in the library path;
 *   - gh_plugin_entry is exported and returns non-NULL;
 *   - abi_major == GH_ABI_MAJOR, abi_minor <= GH_ABI_MINOR, and size at
 *     least GH__PLUGIN_SIZE_1_0 (members after those are read only when
 *     `size` covers them);
 *   - name, version, handlers and init are set; 1 <= n_handlers <=
 *     GH__PLUGIN_HANDLERS_MAX;
 *   - each handler: not NULL, size >= GH__HANDLER_SIZE_1_0, name matching
 *     GH_HANDLER_NAME_RULE ([a-z0-9][a-z0-9-]{0,31}), unique within the plugin
 * and among every handler already loaded, kind known, flags known
 * (GH_HANDLER_DGRAM on transports only), every mandatory callback of its kind
 * present;
 *   - each option: options not NULL when n_options > 0, name of
 *     [a-z0-9_-]{1,63} and unique within the handler, type and flags known,
 *     min <= max for GH_OPT_INT, a default that parses as its type (and is
 *     within [min, max]).
 * Then init(host) runs; a failure (or a positive return, which is reserved)
 * refuses the file too. The returned code
 * is -errno for a file that cannot be read, GH_ENOTSUP for an ABI mismatch,
 * GH_EEXIST for a handler name already loaded, init()'s negative code when
 * it fails, GH_EINVAL otherwise. err may be NULL. */
#define GH__PLUGIN_HANDLERS_MAX 64
#define GH__HANDLER_NAME_MAX GH_HANDLER_NAME_MAX
#define GH__OPTION_NAME_MAX 63
/* The sizes of the descriptors of ABI 1.0: a plugin's `size` may not be
 * smaller. */
#define GH__PLUGIN_SIZE_1_0 (offsetof(gh_plugin, fini) + sizeof(void (*)(void)))
#define GH__HANDLER_SIZE_1_0                                                   \
  (offsetof(gh_handler, down_eof) + sizeof(void (*)(gh_link *)))

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
/* Names are separated by '+' with optional blanks around them. An alias is
 * expanded only when it is the whole spec ("tls"); inside a chain every name
 * is a handler ("tcp+tls"). A handler may appear once per chain (its
 * options are keyed SIDE.HANDLER.KEY), and a chain has at most
 * GH__CHAIN_MAX handlers. On failure out->n is 0. */
int gh__chain_parse(const gh__registry *r, const char *spec, gh__chain *out,
                    char *err, size_t errlen);

/* The chain a spec stands for, aliases expanded and blanks removed
 * ("https" -> "tcp+tls+http", "tcp + tls" -> "tcp+tls"), without looking
 * the handlers up. Writes at most len bytes (NUL included); returns buf. */
const char *gh__chain_canonical(const char *spec, char *buf, size_t len);

/* Finds an option declaration of handler h; NULL if it has none by name. */
const gh_option *gh__handler_option(const gh_handler *h, const char *name);

/* "string", "int", "bool", "file" or "enum": an option type (GH_OPT_*) in
 * words, as `gatehouse plugins` and the reference print it. */
const char *gh__opt_type_name(uint32_t type);

/* The choices of a GH_OPT_ENUM option joined by sep ("upper, rot13"), as
 * many whole words as fit len; "" for another type. Returns buf. */
const char *gh__opt_choices(const gh_option *o, const char *sep, char *buf,
                            size_t len);

#endif
