#include "plugin.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "plugin_int.h"

void gh__why_set(gh__why *w, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->buf, sizeof(w->buf), fmt, ap);
  va_end(ap);
}

void gh__registry_init(gh__registry *r, const gh_host *host) {
  memset(r, 0, sizeof(*r));
  r->host = host;
}

/* ------------------------------------------------------------- the file */

/* Checks what dlopen() would otherwise report obscurely (or, for a text
 * file, as "invalid ELF header" at best), and before any of the file's
 * constructors can run. */
static int check_file(const char *path, gh__why *w) {
  struct stat st;
  if (stat(path, &st) != 0) {
    int e = errno;
    gh__why_set(w, "%s: cannot read: %s", path, strerror(e));
    return -e;
  }
  if (!S_ISREG(st.st_mode)) {
    gh__why_set(w, "%s: not a regular file", path);
    return GH_EINVAL;
  }
  char reason[sizeof(w->buf) - 64];
  int rc = gh__plugin_path_check(path, reason, sizeof(reason));
  if (rc < 0) {
    gh__why_set(w, "%s: refused: %s", path, reason);
    return rc;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    int e = errno;
    gh__why_set(w, "%s: cannot read: %s", path, strerror(e));
    return -e;
  }
  /* e_ident (16 bytes) then e_type, in the file's byte order. */
  uint8_t hdr[18];
  size_t got = 0;
  while (got < sizeof(hdr)) {
    ssize_t n = read(fd, hdr + got, sizeof(hdr) - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  close(fd);
  static const uint8_t magic[4] = {0x7f, 'E', 'L', 'F'};
  if (got < sizeof(hdr) || memcmp(hdr, magic, sizeof(magic)) != 0) {
    gh__why_set(w, "%s: not an ELF shared object", path);
    return GH_EINVAL;
  }
  unsigned type = hdr[5] == 2 ? (unsigned)(hdr[16] << 8 | hdr[17])
                              : (unsigned)(hdr[17] << 8 | hdr[16]);
  if (type != 3 /* ET_DYN */) {
    gh__why_set(w, "%s: not an ELF shared object (ELF type %u)", path, type);
    return GH_EINVAL;
  }
  return 0;
}

/* ------------------------------------------------------------- loading */

static int record(gh__registry *r, const char *path, void *dl,
                  const gh_plugin *desc, const char *refused) {
  gh__plugin_ent *v =
      realloc(r->plugins, (r->n_plugins + 1) * sizeof(*r->plugins));
  if (!v)
    return GH_ENOMEM;
  r->plugins = v;
  gh__plugin_ent e = {strdup(path), dl, desc, refused ? strdup(refused) : NULL};
  if (!e.path || (refused && !e.refused)) {
    free(e.path);
    free(e.refused);
    return GH_ENOMEM;
  }
  r->plugins[r->n_plugins++] = e;
  return 0;
}

static int add_handlers(gh__registry *r, const gh_plugin *p) {
  const gh_handler **v = realloc(r->handlers, (r->n_handlers + p->n_handlers) *
                                                  sizeof(*r->handlers));
  if (!v)
    return GH_ENOMEM;
  r->handlers = v;
  for (uint32_t i = 0; i < p->n_handlers; i++)
    r->handlers[r->n_handlers++] = p->handlers[i];
  return 0;
}

static void log_loaded(const char *path, const gh_plugin *p) {
  if (GH_LOG_INFO > gh__log_level)
    return;
  char names[512];
  size_t used = 0;
  names[0] = '\0';
  for (uint32_t i = 0; i < p->n_handlers; i++) {
    int k = snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
                     p->handlers[i]->name);
    if (k < 0 || (size_t)k >= sizeof(names) - used)
      break;
    used += (size_t)k;
  }
  gh__info(SUBJECT, "%s: loaded %s %s (ABI %u.%u): %s", path, p->name,
           p->version, p->abi_major, p->abi_minor, names);
}

/* Everything but the bookkeeping of a refusal. */
static int load(gh__registry *r, const char *path, void **dlp,
                const gh_plugin **descp, gh__why *w) {
  int rc = check_file(path, w);
  if (rc < 0)
    return rc;

  /* dlopen() searches the library path for a name without a slash. */
  char local[4096];
  const char *open_path = path;
  if (!strchr(path, '/')) {
    if ((size_t)snprintf(local, sizeof(local), "./%s", path) >= sizeof(local)) {
      gh__why_set(w, "%s: path too long", path);
      return GH_EINVAL;
    }
    open_path = local;
  }
  /* RTLD_LOCAL: a plugin's symbols never resolve another's, and the core
   * exports none (sdk/README.md, "Building with pkg-config"). */
  void *dl = dlopen(open_path, RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    const char *e = dlerror();
    gh__why_set(w, "%s: dlopen failed: %s", path, e ? e : "unknown error");
    return GH_EINVAL;
  }
  *dlp = dl;

  dlerror();
  void *sym = dlsym(dl, GH_PLUGIN_ENTRY_NAME);
  if (!sym) {
    gh__why_set(w, "%s: no exported symbol %s", path, GH_PLUGIN_ENTRY_NAME);
    return GH_EINVAL;
  }
  gh_plugin_entry_fn entry;
  memcpy(&entry, &sym, sizeof(entry)); /* POSIX: object to function pointer */
  const gh_plugin *p = entry();
  if (!p) {
    gh__why_set(w, "%s: %s returned NULL", path, GH_PLUGIN_ENTRY_NAME);
    return GH_EINVAL;
  }
  rc = gh__plugin_desc_check(r, path, p, w);
  if (rc < 0)
    return rc;

  rc = p->init(r->host);
  if (rc > 0) { /* GH_PENDING and the like mean nothing here */
    gh__why_set(w,
                "%s: init() returned %d: positive values are reserved; "
                "return 0 or a negative errno",
                path, rc);
    return GH_EINVAL;
  }
  if (rc < 0) {
    gh__why_set(w, "%s: init failed: %s", path, gh_strerror(rc));
    return rc;
  }
  *descp = p;
  return 0;
}

int gh__registry_load_file(gh__registry *r, const char *path, char *err,
                           size_t errlen) {
  gh__why w = {{0}};
  void *dl = NULL;
  const gh_plugin *p = NULL;
  int rc = load(r, path, &dl, &p, &w);
  if (rc == 0) {
    if (record(r, path, dl, p, NULL) < 0 || add_handlers(r, p) < 0) {
      /* Not recorded as loaded, so fini() now, or never. */
      if (r->n_plugins && r->plugins[r->n_plugins - 1].dl == dl) {
        free(r->plugins[r->n_plugins - 1].path);
        r->n_plugins--;
      }
      if (p->fini)
        p->fini();
      gh__why_set(&w, "%s: out of memory", path);
      rc = GH_ENOMEM;
    } else {
      log_loaded(path, p);
      if (err && errlen)
        err[0] = '\0';
      return 0;
    }
  }
  if (dl)
    dlclose(dl);
  gh__warn(SUBJECT, "%s", w.buf);
  if (err && errlen)
    snprintf(err, errlen, "%s", w.buf);
  record(r, path, NULL, NULL, w.buf); /* out of memory: not recorded */
  return rc;
}

static int so_filter(const struct dirent *d) {
  size_t n = strlen(d->d_name);
  return d->d_name[0] != '.' && n > 3 && strcmp(d->d_name + n - 3, ".so") == 0;
}

int gh__registry_load_dir(gh__registry *r, const char *dir) {
  struct dirent **list;
  int n = scandir(dir, &list, so_filter, alphasort);
  if (n < 0) {
    int e = errno;
    gh__warn(SUBJECT, "%s: cannot read the plugin directory: %s", dir,
             strerror(e));
    return -e;
  }
  char reason[900];
  int rc = gh__plugin_path_check(dir, reason, sizeof(reason));
  if (rc < 0) {
    for (int i = 0; i < n; i++)
      free(list[i]);
    free(list);
    char msg[1100];
    snprintf(msg, sizeof(msg), "plugin_dir %s: refused: %s", dir, reason);
    free(r->dir_refused);
    r->dir_refused = strdup(msg);
    gh__error(SUBJECT, "%s", msg);
    return GH_EPERM;
  }
  size_t dlen = strlen(dir);
  const char *sep = dlen && dir[dlen - 1] == '/' ? "" : "/";
  int loaded = 0;
  for (int i = 0; i < n; i++) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s%s%s", dir, sep,
                         list[i]->d_name) < sizeof(path)) {
      if (gh__registry_load_file(r, path, NULL, 0) == 0)
        loaded++;
    } else {
      gh__warn(SUBJECT, "%s/%s: path too long", dir, list[i]->d_name);
    }
    free(list[i]);
  }
  free(list);
  return loaded;
}

void gh__registry_free(gh__registry *r) {
  for (size_t i = r->n_plugins; i-- > 0;) {
    gh__plugin_ent *e = &r->plugins[i];
    if (e->desc && e->desc->fini)
      e->desc->fini();
    if (e->dl)
      dlclose(e->dl);
    free(e->path);
    free(e->refused);
  }
  free(r->plugins);
  free(r->handlers);
  free(r->dir_refused);
  const gh_host *host = r->host;
  memset(r, 0, sizeof(*r));
  r->host = host;
}
