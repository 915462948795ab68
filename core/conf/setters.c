/* The keys of the table (keys.c) that need more than a generic setter:
 * addresses, identities, CRLs, tokens, servers and address rules; and the
 * secret files whose mode is checked once user and group are known. */
#include <ctype.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../log.h"
#include "../util.h"
#include "keys.h"

/* ---- secrets: who may read them (see secret_mode_check) */

void gh__cf_secret_add(gh__parse *p, const char *key, const char *path) {
  p->secrets =
      gh__cf_xrealloc(p->secrets, (p->n_secrets + 1) * sizeof(*p->secrets));
  p->secrets[p->n_secrets++] =
      (struct secret_ref){gh__strdup(path), key, p->line};
}

/* Once user and group are known: who may read the secrets. */
void gh__cf_secrets_check(gh__parse *p) {
  const char *group = p->common->group, *user = p->common->user;
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

/* ---- [server] and [client] */

int gh__cf_k_admin(const gh__key *k, gh__kctx *c, const char *v) {
  gh__cfg_common *cm = c->obj;
  return gh__cf_set_hostport(c, k->name, v, &cm->admin_host, &cm->admin_port);
}

int gh__cf_k_tunnel(const gh__key *k, gh__kctx *c, const char *v) {
  gh__server_cfg *s = c->obj;
  return gh__cf_set_hostport(c, k->name, v, &s->tunnel_host, &s->tunnel_port);
}

/* user and group must exist when the file is read, so that `check` says
 * so with FILE:LINE; the process takes that identity once it has bound its
 * ports and read its keys (main.c). */
int gh__cf_k_user(const gh__key *k, gh__kctx *c, const char *v) {
  gh__cfg_common *cm = c->obj;
  if (!*v || !getpwnam(v))
    return gh__cf_why(c->err, c->errlen, "%s: no such user '%.64s'", k->name,
                      v);
  free(cm->user);
  cm->user = gh__strdup(v);
  return 0;
}

int gh__cf_k_group(const gh__key *k, gh__kctx *c, const char *v) {
  gh__cfg_common *cm = c->obj;
  if (!*v || !getgrnam(v))
    return gh__cf_why(c->err, c->errlen, "%s: no such group '%.64s'", k->name,
                      v);
  free(cm->group);
  cm->group = gh__strdup(v);
  return 0;
}

/* group alone would leave the process root with another gid: refused, not
 * silently half-done. */
int gh__cf_identity_check(gh__parse *p) {
  if (p->common->group && !p->common->user)
    return gh__cf_fail(
        p, gh__cf_key_line(p, "group"),
        "group = %s without user =: gatehouse would go on running as "
        "root; set user = too (e.g. user = gatehouse)",
        p->common->group);
  return 0;
}

/* A CRL file: read and parsed now, so that `check` and a reload name the
 * line of a file that holds none. */
static int key_crl(const gh__key *k, gh__kctx *c, const char *v, int *line) {
  char **dst = (char **)(void *)((char *)c->obj + k->offset);
  char *old = *dst;
  if (gh__cf_set_file(k, c, v) < 0)
    return GH_EINVAL;
  char *path = *dst;
  *dst = old;
  char why[300];
  if (gh__crl_file_check(path, why, sizeof(why)) < 0) {
    gh__cf_why(c->err, c->errlen, "%s: '%s': %s", k->name, path, why);
    free(path);
    return GH_EINVAL;
  }
  free(*dst);
  *dst = path;
  *line = c->line;
  return 0;
}

int gh__cf_k_client_crl(const gh__key *k, gh__kctx *c, const char *v) {
  return key_crl(k, c, v, &((gh__server_cfg *)c->obj)->client_crl_line);
}

int gh__cf_k_cgw_crl(const gh__key *k, gh__kctx *c, const char *v) {
  return key_crl(k, c, v, &((gh__client_gw *)c->obj)->crl_line);
}

/* ---- tokens: never in a message */

static int token_check(gh__kctx *c, const char *tok, size_t len,
                       const char *what) {
  if (len == 0)
    return gh__cf_why(c->err, c->errlen, "%s is empty", what);
  if (len < GH__TOKEN_MIN)
    return gh__cf_why(
        c->err, c->errlen,
        "%s is too short: a token needs at least %d characters so "
        "that it cannot be guessed (e.g. openssl rand -hex 32)",
        what, GH__TOKEN_MIN);
  if (len > GH__TOKEN_MAX)
    return gh__cf_why(c->err, c->errlen,
                      "%s is too long (at most %d characters)", what,
                      GH__TOKEN_MAX);
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)tok[i] <= 0x20 || (unsigned char)tok[i] >= 0x7f)
      return gh__cf_why(c->err, c->errlen,
                        "%s may hold only printable characters, without spaces",
                        what);
  return 0;
}

/* token_file: its content, less trailing blanks and newlines. */
static int token_read(gh__kctx *c, const char *v, char **out) {
  char *path = gh__cf_path_resolve(c->p->dir, v);
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = gh__file_read(path, &buf, &len);
  if (rc < 0) {
    gh__cf_why(c->err, c->errlen, "token_file: cannot read '%s': %s", path,
               strerror(-rc));
    free(path);
    return GH_EINVAL;
  }
  while (len > 0 && isspace(buf[len - 1]))
    len--;
  char what[300];
  snprintf(what, sizeof(what), "the token in '%.250s'", path);
  rc = token_check(c, (const char *)buf, len, what);
  if (rc == 0) {
    *out = gh__strndup((const char *)buf, len);
    gh__cf_secret_add(c->p, "token_file", path);
  }
  explicit_bzero(buf, len);
  free(buf);
  free(path);
  return rc;
}

static int sgw_push_token(gh__kctx *c, char *tok) {
  gh__server_gw *g = c->obj;
  if (g->n_tokens >= GH__TOKENS_MAX) {
    gh__cf_secret_free(tok);
    return gh__cf_why(c->err, c->errlen, "too many tokens (at most %d)",
                      GH__TOKENS_MAX);
  }
  g->tokens = gh__cf_xrealloc(g->tokens, (g->n_tokens + 1) * sizeof(char *));
  g->tokens[g->n_tokens++] = tok;
  return 0;
}

int gh__cf_k_sgw_token(const gh__key *k, gh__kctx *c, const char *v) {
  (void)k;
  if (token_check(c, v, strlen(v), "token") < 0)
    return GH_EINVAL;
  return sgw_push_token(c, gh__strdup(v));
}

int gh__cf_k_sgw_token_file(const gh__key *k, gh__kctx *c, const char *v) {
  char *tok = NULL;
  (void)k;
  if (token_read(c, v, &tok) < 0)
    return GH_EINVAL;
  return sgw_push_token(c, tok);
}

/* The admin endpoint's token: admin_token or admin_token_file, once. */
static int admin_token_set(gh__kctx *c, char *tok) {
  gh__cfg_common *cm = c->obj;
  if (cm->admin_token) {
    explicit_bzero(tok, strlen(tok));
    free(tok);
    return gh__cf_why(c->err, c->errlen,
                      "give admin_token or admin_token_file, once");
  }
  cm->admin_token = tok;
  return 0;
}

int gh__cf_k_admin_token(const gh__key *k, gh__kctx *c, const char *v) {
  (void)k;
  if (token_check(c, v, strlen(v), "admin_token") < 0)
    return GH_EINVAL;
  return admin_token_set(c, gh__strdup(v));
}

int gh__cf_k_admin_token_file(const gh__key *k, gh__kctx *c, const char *v) {
  char *tok = NULL;
  (void)k;
  if (token_read(c, v, &tok) < 0)
    return GH_EINVAL;
  return admin_token_set(c, tok);
}

/* A client's gateway has one token, given by token or token_file. */
static int cgw_one_token(gh__kctx *c) {
  if (((gh__client_gw *)c->obj)->token)
    return gh__cf_why(c->err, c->errlen,
                      "a client's gateway has one token: give token or "
                      "token_file, once");
  return 0;
}

int gh__cf_k_cgw_token(const gh__key *k, gh__kctx *c, const char *v) {
  (void)k;
  if (cgw_one_token(c) < 0 || token_check(c, v, strlen(v), "token") < 0)
    return GH_EINVAL;
  ((gh__client_gw *)c->obj)->token = gh__strdup(v);
  return 0;
}

int gh__cf_k_cgw_token_file(const gh__key *k, gh__kctx *c, const char *v) {
  (void)k;
  if (cgw_one_token(c) < 0)
    return GH_EINVAL;
  return token_read(c, v, &((gh__client_gw *)c->obj)->token);
}

/* ---- a client's [gateway ID] */

int gh__cf_k_cgw_server(const gh__key *k, gh__kctx *c, const char *v) {
  gh__client_gw *g = c->obj;
  char *host = NULL;
  uint16_t port;
  if (gh__cf_set_hostport(c, k->name, v, &host, &port) < 0)
    return GH_EINVAL;
  free(host);
  if (!host)
    return gh__cf_why(c->err, c->errlen,
                      "server: a host is needed (host:port)");
  if (g->n_servers >= GH__SERVERS_MAX)
    return gh__cf_why(c->err, c->errlen, "too many servers (at most %d)",
                      GH__SERVERS_MAX);
  g->servers = gh__cf_xrealloc(g->servers, (g->n_servers + 1) * sizeof(char *));
  g->servers[g->n_servers++] = gh__strdup(v);
  return 0;
}

int gh__cf_k_server_name(const gh__key *k, gh__kctx *c, const char *v) {
  gh_addr a;
  if (gh__addr_parse(v, &a) < 0 && !gh__hostname_valid(v))
    return gh__cf_why(c->err, c->errlen,
                      "%s: expected a host name, not '%.100s'", k->name, v);
  ((gh__client_gw *)c->obj)->server_name = gh__strdup(v);
  return 0;
}

/* ---- a client's [acl] and [acl GATEWAY] */

int gh__cf_k_acl(const gh__key *k, gh__kctx *c, const char *v) {
  char reason[256];
  if (gh__acl_add(c->obj, strcmp(k->name, "allow") == 0, v, c->line, reason,
                  sizeof(reason)) < 0)
    return gh__cf_why(c->err, c->errlen, "%s: %s", k->name, reason);
  return 0;
}

int gh__cf_k_acl_listen(const gh__key *k, gh__kctx *c, const char *v) {
  char reason[256];
  if (gh__acl_add_listen(c->obj, v, c->line, reason, sizeof(reason)) < 0)
    return gh__cf_why(c->err, c->errlen, "%s: %s", k->name, reason);
  return 0;
}
