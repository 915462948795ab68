/* Opening a section (one function for every named kind) and what a
 * section needs once it ends. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "../log.h"
#include "../util.h"
#include "parse.h"

/* ---- sections */

static int sgw_end(gh__parse *p) {
  if (cur_sgw(p)->n_tokens == 0)
    return gh__cf_fail(
        p, p->sec_line,
        "[gateway %s] has no token: add token = or token_file = (at "
        "least %d characters)",
        p->sec_name, GH__TOKEN_MIN);
  return 0;
}

static int cgw_end(gh__parse *p) {
  gh__client_gw *g = cur_cgw(p);
  const char *id = p->sec_name;
  if (!g->n_servers)
    return gh__cf_fail(p, p->sec_line, "[gateway %s] needs server = host:port",
                       id);
  if (!g->token)
    return gh__cf_fail(
        p, p->sec_line,
        "[gateway %s] needs token = or token_file = (the gateway's "
        "token on the server)",
        id);
  if (!g->ca)
    return gh__cf_fail(p, p->sec_line,
                       "[gateway %s] needs ca = FILE, the CA the server's "
                       "certificate must chain to",
                       id);
  if (!g->cert != !g->key)
    return gh__cf_fail(p, p->sec_line,
                       "[gateway %s]: cert and key go together; give both or "
                       "neither",
                       id);
  if (!g->connections)
    g->connections = 1;
  return 0;
}

static int dest_end(gh__parse *p) {
  gh__dest *d = cur_dest(p);
  char reason[512];
  int idx;
  if (gh__cf_dest_finish(d, &idx, reason, sizeof(reason)) < 0)
    return gh__cf_fail(
        p, idx >= 0 && d->key_line[idx] ? d->key_line[idx] : d->line, "%s",
        reason);
  gh_addr a;
  if (gh__addr_parse(d->resource_host, &a) == 0 && gh__addr_unspecified(&a))
    return gh__cf_fail(
        p, d->key_line[GH__DK_RESOURCE],
        "resource: %s is an unspecified address, which connects to "
        "the local host; write the address meant (e.g. 127.0.0.1)",
        d->resource_host);
  return 0;
}

static int ldest_end(gh__parse *p) {
  if (!cur_ldest(p)->gateway)
    return gh__cf_fail(p, p->sec_line,
                       "[destination %s] needs gateway = ID, the gateway whose "
                       "server pushes destination %s",
                       p->sec_name, p->sec_name);
  return 0;
}

int gh__cf_section_end(gh__parse *p) {
  switch (p->sec) {
  case SEC_SGW:
    return sgw_end(p);
  case SEC_CGW:
    return cgw_end(p);
  case SEC_DEST:
    return dest_end(p);
  case SEC_LDEST:
    return ldest_end(p);
  default:
    return 0;
  }
}

static int sec_dup(gh__parse *p, const char *what, int first) {
  return gh__cf_fail(p, p->line, "duplicate section [%s] (first at line %d)",
                     what, first);
}

static int open_server(gh__parse *p) {
  if (p->main_line)
    return sec_dup(p, p->role == ROLE_SERVER ? "server" : "client",
                   p->main_line);
  p->main_line = p->line;
  p->sec = p->role == ROLE_SERVER ? SEC_SERVER : SEC_CLIENT;
  return 0;
}

/* Opening a named section: [KIND NAME] must not repeat, their number is
 * bounded, and the new element (of `size` bytes in *v, with its name and
 * line at name_off and line_off) starts zeroed. NULL once failed. */
typedef struct sec_kind {
  const char *kind, *many; /* "gateway", "gateways" */
  size_t max, size, name_off, line_off;
} sec_kind;

static void *sec_append(gh__parse *p, const sec_kind *k, void **v, size_t *n,
                        const char *name) {
  for (size_t i = 0; i < *n; i++) {
    const char *e = (const char *)*v + i * k->size;
    if (strcmp(*(char *const *)(const void *)(e + k->name_off), name) == 0) {
      char what[300];
      snprintf(what, sizeof(what), "%s %s", k->kind, name);
      sec_dup(p, what, *(const int *)(const void *)(e + k->line_off));
      return NULL;
    }
  }
  if (*n >= k->max) {
    gh__cf_fail(p, p->line, "too many %s (at most %zu)", k->many, k->max);
    return NULL;
  }
  *v = gh__cf_xrealloc(*v, (*n + 1) * k->size);
  char *e = (char *)*v + *n * k->size;
  memset(e, 0, k->size);
  *(char **)(void *)(e + k->name_off) = gh__strdup(name);
  *(int *)(void *)(e + k->line_off) = p->line;
  p->sec_idx = (*n)++;
  return e;
}

#define GH__SEC_KIND(kind, many, max, type, name)                              \
  { kind, many, max, sizeof(type), offsetof(type, name), offsetof(type, line) }

static int open_gateway(gh__parse *p, const char *id) {
  static const sec_kind sgw =
      GH__SEC_KIND("gateway", "gateways", GH__GATEWAYS_MAX, gh__server_gw, id);
  static const sec_kind cgw =
      GH__SEC_KIND("gateway", "gateways", GH__GATEWAYS_MAX, gh__client_gw, id);
  if (p->role == ROLE_SERVER) {
    gh__server_gw *g =
        sec_append(p, &sgw, (void **)&p->s->gateways, &p->s->n_gateways, id);
    if (!g)
      return GH_EINVAL;
    g->tunnels_max = GH__GW_TUNNELS_MAX;
    g->streams_max = GH__GW_STREAMS_MAX;
    p->sec = SEC_SGW;
    return 0;
  }
  if (!sec_append(p, &cgw, (void **)&p->c->gateways, &p->c->n_gateways, id))
    return GH_EINVAL;
  p->sec = SEC_CGW;
  return 0;
}

static int open_dest(gh__parse *p, const char *name) {
  static const sec_kind k = GH__SEC_KIND("destination", "destinations",
                                         GH__DESTS_MAX, gh__dest, name);
  gh__dest *d = sec_append(p, &k, (void **)&p->s->dests, &p->s->n_dests, name);
  if (!d)
    return GH_EINVAL;
  d->file = gh__strdup(p->s->file);
  p->sec = SEC_DEST;
  return 0;
}

static int open_local_dest(gh__parse *p, const char *name) {
  static const sec_kind k = GH__SEC_KIND("destination", "destinations",
                                         GH__DESTS_MAX, gh__local_dest, name);
  if (!sec_append(p, &k, (void **)&p->c->locals, &p->c->n_locals, name))
    return GH_EINVAL;
  p->sec = SEC_LDEST;
  return 0;
}

static int open_acl(gh__parse *p, const char *gateway) {
  static const sec_kind k = GH__SEC_KIND("acl", "[acl GATEWAY] sections",
                                         GH__GATEWAYS_MAX, gh__gw_acl, gateway);
  p->sec = SEC_ACL;
  if (!*gateway) {
    if (p->acl_line)
      return sec_dup(p, "acl", p->acl_line);
    p->acl_line = p->line;
    p->c->acl.present = 1;
    return 0;
  }
  gh__gw_acl *a =
      sec_append(p, &k, (void **)&p->c->gw_acls, &p->c->n_gw_acls, gateway);
  if (!a)
    return GH_EINVAL;
  a->acl.present = 1; /* an empty section allows nothing */
  return 0;
}

const gh__acl *gh__client_acl(const gh__client_cfg *cfg, const char *gateway) {
  for (size_t i = 0; gateway && i < cfg->n_gw_acls; i++)
    if (strcmp(cfg->gw_acls[i].gateway, gateway) == 0)
      return &cfg->gw_acls[i].acl;
  return &cfg->acl;
}

static int unknown_section(gh__parse *p, const char *kind) {
  const int srv = p->role == ROLE_SERVER;
  int other = srv ? strcmp(kind, "client") == 0 || strcmp(kind, "acl") == 0
                  : strcmp(kind, "server") == 0;
  if (!gh__cf_key_showable(kind))
    return gh__cf_fail(p, p->line, "unknown section");
  if (other)
    return gh__cf_fail(p, p->line,
                       "unknown section [%s]: it belongs in a %s's file", kind,
                       srv ? "client" : "server");
  return gh__cf_fail(p, p->line, "unknown section [%s]", kind);
}

int gh__cf_section_open(gh__parse *p, const char *kind, const char *name) {
  const int srv = p->role == ROLE_SERVER;
  int named = strcmp(kind, "gateway") == 0 || strcmp(kind, "destination") == 0;
  int plain = strcmp(kind, srv ? "server" : "client") == 0;
  int acl = !srv && strcmp(kind, "acl") == 0; /* [acl] or [acl GATEWAY] */
  if (!named && !plain && !acl)
    return unknown_section(p, kind);
  if (plain && *name)
    return gh__cf_fail(p, p->line, "[%s] takes no name", kind);
  if (named && !*name)
    return gh__cf_fail(p, p->line, "[%s] needs a name: [%s %s]", kind, kind,
                       strcmp(kind, "gateway") == 0 ? "ID" : "NAME");
  if ((named || (acl && *name)) && !gh__cf_name_valid(name))
    return gh__cf_fail(p, p->line,
                       "bad %s name: use letters, digits, '.', '_' and '-' (at "
                       "most %d)",
                       kind, GH__NAME_MAX);
  /* gh__cf_name_valid() bounds it to GH__NAME_MAX, which sec_name holds. */
  size_t nlen = strnlen(name, sizeof(p->sec_name) - 1);
  memcpy(p->sec_name, name, nlen);
  p->sec_name[nlen] = '\0';
  if (strcmp(kind, "gateway") == 0)
    return open_gateway(p, name);
  if (strcmp(kind, "destination") == 0)
    return srv ? open_dest(p, name) : open_local_dest(p, name);
  if (acl)
    return open_acl(p, name);
  return open_server(p);
}
