#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ini.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../log.h"
#include "../util.h"
#include "conf.h"

/* ---- secrets: who may read them (see secret_mode_check) */

static void secret_add(gh__parse *p, const char *key, const char *path) {
  p->secrets =
      gh__cf_xrealloc(p->secrets, (p->n_secrets + 1) * sizeof(*p->secrets));
  p->secrets[p->n_secrets++] =
      (struct secret_ref){gh__strdup(path), key, p->line};
}

/* Once user and group are known: who may read the secrets. */
void gh__cf_secrets_check(gh__parse *p) {
  const char *group = *p->group, *user = *p->user;
  struct group *gr = group ? getgrnam(group) : NULL;
  struct passwd *pw = user ? getpwnam(user) : NULL;
  gh__cf_secret_gid = gr ? gr->gr_gid : pw ? pw->pw_gid : getegid();
  for (size_t i = 0; i < p->n_secrets; i++)
    gh__cf_secret_mode_check(p->file, p->secrets[i].line, p->secrets[i].key,
                             p->secrets[i].path);
  /* A client's own destinations: their files are read when a tunnel
   * brings the destination, so their modes are checked here, with the
   * rest of the file. */
  for (size_t i = 0; p->c && i < p->c->n_locals; i++) {
    const gh__kvs *o = &p->c->locals[i].opts;
    for (size_t k = 0; k < o->n; k++)
      if (gh__cf_secret_option(o->v[k].key)) {
        char *path = gh__cf_path_resolve(p->dir, o->v[k].value);
        gh__cf_secret_mode_check(p->file, o->v[k].line, o->v[k].key, path);
        free(path);
      }
  }
}

void gh__cf_secrets_free(gh__parse *p) {
  for (size_t i = 0; i < p->n_secrets; i++)
    free(p->secrets[i].path);
  free(p->secrets);
  p->secrets = NULL;
  p->n_secrets = 0;
}

/* ---- keys of [server], [client] and the gateways */

typedef int (*gh__key_fn)(gh__parse *p, const char *key, const char *value);
typedef struct gh__keydef {
  const char *name;
  gh__key_fn fn;
  int multi;
} gh__keydef;

static int key_hostport(gh__parse *p, const char *key, const char *v,
                        char **host, uint16_t *port) {
  if (gh__hostport_parse(v, host, port) < 0)
    return gh__cf_fail(
        p, p->line, "%s: expected host:port, [v6]:port or :port, not '%.100s'",
        key, v);
  return 0;
}

static int key_seconds(gh__parse *p, const char *key, const char *v,
                       uint32_t min, uint32_t max, uint32_t *out) {
  if (gh__cf_parse_u32(v, min, max, out) < 0)
    return gh__cf_fail(p, p->line,
                       "%s must be a number of seconds from %u to %u", key, min,
                       max);
  return 0;
}

static int key_file(gh__parse *p, const char *key, const char *v, char **dst) {
  char *path = gh__cf_path_resolve(p->dir, v);
  int rc = gh__cf_file_check(path);
  if (rc < 0) {
    gh__cf_fail(p, p->line, "%s: cannot read '%s': %s", key, path,
                strerror(-rc));
    free(path);
    return GH_EINVAL;
  }
  *dst = path;
  return 0;
}

static int k_admin(gh__parse *p, const char *k, const char *v) {
  p->admin_line = p->line;
  return key_hostport(p, k, v, p->admin_host, p->admin_port);
}

static int k_plugin_dir(gh__parse *p, const char *k, const char *v) {
  (void)k;
  *p->plugin_dir = gh__cf_path_resolve(p->dir, v);
  return 0;
}

/* user and group must exist when the file is read, so that `check` says
 * so with FILE:LINE; the process takes that identity once it has bound its
 * ports and read its keys (main.c). */
static int k_user(gh__parse *p, const char *k, const char *v) {
  if (!*v || !getpwnam(v))
    return gh__cf_fail(p, p->line, "%s: no such user '%.64s'", k, v);
  free(*p->user);
  *p->user = gh__strdup(v);
  return 0;
}

static int k_group(gh__parse *p, const char *k, const char *v) {
  if (!*v || !getgrnam(v))
    return gh__cf_fail(p, p->line, "%s: no such group '%.64s'", k, v);
  free(*p->group);
  *p->group = gh__strdup(v);
  p->group_line = p->line;
  return 0;
}

/* group alone would leave the process root with another gid: refused, not
 * silently half-done. */
int gh__cf_identity_check(gh__parse *p) {
  if (*p->group && !*p->user)
    return gh__cf_fail(
        p, p->group_line,
        "group = %s without user =: gatehouse would go on running as "
        "root; set user = too (e.g. user = gatehouse)",
        *p->group);
  return 0;
}

static int k_log_level(gh__parse *p, const char *k, const char *v) {
  int level = gh__log_parse_level(v);
  if (level < 0)
    return gh__cf_fail(
        p, p->line, "%s must be error, warn, info, debug or trace, not '%.40s'",
        k, v);
  *p->log_level = level;
  return 0;
}

static int k_drain(gh__parse *p, const char *k, const char *v) {
  return key_seconds(p, k, v, 0, 86400, p->drain_s);
}

static int k_keepalive(gh__parse *p, const char *k, const char *v) {
  p->ka_line = p->line;
  return key_seconds(p, k, v, 1, 3600, p->ka_s);
}

static int k_keepalive_timeout(gh__parse *p, const char *k, const char *v) {
  p->kat_line = p->line;
  return key_seconds(p, k, v, 2, 86400, p->kat_s);
}

/* The streams a tunnel may hold (65,536) bound both. */
static int k_connecting_max(gh__parse *p, const char *k, const char *v) {
  if (gh__cf_parse_u32(v, 1, 65536, p->connecting_max) < 0)
    return gh__cf_fail(p, p->line, "%s must be a number from 1 to 65536", k);
  return 0;
}

static int k_open_queue_max(gh__parse *p, const char *k, const char *v) {
  if (gh__cf_parse_u32(v, 0, 65536, p->open_queue_max) < 0)
    return gh__cf_fail(p, p->line, "%s must be a number from 0 to 65536", k);
  return 0;
}

static int k_tunnel(gh__parse *p, const char *k, const char *v) {
  p->tunnel_line = p->line;
  return key_hostport(p, k, v, &p->s->tunnel_host, &p->s->tunnel_port);
}

static int k_cert(gh__parse *p, const char *k, const char *v) {
  return key_file(p, k, v, &p->s->cert);
}

static int k_key(gh__parse *p, const char *k, const char *v) {
  if (key_file(p, k, v, &p->s->key) < 0)
    return GH_EINVAL;
  secret_add(p, "key", p->s->key);
  return 0;
}

static int k_client_ca(gh__parse *p, const char *k, const char *v) {
  return key_file(p, k, v, &p->s->client_ca);
}

/* A CRL file: read and parsed now, so that `check` and a reload name the
 * line of a file that holds none. */
static int key_crl(gh__parse *p, const char *k, const char *v, char **dst,
                   int *line) {
  char *path = NULL;
  if (key_file(p, k, v, &path) < 0)
    return GH_EINVAL;
  char why[300];
  if (gh__crl_file_check(path, why, sizeof(why)) < 0) {
    gh__cf_fail(p, p->line, "%s: '%s': %s", k, path, why);
    free(path);
    return GH_EINVAL;
  }
  free(*dst);
  *dst = path;
  *line = p->line;
  return 0;
}

static int k_client_crl(gh__parse *p, const char *k, const char *v) {
  return key_crl(p, k, v, &p->s->client_crl, &p->s->client_crl_line);
}

static int k_unauth_max(gh__parse *p, const char *k, const char *v) {
  if (gh__cf_parse_u32(v, 1, 65536, &p->s->unauth_max) < 0)
    return gh__cf_fail(p, p->line, "%s must be a number from 1 to 65536", k);
  return 0;
}

static int k_unauth_per_source(gh__parse *p, const char *k, const char *v) {
  if (gh__cf_parse_u32(v, 1, 65536, &p->s->unauth_per_source) < 0)
    return gh__cf_fail(p, p->line, "%s must be a number from 1 to 65536", k);
  return 0;
}

static int k_handshake_timeout(gh__parse *p, const char *k, const char *v) {
  return key_seconds(p, k, v, 1, 3600, &p->s->handshake_timeout_s);
}

static int k_reconnect_max(gh__parse *p, const char *k, const char *v) {
  return key_seconds(p, k, v, 1, 86400, &p->c->reconnect_max_s);
}

static const gh__keydef server_keys[] = {
    {"tunnel_listen", k_tunnel, 0},
    {"cert", k_cert, 0},
    {"key", k_key, 0},
    {"client_ca", k_client_ca, 0},
    {"client_crl", k_client_crl, 0},
    {"unauth_max", k_unauth_max, 0},
    {"unauth_per_source", k_unauth_per_source, 0},
    {"handshake_timeout", k_handshake_timeout, 0},
    {"admin_listen", k_admin, 0},
    {"plugin_dir", k_plugin_dir, 0},
    {"user", k_user, 0},
    {"group", k_group, 0},
    {"log_level", k_log_level, 0},
    {"drain_timeout", k_drain, 0},
    {"keepalive", k_keepalive, 0},
    {"keepalive_timeout", k_keepalive_timeout, 0},
    {"connecting_max", k_connecting_max, 0},
    {"open_queue_max", k_open_queue_max, 0},
};
_Static_assert(GH__ARRAY_LEN(server_keys) <= GH__KEYS_MAX,
               "raise GH__KEYS_MAX");

static const gh__keydef client_keys[] = {
    {"admin_listen", k_admin, 0},
    {"plugin_dir", k_plugin_dir, 0},
    {"user", k_user, 0},
    {"group", k_group, 0},
    {"log_level", k_log_level, 0},
    {"drain_timeout", k_drain, 0},
    {"keepalive", k_keepalive, 0},
    {"keepalive_timeout", k_keepalive_timeout, 0},
    {"reconnect_max", k_reconnect_max, 0},
    {"connecting_max", k_connecting_max, 0},
    {"open_queue_max", k_open_queue_max, 0},
};
_Static_assert(GH__ARRAY_LEN(client_keys) <= GH__KEYS_MAX,
               "raise GH__KEYS_MAX");

/* ---- tokens: never in a message */

static int token_check(gh__parse *p, const char *tok, size_t len,
                       const char *what) {
  if (len == 0)
    return gh__cf_fail(p, p->line, "%s is empty", what);
  if (len < GH__TOKEN_MIN)
    return gh__cf_fail(
        p, p->line,
        "%s is too short: a token needs at least %d characters so "
        "that it cannot be guessed (e.g. openssl rand -hex 32)",
        what, GH__TOKEN_MIN);
  if (len > GH__TOKEN_MAX)
    return gh__cf_fail(p, p->line, "%s is too long (at most %d characters)",
                       what, GH__TOKEN_MAX);
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)tok[i] <= 0x20 || (unsigned char)tok[i] >= 0x7f)
      return gh__cf_fail(
          p, p->line, "%s may hold only printable characters, without spaces",
          what);
  return 0;
}

/* token_file: its content, less trailing blanks and newlines. */
static int token_read(gh__parse *p, const char *v, char **out) {
  char *path = gh__cf_path_resolve(p->dir, v);
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = gh__file_read(path, &buf, &len);
  if (rc < 0) {
    gh__cf_fail(p, p->line, "token_file: cannot read '%s': %s", path,
                strerror(-rc));
    free(path);
    return GH_EINVAL;
  }
  while (len > 0 && isspace(buf[len - 1]))
    len--;
  char what[300];
  snprintf(what, sizeof(what), "the token in '%.250s'", path);
  rc = token_check(p, (const char *)buf, len, what);
  if (rc == 0) {
    *out = gh__strndup((const char *)buf, len);
    secret_add(p, "token_file", path);
  }
  explicit_bzero(buf, len);
  free(buf);
  free(path);
  return rc;
}

static int sgw_push_token(gh__parse *p, char *tok) {
  gh__server_gw *g = cur_sgw(p);
  if (g->n_tokens >= GH__TOKENS_MAX) {
    gh__cf_secret_free(tok);
    return gh__cf_fail(p, p->line, "too many tokens (at most %d)",
                       GH__TOKENS_MAX);
  }
  g->tokens = gh__cf_xrealloc(g->tokens, (g->n_tokens + 1) * sizeof(char *));
  g->tokens[g->n_tokens++] = tok;
  return 0;
}

static int k_sgw_token(gh__parse *p, const char *k, const char *v) {
  (void)k;
  if (token_check(p, v, strlen(v), "token") < 0)
    return GH_EINVAL;
  return sgw_push_token(p, gh__strdup(v));
}

static int k_sgw_token_file(gh__parse *p, const char *k, const char *v) {
  char *tok = NULL;
  (void)k;
  if (token_read(p, v, &tok) < 0)
    return GH_EINVAL;
  return sgw_push_token(p, tok);
}

static int k_sgw_tunnels_max(gh__parse *p, const char *k, const char *v) {
  if (gh__cf_parse_u32(v, 1, 65536, &cur_sgw(p)->tunnels_max) < 0)
    return gh__cf_fail(p, p->line, "%s must be a number from 1 to 65536", k);
  return 0;
}

static int k_sgw_streams_max(gh__parse *p, const char *k, const char *v) {
  if (gh__cf_parse_u32(v, 1, 16777216, &cur_sgw(p)->streams_max) < 0)
    return gh__cf_fail(p, p->line, "%s must be a number from 1 to 16777216", k);
  return 0;
}

static const gh__keydef sgw_keys[] = {
    {"token", k_sgw_token, 1},
    {"token_file", k_sgw_token_file, 1},
    {"tunnels_max", k_sgw_tunnels_max, 0},
    {"streams_max", k_sgw_streams_max, 0},
};
_Static_assert(GH__ARRAY_LEN(sgw_keys) <= GH__KEYS_MAX, "raise GH__KEYS_MAX");

static int cgw_one_token(gh__parse *p) {
  if (cur_cgw(p)->token)
    return gh__cf_fail(p, p->line,
                       "a client's gateway has one token: give token or "
                       "token_file, once");
  return 0;
}

static int k_cgw_token(gh__parse *p, const char *k, const char *v) {
  (void)k;
  if (cgw_one_token(p) < 0 || token_check(p, v, strlen(v), "token") < 0)
    return GH_EINVAL;
  cur_cgw(p)->token = gh__strdup(v);
  return 0;
}

static int k_cgw_token_file(gh__parse *p, const char *k, const char *v) {
  (void)k;
  if (cgw_one_token(p) < 0)
    return GH_EINVAL;
  return token_read(p, v, &cur_cgw(p)->token);
}

static int k_cgw_server(gh__parse *p, const char *k, const char *v) {
  gh__client_gw *g = cur_cgw(p);
  char *host = NULL;
  uint16_t port;
  if (key_hostport(p, k, v, &host, &port) < 0)
    return GH_EINVAL;
  free(host);
  if (!host)
    return gh__cf_fail(p, p->line, "server: a host is needed (host:port)");
  if (g->n_servers >= GH__SERVERS_MAX)
    return gh__cf_fail(p, p->line, "too many servers (at most %d)",
                       GH__SERVERS_MAX);
  g->servers = gh__cf_xrealloc(g->servers, (g->n_servers + 1) * sizeof(char *));
  g->servers[g->n_servers++] = gh__strdup(v);
  return 0;
}

static int k_cgw_ca(gh__parse *p, const char *k, const char *v) {
  return key_file(p, k, v, &cur_cgw(p)->ca);
}

static int k_cgw_crl(gh__parse *p, const char *k, const char *v) {
  return key_crl(p, k, v, &cur_cgw(p)->crl, &cur_cgw(p)->crl_line);
}

static int k_cgw_cert(gh__parse *p, const char *k, const char *v) {
  return key_file(p, k, v, &cur_cgw(p)->cert);
}

static int k_cgw_key(gh__parse *p, const char *k, const char *v) {
  if (key_file(p, k, v, &cur_cgw(p)->key) < 0)
    return GH_EINVAL;
  secret_add(p, "key", cur_cgw(p)->key);
  return 0;
}

static int k_cgw_server_name(gh__parse *p, const char *k, const char *v) {
  gh_addr a;
  if (gh__addr_parse(v, &a) < 0 && !gh__hostname_valid(v))
    return gh__cf_fail(p, p->line, "%s: expected a host name, not '%.100s'", k,
                       v);
  cur_cgw(p)->server_name = gh__strdup(v);
  return 0;
}

static int k_cgw_connections(gh__parse *p, const char *k, const char *v) {
  if (gh__cf_parse_u32(v, 1, 64, &cur_cgw(p)->connections) < 0)
    return gh__cf_fail(p, p->line, "%s must be a number from 1 to 64", k);
  return 0;
}

static const gh__keydef cgw_keys[] = {
    {"server", k_cgw_server, 1},
    {"token", k_cgw_token, 1}, /* once: checked by cgw_one_token */
    {"token_file", k_cgw_token_file, 1},
    {"ca", k_cgw_ca, 0},
    {"crl", k_cgw_crl, 0},
    {"cert", k_cgw_cert, 0},
    {"key", k_cgw_key, 0},
    {"server_name", k_cgw_server_name, 0},
    {"connections", k_cgw_connections, 0},
};
_Static_assert(GH__ARRAY_LEN(cgw_keys) <= GH__KEYS_MAX, "raise GH__KEYS_MAX");

/* [acl] or [acl GATEWAY]: the section being read. */
static gh__acl *cur_acl(gh__parse *p) {
  return p->sec_name[0] ? &p->c->gw_acls[p->sec_idx].acl : &p->c->acl;
}

static int k_acl(gh__parse *p, const char *k, const char *v) {
  char reason[256];
  if (gh__acl_add(cur_acl(p), strcmp(k, "allow") == 0, v, p->line, reason,
                  sizeof(reason)) < 0)
    return gh__cf_fail(p, p->line, "%s: %s", k, reason);
  return 0;
}

static int k_acl_listen(gh__parse *p, const char *k, const char *v) {
  char reason[256];
  if (gh__acl_add_listen(cur_acl(p), v, p->line, reason, sizeof(reason)) < 0)
    return gh__cf_fail(p, p->line, "%s: %s", k, reason);
  return 0;
}

static const gh__keydef acl_keys[] = {
    {"allow", k_acl, 1},
    {"deny", k_acl, 1},
    {"listen", k_acl_listen, 1},
};
_Static_assert(GH__ARRAY_LEN(acl_keys) <= GH__KEYS_MAX, "raise GH__KEYS_MAX");

static int unknown_key(gh__parse *p, const char *name) {
  char sd[300];
  gh__cf_sec_desc(p, sd, sizeof(sd));
  if (!gh__cf_key_showable(name))
    return gh__cf_fail(p, p->line, "unknown key in %s", sd);
  return gh__cf_fail(p, p->line, "unknown key '%s' in %s", name, sd);
}

static int apply_key(gh__parse *p, const gh__keydef *defs, size_t n,
                     const char *name, const char *value) {
  char sd[300];
  for (size_t i = 0; i < n && i < GH__KEYS_MAX; i++) {
    if (strcmp(defs[i].name, name) != 0)
      continue;
    if (!defs[i].multi && p->seen[i])
      return gh__cf_fail(p, p->line, "%s is already set in %s (line %d)", name,
                         gh__cf_sec_desc(p, sd, sizeof(sd)), p->seen[i]);
    if (!*value)
      return gh__cf_fail(p, p->line, "%s has no value", name);
    p->seen[i] = p->line;
    return defs[i].fn(p, name, value);
  }
  return unknown_key(p, name);
}

static int dest_key(gh__parse *p, const char *name, const char *value) {
  char reason[512];
  if (gh__dest_set(cur_dest(p), name, value, p->line, reason, sizeof(reason)) <
      0)
    return gh__cf_fail(p, p->line, "%s", reason);
  return 0;
}

int gh__cf_on_kv(void *user, const char *section, const char *name,
                 const char *value) {
  gh__parse *p = user;
  int rc;
  (void)section; /* inih truncates long names; the reader tracks sections */
  if (p->failed)
    return 0;
#define GH__APPLY(tab) apply_key(p, tab, GH__ARRAY_LEN(tab), name, value)
  switch (p->sec) {
  case SEC_SERVER:
    rc = GH__APPLY(server_keys);
    break;
  case SEC_CLIENT:
    rc = GH__APPLY(client_keys);
    break;
  case SEC_SGW:
    rc = GH__APPLY(sgw_keys);
    break;
  case SEC_CGW:
    rc = GH__APPLY(cgw_keys);
    break;
  case SEC_ACL:
    rc = GH__APPLY(acl_keys);
    break;
  case SEC_DEST:
    rc = dest_key(p, name, value);
    break;
  case SEC_LDEST:
    rc = gh__cf_local_dest_key(p, name, value);
    break;
  default:
    rc = gh__cf_fail(p, p->line, "key outside of any section (start with [%s])",
                     p->role == ROLE_SERVER ? "server" : "client");
  }
#undef GH__APPLY
  return rc == 0;
}
