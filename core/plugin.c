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
static int check_file(const char *path, struct stat *stp, gh__why *w) {
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
  *stp = st;
  return 0;
}

/* ------------------------------------------------------------- loading */

/* What load() learnt of a file besides its verdict. */
typedef struct load_res {
  void *dl;
  const gh_plugin *desc;
  struct stat st;
  char names[512]; /* refused: the names its descriptor declares */
} load_res;

static int record(gh__registry *r, const char *path, const load_res *l,
                  const char *refused, int conflict) {
  gh__plugin_ent *v =
      realloc(r->plugins, (r->n_plugins + 1) * sizeof(*r->plugins));
  if (!v)
    return GH_ENOMEM;
  r->plugins = v;
  gh__plugin_ent e = {.path = strdup(path)};
  if (refused) {
    e.refused = strdup(refused);
    e.names = l->names[0] ? strdup(l->names) : NULL;
    e.conflict = conflict;
  } else {
    e.dl = l->dl;
    e.desc = l->desc;
    e.dev = (unsigned long long)l->st.st_dev;
    e.ino = (unsigned long long)l->st.st_ino;
  }
  if (!e.path || (refused && !e.refused) ||
      (l->names[0] && refused && !e.names)) {
    free(e.path);
    free(e.refused);
    free(e.names);
    return GH_ENOMEM;
  }
  r->plugins[r->n_plugins++] = e;
  return 0;
}

static int add_handlers(gh__registry *r, const gh_plugin *p) {
  uint32_t na = gh__plugin_n_aliases(p);
  const gh_handler **v = realloc(r->handlers, (r->n_handlers + p->n_handlers) *
                                                  sizeof(*r->handlers));
  if (!v)
    return GH_ENOMEM;
  r->handlers = v;
  const gh_alias **a =
      realloc(r->aliases, (r->n_aliases + na + 1) * sizeof(*r->aliases));
  if (!a)
    return GH_ENOMEM;
  r->aliases = a;
  for (uint32_t i = 0; i < p->n_handlers; i++)
    r->handlers[r->n_handlers++] = p->handlers[i];
  for (uint32_t i = 0; i < na; i++)
    r->aliases[r->n_aliases++] = &p->aliases[i];
  return 0;
}

/* The loaded plugin that is this very file, reached by another path. */
static const gh__plugin_ent *same_file(const gh__registry *r,
                                       const struct stat *st) {
  for (size_t i = 0; i < r->n_plugins; i++)
    if (r->plugins[i].desc &&
        r->plugins[i].dev == (unsigned long long)st->st_dev &&
        r->plugins[i].ino == (unsigned long long)st->st_ino)
      return &r->plugins[i];
  return NULL;
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

#define GH__SAME_FILE 1 /* load(): the file is loaded already */

/* Everything but the bookkeeping of a refusal. */
static int load(gh__registry *r, const char *path, load_res *l, gh__why *w) {
  int rc = check_file(path, &l->st, w);
  if (rc < 0)
    return rc;
  const gh__plugin_ent *twin = same_file(r, &l->st);
  if (twin) {
    gh__why_set(w, "%s: the same file as %s, loaded already", path, twin->path);
    return GH__SAME_FILE;
  }

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
  l->dl = dl;

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
  if (rc < 0) {
    gh__plugin_desc_names(p, l->names, sizeof(l->names));
    return rc;
  }

  rc = p->init(r->host);
  if (rc > 0) { /* GH_PENDING and the like mean nothing here */
    gh__plugin_desc_names(p, l->names, sizeof(l->names));
    gh__why_set(w,
                "%s: init() returned %d: positive values are reserved; "
                "return 0 or a negative errno",
                path, rc);
    return GH_EINVAL;
  }
  if (rc < 0) {
    gh__plugin_desc_names(p, l->names, sizeof(l->names));
    gh__why_set(w, "%s: init failed: %s", path, gh_strerror(rc));
    return rc;
  }
  l->desc = p;
  return 0;
}

int gh__registry_load_file(gh__registry *r, const char *path, char *err,
                           size_t errlen) {
  gh__why w = {{0}};
  load_res l = {0};
  int rc = load(r, path, &l, &w);
  if (rc == GH__SAME_FILE) {
    gh__info(SUBJECT, "%s", w.buf);
    if (err && errlen)
      err[0] = '\0';
    return 0;
  }
  if (rc == 0) {
    const gh_plugin *p = l.desc;
    if (record(r, path, &l, NULL, 0) < 0 || add_handlers(r, p) < 0) {
      /* Not recorded as loaded, so fini() now, or never. */
      if (r->n_plugins && r->plugins[r->n_plugins - 1].dl == l.dl) {
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
  if (l.dl)
    dlclose(l.dl);
  gh__warn(SUBJECT, "%s", w.buf);
  if (err && errlen)
    snprintf(err, errlen, "%s", w.buf);
  /* out of memory: not recorded */
  record(r, path, &l, w.buf, rc == GH_EEXIST);
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
  int n_loaded = 0;
  for (int i = 0; i < n; i++) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s%s%s", dir, sep,
                         list[i]->d_name) < sizeof(path)) {
      size_t before = r->n_plugins; /* the same file again: not counted */
      if (gh__registry_load_file(r, path, NULL, 0) == 0 &&
          r->n_plugins > before)
        n_loaded++;
    } else {
      gh__warn(SUBJECT, "%s/%s: path too long", dir, list[i]->d_name);
    }
    free(list[i]);
  }
  free(list);
  return n_loaded;
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
    free(e->names);
  }
  free(r->plugins);
  free(r->handlers);
  free(r->aliases);
  free(r->dir_refused);
  const gh_host *host = r->host;
  memset(r, 0, sizeof(*r));
  r->host = host;
}
