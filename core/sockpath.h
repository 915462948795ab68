/* Unix socket paths under the client's [acl]: what a server may make the
 * client connect to or listen on, with symbolic links resolved. The rules
 * themselves are acl.c's (pure); this file asks the file system. */
#ifndef GH_SOCKPATH_H
#define GH_SOCKPATH_H

#include <stddef.h>

#include "acl.h"

/* realpath(3) of dir into out: 0, or a negative errno. The canon function
 * of gh__acl_path_check. */
int gh__sockpath_canon(const char *dir, char *out, size_t outlen);

/* The resource side's check of `path` (as configured) before any connect:
 * the path must pass the rules, then its realpath() must too (a link in an
 * allowed directory must not lead out of it). Returns 1 with the path to
 * open (the realpath) in real; 0 when denied, with *line the deciding rule
 * (0: none) and *resolved 1 when it was the realpath that was denied; or a
 * negative errno when the path cannot be resolved (e.g. GH_ENOENT). */
int gh__sockpath_admit(const gh__acl *acl, const char *path, char *real,
                       size_t reallen, int *line, int *resolved);

/* The listen policy for a socket path a server asks the client to bind:
 * only `listen = unix:GLOB` rules allow one (no default), for the path as
 * pushed and for it in its directory's canonical form. 1 or 0; *line. */
int gh__sockpath_listen_ok(const gh__acl *acl, const char *path, int *line);

#endif
