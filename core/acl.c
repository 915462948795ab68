#include "acl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "words.h"

/* Bounds that keep a hostile or fuzzed list from growing without end. */
#define GH__IPLIST_MAX 65536
#define GH__ACL_MAX 65536
/* Longest entry: two IPv6 addresses in text and a '-'. */
#define GH__ENTRY_MAX 96
/* sizeof(sockaddr_un.sun_path) on Linux, its NUL included. */
#define GH__SUN_PATH_MAX 108
/* The prefix of a target that makes it a path rule. */
#define GH__UNIX_PREFIX "unix:"

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static size_t fam_len(uint16_t family) {
  return family == GH_AF_INET ? 4 : 16;
}

static int is_blank(int c) {
  return c == ' ' || c == '\t';
}

/* An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d; it is
 * an IPv4 client, and IPv4 rules must apply to it. */
static void addr_unmap(gh_addr *a) {
  if (a->family != GH_AF_INET6 || memcmp(a->addr, v4mapped, 12) != 0)
    return;
  uint8_t v4[4];
  memcpy(v4, a->addr + 12, 4);
  memset(a->addr, 0, sizeof(a->addr));
  memcpy(a->addr, v4, 4);
  a->family = GH_AF_INET;
}

int gh__addr_parse(const char *text, gh_addr *addr) {
  memset(addr, 0, sizeof(*addr));
  if (!text)
    return GH_EINVAL;
  if (inet_pton(AF_INET, text, addr->addr) == 1) {
    addr->family = GH_AF_INET;
    return 0;
  }
  if (inet_pton(AF_INET6, text, addr->addr) == 1) {
    addr->family = GH_AF_INET6;
    return 0;
  }
  memset(addr, 0, sizeof(*addr));
  return GH_EINVAL;
}

void gh__addr_format(const gh_addr *addr, char *out, size_t outlen) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (!out || outlen == 0)
    return;
  if (addr->family == GH_AF_UNIX) {
    snprintf(out, outlen, "(unix socket)");
    return;
  }
  if (addr->family == GH_AF_INET)
    inet_ntop(AF_INET, addr->addr, ip, sizeof(ip));
  else if (addr->family == GH_AF_INET6)
    inet_ntop(AF_INET6, addr->addr, ip, sizeof(ip));
  if (addr->port == 0)
    snprintf(out, outlen, "%s", ip);
  else if (addr->family == GH_AF_INET6)
    snprintf(out, outlen, "[%s]:%u", ip, addr->port);
  else
    snprintf(out, outlen, "%s:%u", ip, addr->port);
}

int gh__addr_unspecified(const gh_addr *addr) {
  gh_addr a = *addr;
  addr_unmap(&a);
  if (a.family == GH_AF_INET)
    return a.addr[0] == 0; /* 0.0.0.0/8: "this network", i.e. this host */
  if (a.family == GH_AF_INET6) {
    static const uint8_t zero[16] = {0};
    return memcmp(a.addr, zero, 16) == 0;
  }
  return 0;
}

int gh__hostname_valid(const char *name) {
  size_t len = name ? strlen(name) : 0;
  if (len > 0 && name[len - 1] == '.')
    len--; /* a fully qualified name may end with a dot */
  if (len == 0 || len > 253)
    return 0;
  size_t label = 0, last_start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || name[i] == '.') {
      if (label == 0 || label > 63 || name[i - 1] == '-')
        return 0;
      label = 0;
      if (i < len)
        last_start = i + 1;
      continue;
    }
    unsigned char c = (unsigned char)name[i];
    if (!isalnum(c) && c != '-' && c != '_')
      return 0;
    if (label == 0 && c == '-')
      return 0;
    label++;
  }
  /* No top-level label is all digits: "10.0.0.256" is a typo, not a name. */
  for (size_t i = last_start; i < len; i++)
    if (!isdigit((unsigned char)name[i]))
      return 1;
  return 0;
}

/* ---- ranges */

static int prefix_parse(const char *s, unsigned max, unsigned *out) {
  uint32_t v;
  if (strlen(s) > 3 || gh__word_u32(s, 0, max, &v) < 0)
    return GH_EINVAL;
  *out = v;
  return 0;
}

static int range_cidr(char *text, char *slash, gh__iprange *r) {
  gh_addr a;
  *slash = '\0';
  if (gh__addr_parse(text, &a) < 0)
    return GH_EINVAL;
  unsigned bits = (unsigned)fam_len(a.family) * 8, plen;
  if (prefix_parse(slash + 1, bits, &plen) < 0)
    return GH_EINVAL;
  r->family = a.family;
  for (unsigned i = 0; i < bits / 8; i++) {
    unsigned keep = plen >= (i + 1) * 8 ? 8 : plen > i * 8 ? plen - i * 8 : 0;
    uint8_t mask = (uint8_t)(keep ? 0xffu << (8 - keep) : 0);
    r->lo[i] = a.addr[i] & mask;
    r->hi[i] = (uint8_t)(a.addr[i] | (uint8_t)~mask);
  }
  return 0;
}

static int range_span(char *text, char *dash, gh__iprange *r) {
  gh_addr a, b;
  *dash = '\0';
  if (gh__addr_parse(text, &a) < 0 || gh__addr_parse(dash + 1, &b) < 0)
    return GH_EINVAL;
  if (a.family != b.family || memcmp(a.addr, b.addr, fam_len(a.family)) > 0)
    return GH_EINVAL;
  r->family = a.family;
  memcpy(r->lo, a.addr, 16);
  memcpy(r->hi, b.addr, 16);
  return 0;
}

static int range_one(const char *text, gh__iprange *r) {
  gh_addr a;
  if (gh__addr_parse(text, &a) < 0)
    return GH_EINVAL;
  r->family = a.family;
  memcpy(r->lo, a.addr, 16);
  memcpy(r->hi, a.addr, 16);
  return 0;
}

/* A rule written in IPv4-mapped form is an IPv4 rule, since mapped sources
 * are matched as IPv4. */
static void range_unmap(gh__iprange *r) {
  if (r->family != GH_AF_INET6 || memcmp(r->lo, v4mapped, 12) != 0 ||
      memcmp(r->hi, v4mapped, 12) != 0)
    return;
  memmove(r->lo, r->lo + 12, 4);
  memmove(r->hi, r->hi + 12, 4);
  memset(r->lo + 4, 0, 12);
  memset(r->hi + 4, 0, 12);
  r->family = GH_AF_INET;
}

/* One address, CIDR block or range "a-b" (len bytes of s). */
static int range_parse(const char *s, size_t len, gh__iprange *r) {
  char buf[GH__ENTRY_MAX + 1];
  if (len == 0 || len > GH__ENTRY_MAX)
    return GH_EINVAL;
  memcpy(buf, s, len);
  buf[len] = '\0';
  memset(r, 0, sizeof(*r));
  char *slash = strchr(buf, '/'), *dash = strchr(buf, '-');
  int rc;
  if (slash && !dash)
    rc = range_cidr(buf, slash, r);
  else if (dash && !slash)
    rc = range_span(buf, dash, r);
  else if (!dash && !slash)
    rc = range_one(buf, r);
  else
    rc = GH_EINVAL;
  if (rc == 0)
    range_unmap(r);
  return rc;
}

static int range_has(const gh__iprange *r, const gh_addr *a) {
  size_t n = fam_len(a->family);
  return r->family == a->family && memcmp(r->lo, a->addr, n) <= 0 &&
         memcmp(a->addr, r->hi, n) <= 0;
}

/* ---- iplist */

static int iplist_push(gh__iplist *l, const gh__iprange *r) {
  if (l->n >= GH__IPLIST_MAX)
    return GH_ELIMIT;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    gh__iprange *v = realloc(l->v, cap * sizeof(*v));
    if (!v)
      return GH_ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = *r;
  return 0;
}

static int entry_error(char *err, size_t errlen, const char *s, size_t len) {
  if (err && errlen)
    snprintf(err, errlen,
             "bad address '%.*s' (expected an address, a CIDR block a/n or a "
             "range a-b)",
             (int)(len < 64 ? len : 64), s);
  return GH_EINVAL;
}

int gh__iplist_add(gh__iplist *l, const char *text, char *err, size_t errlen) {
  size_t before = l->n;
  const char *p = text ? text : "";
  for (;;) {
    while (is_blank(*p))
      p++;
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    while (len > 0 && is_blank(p[len - 1]))
      len--;
    gh__iprange r;
    int rc = len == 0 ? GH_EINVAL : range_parse(p, len, &r);
    if (rc == 0)
      rc = iplist_push(l, &r);
    if (rc < 0) {
      l->n = before; /* a line is taken whole or not at all */
      if (rc == GH_ELIMIT && err && errlen)
        snprintf(err, errlen, "too many addresses (at most %d)",
                 GH__IPLIST_MAX);
      else if (len == 0 && err && errlen)
        snprintf(err, errlen, "empty entry in address list");
      else if (rc != GH_ELIMIT)
        entry_error(err, errlen, p, len);
      return rc == GH_ELIMIT ? GH_EINVAL : rc;
    }
    if (!end)
      break;
    p = end + 1;
  }
  l->present = 1;
  return 0;
}

int gh__iplist_match(const gh__iplist *l, const gh_addr *addr) {
  if (!l->present)
    return 1;
  gh_addr a = *addr;
  addr_unmap(&a);
  for (size_t i = 0; i < l->n; i++)
    if (range_has(&l->v[i], &a))
      return 1;
  return 0;
}

void gh__iplist_free(gh__iplist *l) {
  free(l->v);
  memset(l, 0, sizeof(*l));
}

/* ---- [acl] */

static int ports_parse(const char *s, uint16_t *lo, uint16_t *hi) {
  if (strcmp(s, "*") == 0) {
    *lo = 0;
    *hi = 65535;
    return 0;
  }
  unsigned long v[2] = {0, 0};
  int k = 0, digits = 0;
  for (; *s; s++) {
    if (*s == '-' && k == 0 && digits) {
      k = 1;
      digits = 0;
      continue;
    }
    if (!isdigit((unsigned char)*s) || ++digits > 5)
      return GH_EINVAL;
    v[k] = v[k] * 10 + (unsigned long)(*s - '0');
  }
  if (!digits)
    return GH_EINVAL;
  if (k == 0)
    v[1] = v[0];
  if (v[0] < 1 || v[1] > 65535 || v[0] > v[1])
    return GH_EINVAL;
  *lo = (uint16_t)v[0];
  *hi = (uint16_t)v[1];
  return 0;
}

static int acl_fail(char *err, size_t errlen, const char *why,
                    const char *target) {
  if (err && errlen)
    snprintf(err, errlen, "bad target '%.80s': %s", target, why);
  return GH_EINVAL;
}

/* Splits "HOST:PORTS" / "[V6]:PORTS" into host and ports (in buf). */
static int target_split(char *buf, char **host, char **ports) {
  if (buf[0] == '[') {
    char *close = strchr(buf, ']');
    if (!close || close[1] != ':')
      return GH_EINVAL;
    *close = '\0';
    *host = buf + 1;
    *ports = close + 2;
    return 0;
  }
  char *colon = strrchr(buf, ':');
  if (!colon)
    return GH_EINVAL;
  *colon = '\0';
  if (strchr(buf, ':'))
    return GH_ENOTSUP; /* an IPv6 address needs brackets */
  *host = buf;
  *ports = colon + 1;
  return 0;
}

static int rule_host(gh__acl_rule *r, const char *host, int bracketed) {
  if (strcmp(host, "*") == 0 && !bracketed) {
    r->any_host = 1;
    return 0;
  }
  if (bracketed && !strchr(host, ':'))
    return GH_EINVAL; /* brackets are for IPv6 */
  if (range_parse(host, strlen(host), &r->range) == 0)
    return 0;
  if (bracketed || !gh__hostname_valid(host))
    return GH_EINVAL;
  size_t len = strlen(host);
  if (host[len - 1] == '.')
    len--;
  r->name = malloc(len + 1);
  if (!r->name)
    return GH_ENOMEM;
  for (size_t i = 0; i < len; i++)
    r->name[i] = (char)tolower((unsigned char)host[i]);
  r->name[len] = '\0';
  return 0;
}

static int acl_push(gh__acl *acl, const gh__acl_rule *r) {
  if (acl->n >= GH__ACL_MAX)
    return GH_ELIMIT;
  if (acl->n == acl->cap) {
    size_t cap = acl->cap ? acl->cap * 2 : 8;
    gh__acl_rule *v = realloc(acl->v, cap * sizeof(*v));
    if (!v)
      return GH_ENOMEM;
    acl->v = v;
    acl->cap = cap;
  }
  acl->v[acl->n++] = *r;
  return 0;
}

static char *str_dup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p)
    memcpy(p, s, n);
  return p;
}

/* Absolute, and no empty, "." or ".." component: a rule and a path are
 * compared as text, so "/a/../b" must not pass for something under /a. */
static int path_components_ok(const char *s) {
  if (s[0] != '/')
    return 0;
  for (const char *p = s; *p;) {
    const char *c = p + 1, *end = strchr(c, '/');
    size_t n = end ? (size_t)(end - c) : strlen(c);
    if (n == 0 || (n == 1 && c[0] == '.') ||
        (n == 2 && c[0] == '.' && c[1] == '.'))
      return 0;
    p = c + n;
  }
  return 1;
}

int gh__unix_path_valid(const char *text) {
  if (!text || strlen(text) >= GH__SUN_PATH_MAX)
    return 0;
  for (const char *p = text; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return 0;
  return path_components_ok(text);
}

static int path_glob_valid(const char *g) {
  if (strlen(g) >= 4096)
    return 0;
  for (const char *p = g; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f || is_blank(*p))
      return 0;
  return path_components_ok(g);
}

static int rule_add(gh__acl *acl, int allow, int listen, const char *target,
                    int line, char *err, size_t errlen) {
  char buf[512];
  const char *t = target ? target : "";
  while (is_blank(*t))
    t++;
  size_t len = strlen(t);
  while (len > 0 && is_blank(t[len - 1]))
    len--;
  if (len == 0)
    return acl_fail(err, errlen, "empty (expected HOST:PORTS or *)", "");
  if (len >= sizeof(buf))
    return acl_fail(err, errlen, "too long", t);
  memcpy(buf, t, len);
  buf[len] = '\0';

  gh__acl_rule r = {.allow = allow ? 1 : 0, .listen = listen, .line = line};
  char *host = NULL, *ports = NULL;
  size_t ul = strlen(GH__UNIX_PREFIX);
  if (strncmp(buf, GH__UNIX_PREFIX, ul) == 0) {
    if (!path_glob_valid(buf + ul))
      return acl_fail(err, errlen,
                      "expected unix:/ABSOLUTE/PATH, * ? [...] matching within "
                      "one component (e.g. unix:/run/postgresql/*)",
                      t);
    r.path = str_dup(buf + ul);
    if (!r.path)
      return GH_ENOMEM;
  } else if (strcmp(buf, "*") == 0) {
    r.any_host = 1;
    r.port_lo = 0;
    r.port_hi = 65535;
  } else {
    int rc = target_split(buf, &host, &ports);
    if (rc == GH_ENOTSUP)
      return acl_fail(err, errlen,
                      "write an IPv6 host in brackets, e.g. [2001:db8::1]:443",
                      t);
    if (rc < 0)
      return acl_fail(err, errlen,
                      "expected HOST:PORTS (e.g. db:5432, *:443) "
                      "or *",
                      t);
    if (ports_parse(ports, &r.port_lo, &r.port_hi) < 0)
      return acl_fail(err, errlen, "ports must be *, N or LO-HI within 1-65535",
                      t);
    rc = rule_host(&r, host, buf[0] == '[');
    if (rc == GH_ENOMEM)
      return rc;
    if (rc < 0)
      return acl_fail(err, errlen,
                      "host must be *, a name, an address, a CIDR block or a "
                      "range a-b",
                      t);
  }
  int rc = acl_push(acl, &r);
  if (rc < 0) {
    free(r.name);
    free(r.path);
    if (err && errlen)
      snprintf(err, errlen, "too many [acl] rules (at most %d)", GH__ACL_MAX);
    return rc == GH_ELIMIT ? GH_EINVAL : rc;
  }
  acl->present = 1;
  return 0;
}

int gh__acl_add(gh__acl *acl, int allow, const char *target, int line,
                char *err, size_t errlen) {
  return rule_add(acl, allow, 0, target, line, err, errlen);
}

int gh__acl_add_listen(gh__acl *acl, const char *target, int line, char *err,
                       size_t errlen) {
  const char *t = target ? target : "";
  while (is_blank(*t))
    t++;
  if (strcmp(t, "*") == 0 || t[0] == '\0')
    /* a bare * would open every port of every address: spell it *:1-65535 */
    return acl_fail(err, errlen,
                    "expected HOST:PORTS (e.g. 0.0.0.0:12000, "
                    "127.0.0.1:1024-65535, *:8000-9000)",
                    t);
  return rule_add(acl, 1, 1, t, line, err, errlen);
}

/* Names compare case-insensitively, and "db.internal." is "db.internal". */
static int name_eq(const char *rule, const char *host) {
  size_t a = strlen(rule), b = strlen(host);
  if (b > 0 && host[b - 1] == '.')
    b--;
  return a == b && strncasecmp(rule, host, a) == 0;
}

/* The first rule that matches decides; none: deny. */
static int acl_decide(const gh__acl *acl, const char *host, uint16_t port,
                      const gh_addr *addr, int *line) {
  gh_addr a = {0};
  if (addr) {
    a = *addr;
    addr_unmap(&a);
  }
  for (size_t i = 0; i < acl->n; i++) {
    const gh__acl_rule *r = &acl->v[i];
    if (r->listen || r->path || port < r->port_lo || port > r->port_hi)
      continue;
    int hit = r->any_host ? 1
              : r->name   ? host && name_eq(r->name, host)
              : addr      ? range_has(&r->range, &a)
                          : 0;
    if (hit) {
      *line = r->line;
      return r->allow;
    }
  }
  *line = 0;
  return 0;
}

int gh__acl_check(const gh__acl *acl, const char *host, uint16_t port,
                  const gh_addr *addrs, size_t n, int *line) {
  int l = 0, ok = 0;
  gh_addr numeric;
  if (line)
    *line = 0;
  if (!acl || !acl->present)
    return 0;
  /* A numeric host is its own address, resolved or not. */
  if (n == 0 && host && gh__addr_parse(host, &numeric) == 0) {
    addrs = &numeric;
    n = 1;
  }
  if (n == 0) {
    ok = acl_decide(acl, host, port, NULL, &l);
  } else {
    for (size_t i = 0; i < n; i++) {
      ok = acl_decide(acl, host, port, &addrs[i], &l);
      if (!ok)
        break;
    }
  }
  if (line)
    *line = l;
  return ok;
}

/* ---- socket paths */

/* The glob with the directory it starts with made canonical, glob
 * characters of that directory escaped: 0, or -1 when there is no such
 * directory or it is already canonical. */
static int glob_canonical(const char *glob, gh__path_canon_fn canon, char *out,
                          size_t outlen) {
  size_t meta = strcspn(glob, "*?[\\");
  size_t dir = meta;
  while (dir > 0 && glob[dir] != '/')
    dir--;
  if (dir == 0)
    return -1; /* a glob in the first component: nothing to resolve */
  char d[4096], c[4096];
  if (dir >= sizeof(d))
    return -1;
  memcpy(d, glob, dir);
  d[dir] = '\0';
  if (canon(d, c, sizeof(c)) < 0 || strcmp(c, d) == 0)
    return -1;
  size_t o = 0;
  for (const char *p = c; *p; p++) {
    if (o + 3 >= outlen)
      return -1;
    if (strchr("*?[\\", *p))
      out[o++] = '\\';
    out[o++] = *p;
  }
  size_t rest = strlen(glob + dir);
  if (o + rest + 1 > outlen)
    return -1;
  memcpy(out + o, glob + dir, rest + 1);
  return 0;
}

static int path_hit(const gh__acl_rule *r, const char *path,
                    gh__path_canon_fn canon) {
  if (fnmatch(r->path, path, FNM_PATHNAME) == 0)
    return 1;
  char g[8192];
  return canon && glob_canonical(r->path, canon, g, sizeof(g)) == 0 &&
         fnmatch(g, path, FNM_PATHNAME) == 0;
}

int gh__acl_path_check(const gh__acl *acl, const char *path, int listen,
                       gh__path_canon_fn canon, int *line) {
  if (line)
    *line = 0;
  if (!acl || !path)
    return 0;
  for (size_t i = 0; i < acl->n; i++) {
    const gh__acl_rule *r = &acl->v[i];
    if (!r->path || r->listen != (listen ? 1 : 0) || !path_hit(r, path, canon))
      continue;
    if (line)
      *line = r->line;
    return r->allow;
  }
  return 0;
}

/* ---- the listen policy */

static int is_loopback(const gh_addr *addr) {
  static const uint8_t one[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                  0, 0, 0, 0, 0, 0, 0, 1};
  gh_addr a = *addr;
  addr_unmap(&a);
  if (a.family == GH_AF_INET)
    return a.addr[0] == 127;
  return a.family == GH_AF_INET6 && memcmp(a.addr, one, 16) == 0;
}

int gh__acl_listen_check(const gh__acl *acl, const char *bind, uint16_t port,
                         int *line) {
  gh_addr a;
  int numeric = bind && gh__addr_parse(bind, &a) == 0;
  if (line)
    *line = 0;
  if (numeric && is_loopback(&a) && port >= 1024)
    return 1;
  if (numeric)
    addr_unmap(&a);
  for (size_t i = 0; acl && i < acl->n; i++) {
    const gh__acl_rule *r = &acl->v[i];
    if (!r->listen || r->path || port < r->port_lo || port > r->port_hi)
      continue;
    int hit = r->any_host ? 1
              : r->name   ? bind && name_eq(r->name, bind)
              : numeric   ? range_has(&r->range, &a)
                          : 0;
    if (hit) {
      if (line)
        *line = r->line;
      return 1;
    }
  }
  return 0;
}

static int str_same(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int gh__acl_listen_equal(const gh__acl *a, const gh__acl *b) {
  size_t i = 0, j = 0;
  for (;;) {
    while (a && i < a->n && !a->v[i].listen)
      i++;
    while (b && j < b->n && !b->v[j].listen)
      j++;
    int ea = !a || i >= a->n, eb = !b || j >= b->n;
    if (ea || eb)
      return ea && eb;
    const gh__acl_rule *x = &a->v[i++], *y = &b->v[j++];
    if (x->any_host != y->any_host || !str_same(x->name, y->name) ||
        !str_same(x->path, y->path) || x->port_lo != y->port_lo ||
        x->port_hi != y->port_hi ||
        memcmp(&x->range, &y->range, sizeof(x->range)) != 0)
      return 0;
  }
}

void gh__acl_free(gh__acl *acl) {
  for (size_t i = 0; i < acl->n; i++) {
    free(acl->v[i].name);
    free(acl->v[i].path);
  }
  free(acl->v);
  memset(acl, 0, sizeof(*acl));
}
