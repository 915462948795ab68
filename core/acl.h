/* Address rules: the `allow` IP tables of destinations, and the client's
 * [acl] of what the cloud may reach. Pure: no I/O, no DNS. */
#ifndef GH_ACL_H
#define GH_ACL_H

#include <stddef.h>
#include <stdint.h>

#include "gatehouse/gatehouse.h"

/* An inclusive range of addresses of one family (a single address, a CIDR
 * block and "a-b" all become one). IPv4-mapped IPv6 sources are matched
 * as IPv4. */
typedef struct gh__iprange {
  uint16_t family; /* GH_AF_INET or GH_AF_INET6 */
  uint8_t lo[16], hi[16];
} gh__iprange;

typedef struct gh__iplist {
  gh__iprange *v;
  size_t n, cap;
  int present; /* 0: no allow key, everyone passes */
} gh__iplist;

/* Adds the comma-separated entries of one `allow` line. 0 or GH_EINVAL
 * with the reason (naming the bad entry) in err. */
int gh__iplist_add(gh__iplist *l, const char *text, char *err, size_t errlen);
/* 1 if addr passes (or the list is absent), 0 otherwise. */
int gh__iplist_match(const gh__iplist *l, const gh_addr *addr);
void gh__iplist_free(gh__iplist *l);

/* Parses a numeric IPv4 or IPv6 address (no port) into addr (port 0).
 * 0 or GH_EINVAL. */
int gh__addr_parse(const char *text, gh_addr *addr);
/* Formats "1.2.3.4:80" or "[::1]:80" (port 0: no port) into out. */
void gh__addr_format(const gh_addr *addr, char *out, size_t outlen);

/* 1 if addr is unspecified: 0.0.0.0/8, :: or ::ffff:0.0.0.0/104. A
 * connect() to one reaches the local host on Linux, so a resource at such
 * an address would bypass rules that deny loopback: never connect to one. */
int gh__addr_unspecified(const gh_addr *addr);

/* 1 if name is a well-formed DNS host name: labels of [A-Za-z0-9_-] (no
 * leading or trailing '-'), at most 63 bytes each and 253 in all, an
 * optional final dot, and a last label that is not all digits (so that
 * "10.0.0.256" is refused rather than taken for a name). */
int gh__hostname_valid(const char *name);

/* [acl] rules: `allow = TARGET` / `deny = TARGET`, first match wins, no
 * match (and no [acl] at all) is deny. TARGET is
 *   *                      everything
 *   HOST:PORTS             HOST a name (matched case-insensitively, as
 *                          written), a numeric address, a CIDR block or a
 *                          range a-b; or * for any host
 *   PORTS                  *, N or LO-HI
 *   unix:GLOB              Unix socket paths: an absolute path where * ? and
 *                          [...] match within one component (fnmatch with
 *                          FNM_PATHNAME). Only these rules decide a socket
 *                          path: `*` and HOST:PORTS never match one.
 */
typedef struct gh__acl_rule {
  int allow;  /* 1 allow, 0 deny */
  int listen; /* a `listen` rule: checked only by gh__acl_listen_check */
  char *name; /* a host name rule; NULL for address or any-host rules */
  char *path; /* a unix:GLOB rule's glob; NULL for the others */
  int any_host;
  gh__iprange range; /* when name == NULL && !any_host */
  uint16_t port_lo, port_hi;
  int line;
} gh__acl_rule;

typedef struct gh__acl {
  gh__acl_rule *v;
  size_t n, cap;
  int present; /* an [acl] section was given */
} gh__acl;

int gh__acl_add(gh__acl *acl, int allow, const char *target, int line,
                char *err, size_t errlen);
/* Decides for a resource named `host` (as configured) on `port`, resolved
 * to the addresses addrs[0..n) (for a numeric host, that address). The
 * rules are run, first match wins, once for each resolved address: a name
 * rule matches when `host` is that name, an address rule when the address
 * falls in its block, `*` always; the port must be in the rule's ports.
 * The resource is allowed only when every resolved address is, so a name
 * that also resolves into a denied block never slips through. n == 0 runs
 * the rules once with name rules only. Returns 1 to allow, 0 to deny;
 * *line gets the deciding rule's line (0: no rule matched, default deny). */
int gh__acl_check(const gh__acl *acl, const char *host, uint16_t port,
                  const gh_addr *addrs, size_t n, int *line);
/* The listen policy, `listen = HOST:PORTS` lines among the same rules:
 * which bind address and port a server may make the client listen on (a
 * cloud destination's client_bind and client_port). HOST is *, a numeric
 * address, a CIDR block, a range a-b or a name (matched as written). */
int gh__acl_add_listen(gh__acl *acl, const char *target, int line, char *err,
                       size_t errlen);
/* 1 when binding `bind` (an address or a name, as pushed) on `port` is
 * allowed: always for a loopback address (127.0.0.0/8, ::1) on ports
 * 1024-65535, otherwise only when a listen rule covers it. *line gets the
 * rule's line (0: the loopback default, or nothing allowed it). */
int gh__acl_listen_check(const gh__acl *acl, const char *bind, uint16_t port,
                         int *line);
/* Makes a directory's path canonical (realpath(3) in the runtime; a fake
 * one in tests): 0 and the path in out, or a negative code. */
typedef int (*gh__path_canon_fn)(const char *dir, char *out, size_t outlen);

/* Decides for a Unix socket path, with the unix:GLOB rules alone (listen
 * rules when `listen`, the others when not), first match wins, no match
 * denies. A rule matches the path as written or, when canon is given, with
 * the directory its glob starts with made canonical: `unix:/var/run/pg/[a-z]*`
 * also matches /run/pg/x where /var/run is a link to /run. The caller
 * checks the configured path and then its realpath(), both of which must
 * pass. Returns 1 to allow, 0 to deny; *line as gh__acl_check. */
int gh__acl_path_check(const gh__acl *acl, const char *path, int listen,
                       gh__path_canon_fn canon, int *line);
/* 1 when text is a socket path gatehouse accepts: absolute, no empty, "."
 * or ".." component, shorter than sun_path (107 bytes at most). */
int gh__unix_path_valid(const char *text);

/* 1 when a and b hold the same listen rules, in the same order. */
int gh__acl_listen_equal(const gh__acl *a, const gh__acl *b);
void gh__acl_free(gh__acl *acl);

#endif
