/* Who may write a plugin: the path from / to the file, links followed. */
#include "plugin.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "plugin_int.h"
#include "words.h"

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
                    gh__why *w) {
  uid_t me = geteuid();
  if (st->st_uid != 0 && st->st_uid != me) {
    gh__why_set(w,
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
  gh__why_set(w, "%s is writable by %s (mode %04o)", path,
              (m & S_IWOTH) ? "others" : "group", (unsigned)(m & 07777));
  return GH_EPERM;
}

#define GH__LINKS_MAX 40

/* Resolves `rest` from `cur` (an absolute path without its trailing slash,
 * "" for the root) as the kernel would, checking every directory met;
 * leaves the resolved path in cur. */
static int walk(char *cur, size_t cap, const char *rest, int *links,
                gh__why *w) {
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
      gh__why_set(w, "%s: path too long", cur);
      return GH_EINVAL;
    }
    cur[len] = '/';
    memcpy(cur + len + 1, p, n);
    cur[len + 1 + n] = '\0';
    struct stat st;
    if (lstat(cur, &st) != 0) {
      int err = errno;
      gh__why_set(w, "%s: %s", cur, strerror(err));
      return -err;
    }
    int rc;
    if (S_ISLNK(st.st_mode)) {
      if (++*links > GH__LINKS_MAX) {
        gh__why_set(w, "%s: too many levels of symbolic links", cur);
        return GH_EINVAL;
      }
      char *target = malloc(PATH_MAX);
      ssize_t k = target ? readlink(cur, target, PATH_MAX - 1) : -1;
      if (k < 0) {
        int err = target ? errno : ENOMEM;
        gh__why_set(w, "%s: %s", cur, strerror(err));
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
  gh__why w = {{0}};
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
    gh__why_set(&w, "%s: %s", path, strerror(-rc));
  if (reason && len)
    snprintf(reason, len, "%s", rc < 0 ? w.buf : "");
  return rc;
}
