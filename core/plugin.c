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
#include "words.h"

#define SUBJECT "plugin"

/* A refusal reason is built here, then copied to the caller's buffer and
 * into the registry. */
typedef struct why {
  char buf[1024];
} why;

GH_PRINTF(2, 3)
static void why_set(why *w, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->buf, sizeof(w->buf), fmt, ap);
  va_end(ap);
}

void gh__registry_init(gh__registry *r, const gh_host *host) {
  memset(r, 0, sizeof(*r));
  r->host = host;
}

/* ------------------------------------------------------- who may write */

/* Plugins run as the process, root before the privilege drop: only root or
 * the running user may be able to change what is loaded. As OpenSSH's
 * StrictModes does, each directory from / down and the file itself must be
 * owned by root or the running user and writable by neither group nor
 * others. A component that is a symbolic link is followed and checked where
 * it points (the link itself sits in a directory already checked). A
 * directory with the sticky bit (/tmp) may be writable by others on the
 * way down: they cannot remove or rename the entry below it, which is
 * checked in turn; the plugin directory and the file themselves never. */
static int entry_ok(const char *path, const struct stat *st, int last,
                    why *w) {
  uid_t me = geteuid();
  if (st->st_uid != 0 && st->st_uid != me) {
    why_set(w,
            "%s is owned by uid %ld, neither root nor the running user "
            "(uid %ld)",
            path, (long)st->st_uid, (long)me);
    return GH_EPERM;
  }
  mode_t m = st->st_mode;
  if (!(m & (S_IWGRP | S_IWOTH)))
    return 0;
  if (!last && S_ISDIR(m) && (m & S_ISVTX))
    return 0;
  why_set(w, "%s is writable by %s (mode %04o)", path,
          (m & S_IWOTH) ? "others" : "group", (unsigned)(m & 07777));
  return GH_EPERM;
}

#define GH__LINKS_MAX 40

/* Resolves `rest` from `cur` (an absolute path without its trailing slash,
 * "" for the root) as the kernel would, checking every directory met;
 * leaves the resolved path in cur. */
static int walk(char *cur, size_t cap, const char *rest, int *links,
                why *w) {
  if (rest[0] == '/')
    cur[0] = '\0';
  for (const char *p = rest; *p;) {
    while (*p == '/')
      p++;
    if (!*p)
      break;
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    const char *next = p + n;
    if (n == 1 && p[0] == '.') {
      p = next;
      continue;
    }
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      char *slash = strrchr(cur, '/');
      if (slash)
        *slash = '\0';
      p = next;
      continue;
    }
    size_t len = strlen(cur);
    if (len + 1 + n + 1 > cap) {
      why_set(w, "%s: path too long", cur);
      return GH_EINVAL;
    }
    cur[len] = '/';
    memcpy(cur + len + 1, p, n);
    cur[len + 1 + n] = '\0';
    struct stat st;
    if (lstat(cur, &st) != 0) {
      int err = errno;
      why_set(w, "%s: %s", cur, strerror(err));
      return -err;
    }
    int rc;
    if (S_ISLNK(st.st_mode)) {
      if (++*links > GH__LINKS_MAX) {
        why_set(w, "%s: too many levels of symbolic links", cur);
        return GH_EINVAL;
      }
      char *target = malloc(PATH_MAX);
      ssize_t k = target ? readlink(cur, target, PATH_MAX - 1) : -1;
      if (k < 0) {
        int err = target ? errno : ENOMEM;
        why_set(w, "%s: %s", cur, strerror(err));
        free(target);
        return -err;
      }
      target[k] = '\0';
      cur[len] = '\0'; /* the link's directory */
      rc = walk(cur, cap, target, links, w);
      free(target);
    } else {
      rc = entry_ok(cur, &st, 0, w);
    }
    if (rc < 0)
      return rc;
    p = next;
  }
  return 0;
}

int gh__plugin_path_check(const char *path, char *reason, size_t len) {
  why w = {{0}};
  char cur[PATH_MAX] = "";
  int links = 0;
  struct stat st;
  int rc = stat("/", &st) == 0 ? entry_ok("/", &st, 0, &w) : -errno;
  if (rc == 0 && path[0] != '/') {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
      rc = -errno;
    else
      rc = walk(cur, sizeof(cur), cwd, &links, &w);
  }
  if (rc == 0)
    rc = walk(cur, sizeof(cur), path, &links, &w);
  /* What the path names, this time with no allowance for a sticky bit. */
  if (rc == 0) {
    const char *at = cur[0] ? cur : "/";
    rc = stat(at, &st) == 0 ? entry_ok(at, &st, 1, &w) : -errno;
  }
  if (rc < 0 && !w.buf[0])
    why_set(&w, "%s: %s", path, strerror(-rc));
  if (reason && len)
    snprintf(reason, len, "%s", rc < 0 ? w.buf : "");
  return rc;
}

/* ------------------------------------------------------------- the file */

/* Checks what dlopen() would otherwise report obscurely (or, for a text
 * file, as "invalid ELF header" at best), and before any of the file's
 * constructors can run. */
static int check_file(const char *path, why *w) {
  struct stat st;
  if (stat(path, &st) != 0) {
    int e = errno;
    why_set(w, "%s: cannot read: %s", path, strerror(e));
    return -e;
  }
  if (!S_ISREG(st.st_mode)) {
    why_set(w, "%s: not a regular file", path);
    return GH_EINVAL;
  }
  char reason[sizeof(w->buf) - 64];
  int rc = gh__plugin_path_check(path, reason, sizeof(reason));
  if (rc < 0) {
    why_set(w, "%s: refused: %s", path, reason);
    return rc;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    int e = errno;
    why_set(w, "%s: cannot read: %s", path, strerror(e));
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
    why_set(w, "%s: not an ELF shared object", path);
    return GH_EINVAL;
  }
  unsigned type = hdr[5] == 2 ? (unsigned)(hdr[16] << 8 | hdr[17])
                              : (unsigned)(hdr[17] << 8 | hdr[16]);
  if (type != 3 /* ET_DYN */) {
    why_set(w, "%s: not an ELF shared object (ELF type %u)", path, type);
    return GH_EINVAL;
  }
  return 0;
}

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

/* A decimal integer, as the configuration accepts it for GH_OPT_INT. */
/* A declared default is written as the configuration would be, the
 * boolean words in lower case. */
static int default_bool_ok(const char *s) {
  int b;
  for (const char *p = s; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      return 0;
  return gh__word_bool(s, &b) == 0;
}

static int check_option(const char *path, const gh_handler *h,
                        const gh_option *o, uint32_t i, why *w) {
  if (!o->name) {
    why_set(w, "%s: handler \"%s\": option #%u has no name", path, h->name, i);
    return GH_EINVAL;
  }
  if (!option_name_ok(o->name)) {
    why_set(w,
            "%s: handler \"%s\": invalid option name \"%.64s\" (must match "
            "[a-z0-9_-]{1,63})",
            path, h->name, o->name);
    return GH_EINVAL;
  }
  for (uint32_t j = 0; j < i; j++)
    if (h->options[j].name && strcmp(h->options[j].name, o->name) == 0) {
      why_set(w, "%s: handler \"%s\": option \"%s\" is declared twice", path,
              h->name, o->name);
      return GH_EINVAL;
    }
  if (o->type < GH_OPT_STRING || o->type > GH_OPT_FILE) {
    why_set(w, "%s: handler \"%s\": option \"%s\": unknown type %u", path,
            h->name, o->name, o->type);
    return GH_EINVAL;
  }
  if (o->flags & ~(uint32_t)(GH_OPT_MULTI | GH_OPT_REQUIRED)) {
    why_set(w, "%s: handler \"%s\": option \"%s\": unknown flags 0x%x", path,
            h->name, o->name, o->flags);
    return GH_EINVAL;
  }
  if (o->type == GH_OPT_INT) {
    if (o->min > o->max) {
      why_set(w,
              "%s: handler \"%s\": option \"%s\": min %lld is greater than "
              "max %lld",
              path, h->name, o->name, (long long)o->min, (long long)o->max);
      return GH_EINVAL;
    }
    int64_t v;
    if (o->def && (gh__word_int(o->def, &v) < 0 || v < o->min || v > o->max)) {
      why_set(w,
              "%s: handler \"%s\": option \"%s\": default \"%.64s\" is not "
              "an integer in [%lld, %lld]",
              path, h->name, o->name, o->def, (long long)o->min,
              (long long)o->max);
      return GH_EINVAL;
    }
  }
  if (o->type == GH_OPT_BOOL && o->def && !default_bool_ok(o->def)) {
    why_set(w,
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

static const char *owner_of(const gh__registry *r, const gh_handler *h) {
  for (size_t i = 0; i < r->n_plugins; i++) {
    const gh__plugin_ent *e = &r->plugins[i];
    if (!e->desc)
      continue;
    for (uint32_t j = 0; j < e->desc->n_handlers; j++)
      if (e->desc->handlers[j] == h)
        return e->path;
  }
  return "another plugin";
}

static int check_handler(const gh__registry *r, const char *path,
                         const gh_plugin *p, uint32_t i, why *w) {
  const gh_handler *h = p->handlers[i];
  if (!h) {
    why_set(w, "%s: handler #%u is NULL", path, i);
    return GH_EINVAL;
  }
  if (h->size < GH__HANDLER_SIZE_1_0) {
    why_set(w, "%s: handler #%u: size %u is smaller than ABI 1.0's %zu", path,
            i, h->size, (size_t)GH__HANDLER_SIZE_1_0);
    return GH_EINVAL;
  }
  if (!h->name) {
    why_set(w, "%s: handler #%u has no name", path, i);
    return GH_EINVAL;
  }
  if (!name_ok(h->name)) {
    why_set(w,
            "%s: handler #%u: invalid name \"%.64s\" (must match "
            "[a-z0-9][a-z0-9-]{0,31})",
            path, i, h->name);
    return GH_EINVAL;
  }
  for (uint32_t j = 0; j < i; j++)
    if (strcmp(p->handlers[j]->name, h->name) == 0) {
      why_set(w, "%s: handler \"%s\" is declared twice", path, h->name);
      return GH_EINVAL;
    }
  const gh_handler *other = gh__registry_find(r, h->name);
  if (other) {
    why_set(w, "%s: handler \"%s\" is already provided by %s", path, h->name,
            owner_of(r, other));
    return GH_EEXIST;
  }
  if (h->kind != GH_KIND_TRANSPORT && h->kind != GH_KIND_LAYER) {
    why_set(w, "%s: handler \"%s\": unknown kind %u", path, h->name, h->kind);
    return GH_EINVAL;
  }
  if (h->flags & ~(uint32_t)GH_HANDLER_DGRAM) {
    why_set(w, "%s: handler \"%s\": unknown flags 0x%x", path, h->name,
            h->flags);
    return GH_EINVAL;
  }
  if ((h->flags & GH_HANDLER_DGRAM) && h->kind != GH_KIND_TRANSPORT) {
    why_set(w, "%s: handler \"%s\": a layer cannot be GH_HANDLER_DGRAM", path,
            h->name);
    return GH_EINVAL;
  }
  char missing[160];
  missing_callbacks(h, missing, sizeof(missing));
  if (missing[0]) {
    why_set(w, "%s: handler \"%s\" (%s) lacks %s", path, h->name,
            h->kind == GH_KIND_TRANSPORT ? "transport" : "layer", missing);
    return GH_EINVAL;
  }
  if (h->n_options > 0 && !h->options) {
    why_set(w, "%s: handler \"%s\": n_options is %u but options is NULL", path,
            h->name, h->n_options);
    return GH_EINVAL;
  }
  for (uint32_t j = 0; j < h->n_options; j++) {
    int rc = check_option(path, h, &h->options[j], j, w);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Reads only the four members that never move until the version is known
 * to be one whose layout this core understands. */
static int check_plugin(const gh__registry *r, const char *path,
                        const gh_plugin *p, why *w) {
  if (p->abi_major != GH_ABI_MAJOR) {
    why_set(w, "%s: built for ABI %u.%u, this core speaks %d.%d", path,
            p->abi_major, p->abi_minor, GH_ABI_MAJOR, GH_ABI_MINOR);
    return GH_ENOTSUP;
  }
  if (p->abi_minor > GH_ABI_MINOR) {
    why_set(w, "%s: needs ABI %u.%u, this core has %d.%d", path, p->abi_major,
            p->abi_minor, GH_ABI_MAJOR, GH_ABI_MINOR);
    return GH_ENOTSUP;
  }
  if (p->size < GH__PLUGIN_SIZE_1_0) {
    why_set(w, "%s: descriptor size %u is smaller than ABI 1.0's %zu", path,
            p->size, (size_t)GH__PLUGIN_SIZE_1_0);
    return GH_EINVAL;
  }
  const char *lacks = !p->name       ? "a name"
                      : !p->version  ? "a version"
                      : !p->handlers ? "handlers"
                      : !p->init     ? "init()"
                                     : NULL;
  if (lacks) {
    why_set(w, "%s: descriptor lacks %s", path, lacks);
    return GH_EINVAL;
  }
  if (p->n_handlers == 0 || p->n_handlers > GH__PLUGIN_HANDLERS_MAX) {
    why_set(w, "%s: declares %u handlers (1 to %d allowed)", path,
            p->n_handlers, GH__PLUGIN_HANDLERS_MAX);
    return GH_EINVAL;
  }
  for (uint32_t i = 0; i < p->n_handlers; i++) {
    int rc = check_handler(r, path, p, i, w);
    if (rc < 0)
      return rc;
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
                const gh_plugin **descp, why *w) {
  int rc = check_file(path, w);
  if (rc < 0)
    return rc;

  /* dlopen() searches the library path for a name without a slash. */
  char local[4096];
  const char *open_path = path;
  if (!strchr(path, '/')) {
    if ((size_t)snprintf(local, sizeof(local), "./%s", path) >= sizeof(local)) {
      why_set(w, "%s: path too long", path);
      return GH_EINVAL;
    }
    open_path = local;
  }
  /* RTLD_LOCAL: a plugin's symbols never resolve another's, and the core
   * exports none (sdk/README.md, "Building with pkg-config"). */
  void *dl = dlopen(open_path, RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    const char *e = dlerror();
    why_set(w, "%s: dlopen failed: %s", path, e ? e : "unknown error");
    return GH_EINVAL;
  }
  *dlp = dl;

  dlerror();
  void *sym = dlsym(dl, GH_PLUGIN_ENTRY_NAME);
  if (!sym) {
    why_set(w, "%s: no exported symbol %s", path, GH_PLUGIN_ENTRY_NAME);
    return GH_EINVAL;
  }
  gh_plugin_entry_fn entry;
  memcpy(&entry, &sym, sizeof(entry)); /* POSIX: object to function pointer */
  const gh_plugin *p = entry();
  if (!p) {
    why_set(w, "%s: %s returned NULL", path, GH_PLUGIN_ENTRY_NAME);
    return GH_EINVAL;
  }
  rc = check_plugin(r, path, p, w);
  if (rc < 0)
    return rc;

  rc = p->init(r->host);
  if (rc != 0) {
    why_set(w, "%s: init failed: %s", path, gh_strerror(rc));
    return rc < 0 ? rc : GH_EINVAL;
  }
  *descp = p;
  return 0;
}

int gh__registry_load_file(gh__registry *r, const char *path, char *err,
                           size_t errlen) {
  why w = {{0}};
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
      why_set(&w, "%s: out of memory", path);
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

const gh_handler *gh__registry_find(const gh__registry *r, const char *name) {
  for (size_t i = 0; i < r->n_handlers; i++)
    if (strcmp(r->handlers[i]->name, name) == 0)
      return r->handlers[i];
  return NULL;
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

/* --------------------------------------------------------------- chains */

static const struct {
  const char *name, *chain;
} aliases[] = {
    {"tls", "tcp+tls"},
    {"http", "tcp+http"},
    {"https", "tcp+tls+http"},
};

static int is_blank(char c) {
  return c == ' ' || c == '\t';
}

static const gh_handler *find_n(const gh__registry *r, const char *name,
                                size_t len) {
  for (size_t i = 0; i < r->n_handlers; i++)
    if (strlen(r->handlers[i]->name) == len &&
        memcmp(r->handlers[i]->name, name, len) == 0)
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
  for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
    if (strlen(aliases[i].name) == (size_t)(e - b) &&
        memcmp(aliases[i].name, b, (size_t)(e - b)) == 0) {
      alias = aliases[i].name;
      b = aliases[i].chain;
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
    if (!h) {
      char known[512];
      known_list(r, known, sizeof(known));
      if (alias)
        return chain_err(err, errlen,
                         "unknown protocol handler \"%.*s\" (needed by "
                         "%s = %s; %s)",
                         len, nb, alias, b, known);
      return chain_err(err, errlen, "unknown protocol handler \"%.*s\" (%s)",
                       len, nb, known);
    }
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

const char *gh__chain_canonical(const char *spec, char *buf, size_t len) {
  size_t n = 0;
  if (len == 0)
    return buf;
  const char *b = spec ? spec : "", *e = b + strlen(b);
  while (b < e && is_blank(*b))
    b++;
  while (e > b && is_blank(e[-1]))
    e--;
  for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
    if (strlen(aliases[i].name) == (size_t)(e - b) &&
        memcmp(aliases[i].name, b, (size_t)(e - b)) == 0) {
      b = aliases[i].chain;
      e = b + strlen(b);
      break;
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
