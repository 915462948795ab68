#include "sockpath.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gh__sockpath_canon(const char *dir, char *out, size_t outlen) {
  char buf[PATH_MAX];
  if (!realpath(dir, buf))
    return -errno;
  if (strlen(buf) >= outlen)
    return -ENAMETOOLONG;
  memcpy(out, buf, strlen(buf) + 1);
  return 0;
}

int gh__sockpath_admit(const gh__acl *acl, const char *path, char *real,
                       size_t reallen, int *line, int *resolved) {
  *resolved = 0;
  if (!gh__acl_path_check(acl, path, 0, gh__sockpath_canon, line))
    return 0;
  int r = gh__sockpath_canon(path, real, reallen);
  if (r < 0)
    return r;
  if (strcmp(real, path) == 0)
    return 1;
  int l2 = 0;
  if (gh__acl_path_check(acl, real, 0, gh__sockpath_canon, &l2))
    return 1;
  *line = l2;
  *resolved = 1;
  return 0;
}

int gh__sockpath_listen_ok(const gh__acl *acl, const char *path, int *line) {
  if (!gh__acl_path_check(acl, path, 1, gh__sockpath_canon, line))
    return 0;
  /* The socket does not exist yet: its directory is what links can move. */
  const char *slash = strrchr(path, '/');
  char dir[PATH_MAX], real[PATH_MAX], full[PATH_MAX + 256];
  size_t n = (size_t)(slash - path);
  if (n == 0 || n >= sizeof(dir))
    return 1; /* in "/": nothing to resolve */
  memcpy(dir, path, n);
  dir[n] = '\0';
  if (gh__sockpath_canon(dir, real, sizeof(real)) < 0 || strcmp(real, dir) == 0)
    return 1; /* no such directory: the bind will fail on its own */
  snprintf(full, sizeof(full), "%s%s", real, slash);
  int l2 = 0;
  if (gh__acl_path_check(acl, full, 1, gh__sockpath_canon, &l2))
    return 1;
  *line = l2;
  return 0;
}
