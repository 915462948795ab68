/* Helpers every file of the configuration uses: growing arrays, names,
 * host:port, paths relative to the file, and warnings about secrets that
 * others can read. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../log.h"
#include "../util.h"
#include "../words.h"
#include "common.h"

/* ------------------------------------------------------------ helpers */

void *gh__cf_xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fputs("gatehouse: out of memory\n", stderr);
    abort();
  }
  return q;
}

/* Grows *v (of *cap elements of `size`) to hold at least n + 1. */
void gh__cf_grow(void **v, size_t *cap, size_t n, size_t size) {
  if (n < *cap)
    return;
  size_t c = *cap ? *cap * 2 : 4;
  *v = gh__cf_xrealloc(*v, c * size);
  memset((char *)*v + *cap * size, 0, (c - *cap) * size);
  *cap = c;
}

/* Tokens and key files must not linger in freed memory. */
void gh__cf_secret_free(char *s) {
  if (!s)
    return;
  explicit_bzero(s, strlen(s));
  free(s);
}

int gh__cf_name_valid(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > GH__NAME_MAX)
    return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
      return 0;
  return 1;
}

/* A key shown in a message: only when it cannot be part of a secret that
 * was mistyped into the key position. */
int gh__cf_key_showable(const char *k) {
  size_t n = strlen(k);
  if (n == 0 || n > 64)
    return 0;
  for (; *k; k++)
    if (!isalnum((unsigned char)*k) && !strchr("._-", *k))
      return 0;
  return 1;
}

void gh__cf_fmt_hostport(const char *host, uint16_t port, char *out,
                         size_t len) {
  if (!host)
    snprintf(out, len, ":%u", port);
  else if (strchr(host, ':'))
    snprintf(out, len, "[%s]:%u", host, port);
  else
    snprintf(out, len, "%s:%u", host, port);
}

static int port_parse(const char *s, size_t n, uint16_t *port) {
  char buf[8];
  uint32_t v;
  if (n == 0 || n >= sizeof(buf))
    return GH_EINVAL;
  memcpy(buf, s, n);
  buf[n] = '\0';
  if (gh__word_u32(buf, 1, 65535, &v) < 0)
    return GH_EINVAL;
  *port = (uint16_t)v;
  return 0;
}

int gh__hostport_parse(const char *s, char **host, uint16_t *port) {
  const char *h, *colon;
  size_t hl;
  char buf[256];
  *host = NULL;
  *port = 0;
  if (!s)
    return GH_EINVAL;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':')
      return GH_EINVAL;
    h = s + 1;
    hl = (size_t)(close - h);
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon)
      return GH_EINVAL;
    h = s;
    hl = (size_t)(colon - s);
    if (memchr(h, ':', hl))
      return GH_EINVAL; /* an IPv6 address needs brackets */
  }
  if (hl >= sizeof(buf) || (hl == 0 && s[0] == '['))
    return GH_EINVAL;
  memcpy(buf, h, hl);
  buf[hl] = '\0';
  gh_addr a;
  int numeric = gh__addr_parse(buf, &a) == 0;
  if (s[0] == '[' ? !numeric || a.family != GH_AF_INET6
                  : hl > 0 && !numeric && !gh__hostname_valid(buf))
    return GH_EINVAL;
  if (port_parse(colon + 1, strlen(colon + 1), port) < 0)
    return GH_EINVAL;
  *host = hl ? gh__strdup(buf) : NULL;
  return 0;
}

const gh__kv *gh__kvs_find(const gh__kvs *kvs, const char *key) {
  for (size_t i = 0; i < kvs->n; i++)
    if (strcmp(kvs->v[i].key, key) == 0)
      return &kvs->v[i];
  return NULL;
}

/* ---------------------------------------------------------- file paths */

/* The directory that relative paths of `file` are anchored to; NULL when
 * the file name has none (the working directory). */
char *gh__cf_path_dir(const char *file) {
  const char *slash = file ? strrchr(file, '/') : NULL;
  if (!slash)
    return NULL;
  if (slash == file)
    return gh__strdup("/");
  return gh__strndup(file, (size_t)(slash - file));
}

char *gh__cf_path_resolve(const char *dir, const char *value) {
  if (value[0] == '/' || !dir)
    return gh__strdup(value);
  size_t n = strlen(dir) + strlen(value) + 2;
  char *out = gh__xcalloc(1, n);
  snprintf(out, n, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", value);
  return out;
}

/* 0 if path can be read as gh__file_read() will take it at the start (a
 * regular file of at most GH__FILE_MAX); -errno otherwise. O_NONBLOCK so
 * that a FIFO does not hang the check (it is refused). */
int gh__cf_file_check(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return -errno;
  struct stat st;
  int rc = fstat(fd, &st) < 0             ? -errno
           : S_ISDIR(st.st_mode)          ? -EISDIR
           : !S_ISREG(st.st_mode)         ? -EINVAL
           : st.st_size > GH__FILE_MAX    ? -EFBIG
                                          : 0;
  close(fd);
  return rc;
}

/* ---- warnings: secrets that others can read */

static char **warn_v;
static size_t warn_n;
gid_t gh__cf_secret_gid; /* the group gatehouse runs as: may read secrets */

static void cfg_warn(const char *file, int line, const char *fmt, ...)
    GH_PRINTF(3, 4);
static void cfg_warn(const char *file, int line, const char *fmt, ...) {
  char msg[768], out[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (line > 0)
    snprintf(out, sizeof(out), "%s:%d: warning: %s", file, line, msg);
  else
    snprintf(out, sizeof(out), "%s: warning: %s", file, msg);
  /* A client re-reads its own destinations' files at every tunnel: keep
   * each line once, and a bounded number of them, until flushed. */
  if (warn_n >= 64)
    return;
  for (size_t i = 0; i < warn_n; i++)
    if (strcmp(warn_v[i], out) == 0)
      return;
  warn_v = gh__cf_xrealloc(warn_v, (warn_n + 1) * sizeof(*warn_v));
  warn_v[warn_n++] = gh__strdup(out);
}

void gh__cfg_warnings_flush(void (*fn)(const char *line, void *arg),
                            void *arg) {
  for (size_t i = 0; i < warn_n; i++) {
    if (fn)
      fn(warn_v[i], arg);
    free(warn_v[i]);
  }
  free(warn_v);
  warn_v = NULL;
  warn_n = 0;
}

/* A secret (a token file, a private key) that others can read is warned
 * about, not refused. Readable by its group is fine when that group is the
 * one gatehouse runs as (root:gatehouse 0640, so that a reload after the
 * privilege drop can read it). */
void gh__cf_secret_mode_check(const char *file, int line, const char *key,
                              const char *path) {
  struct stat st;
  if (stat(path, &st) != 0)
    return;
  const char *who = (st.st_mode & S_IROTH) ? "others"
                    : (st.st_mode & S_IRGRP) && st.st_gid != gh__cf_secret_gid
                        ? "its group"
                        : NULL;
  if (who)
    cfg_warn(file, line,
             "%s: '%s' holds a secret and is readable by %s (mode %04o, "
             "gid %ld): chmod 600, or 640 with the group gatehouse runs as",
             key, path, who, (unsigned)(st.st_mode & 07777), (long)st.st_gid);
}

/* The option of a handler is a secret: "key", or a name ending in "_key". */
int gh__cf_secret_option(const char *key) {
  const char *name = strrchr(key, '.');
  name = name ? name + 1 : key;
  size_t n = strlen(name);
  return strcmp(name, "key") == 0 ||
         (n > 4 && strcmp(name + n - 4, "_key") == 0);
}

const char *gh__cf_type_name(int type) {
  return type == GH__DEST_ONPREM  ? "onprem"
         : type == GH__DEST_CLOUD ? "cloud"
                                  : "?";
}

int gh__cf_why(char *err, size_t errlen, const char *fmt, ...) GH_PRINTF(3, 4);
int gh__cf_why(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  if (err && errlen) {
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return GH_EINVAL;
}

/* "tcp", "tcp+tls+http", blanks allowed around '+'. The names are checked
 * against the plugins in gh__dest_validate. */
int gh__cf_proto_valid(const char *s) {
  for (;;) {
    while (*s == ' ' || *s == '\t')
      s++;
    size_t n = 0;
    while (islower((unsigned char)s[n]) || isdigit((unsigned char)s[n]) ||
           (n > 0 && s[n] == '-'))
      n++;
    if (n == 0 || n > 32)
      return 0;
    s += n;
    while (*s == ' ' || *s == '\t')
      s++;
    if (*s == '\0')
      return 1;
    if (*s++ != '+')
      return 0;
  }
}
