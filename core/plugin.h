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
  /* Refused: the handler and alias names its descriptor declares, each
   * followed by a space, when the descriptor could be read that far; NULL
   * otherwise. A configuration that names one is told of the refusal. */
  char *names;
  int conflict; /* refused: it declares a name another file declares */
  unsigned long long dev, ino; /* loaded: the file, to skip it seen twice */
} gh__plugin_ent;

typedef struct gh__registry {
  gh__plugin_ent *plugins; /* loaded and refused files, in load order */
  size_t n_plugins;
  const gh_handler **handlers; /* of the loaded plugins */
  size_t n_handlers;
  const gh_alias **aliases; /* of the loaded plugins */
  size_t n_aliases;
  const gh_host *host;
  char *dir_refused; /* "plugin_dir DIR: refused: why", or NULL */
} gh__registry;

/* Empty registry; plugins' init() will receive `host`. */
void gh__registry_init(gh__registry *r, const gh_host *host);

/* Loads every "*.so" of dir in name order. Refused files are kept with
 * their reason (and logged as warnings). A file already loaded (the same
 * file reached again through another directory or a link) is skipped.
 * Several directories are loaded by calling this for each, in order: a name
 * declared in two files refuses the later one as a conflict, which
 * gh__registry_conflict() reports. Returns the number loaded, or
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
 *     GH_HANDLER_NAME_RULE ([a-z0-9][a-z0-9-]{0,31}),
 *     unique within the plugin and among every
 *     handler and alias already loaded (else a conflict, GH_EEXIST), kind
 *     known, flags known (GH_HANDLER_DGRAM on transports only), every
 *     mandatory callback of its kind present;
 *   - each alias (when `size` covers them): aliases not NULL when
 *     n_aliases > 0, at most GH__PLUGIN_ALIASES_MAX, a name of the handler
 *     rule, unique within the plugin (the plugin's own layer of that name
 *     excepted) and among every handler and alias already loaded (else a
 *     conflict), a chain of 1 to GH__CHAIN_MAX well-formed handler names;
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
#define GH__PLUGIN_ALIASES_MAX 64
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

/* How many aliases a descriptor declares that the core reads: 0 when its
 * `size` does not cover them (a plugin of ABI 1.0 or 1.1). */
uint32_t gh__plugin_n_aliases(const gh_plugin *p);

/* The alias of that name among the loaded plugins', or NULL. */
const gh_alias *gh__registry_alias(const gh__registry *r, const char *name);

/* The file of the loaded plugin that declares `name` (len bytes) as a
 * handler or an alias, or NULL; *is_alias tells which (may be NULL). */
const char *gh__registry_owner(const gh__registry *r, const char *name,
                               size_t len, int *is_alias);

/* Two files declare one name: GH_EEXIST with the first such refusal (which
 * names both files) in err; else 0. A start and `check` stop on it: one of
 * the two would otherwise be chosen by the order of the files. */
int gh__registry_conflict(const gh__registry *r, char *err, size_t errlen);

/* The refused file that would have provided handler or alias `name` (len
 * bytes): one whose descriptor declares it, or else one named NAME.so; not
 * a conflict. NULL if none. */
const gh__plugin_ent *gh__registry_refused_for(const gh__registry *r,
                                               const char *name, size_t len);

/* Calls fini() and dlclose()s every loaded plugin; frees everything. */
void gh__registry_free(gh__registry *r);

/* A side's protocol chain, resolved: handlers[0] is the transport.
 * Aliases are the plugins' (gh_plugin.aliases): the shipped ones declare
 * tls = tcp+tls (tls.so), http = tcp+http and https = tcp+tls+http
 * (http.so). */
#define GH__CHAIN_MAX 8
typedef struct gh__chain {
  const gh_handler *h[GH__CHAIN_MAX];
  size_t n;
} gh__chain;

/* Parses "tcp+tls+http" (or an alias). The first handler must be a
 * transport and the rest layers; a datagram transport takes no layers.
 * Returns 0, GH_ENOENT for a handler that is not loaded (the reason names
 * its refused file when one was refused), or GH_EINVAL, with the reason in
 * err. */
/* Names are separated by '+' with optional blanks around them. An alias is
 * expanded only when it is the whole spec ("tls"); inside a chain every name
 * is a handler ("tcp+tls"). A handler may appear once per chain (its
 * options are keyed SIDE.HANDLER.KEY), and a chain has at most
 * GH__CHAIN_MAX handlers. On failure out->n is 0. */
int gh__chain_parse(const gh__registry *r, const char *spec, gh__chain *out,
                    char *err, size_t errlen);

/* The chain a spec stands for, the registry's aliases expanded and blanks
 * removed ("https" -> "tcp+tls+http", "tcp + tls" -> "tcp+tls"), without
 * looking the handlers up (an alias r does not know stays as written).
 * Writes at most len bytes (NUL included); returns buf. */
const char *gh__chain_canonical(const gh__registry *r, const char *spec,
                                char *buf, size_t len);

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
