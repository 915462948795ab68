/* The rules between sections, checked once the whole file is read:
 * keepalives, listeners that clash, references to gateways. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../log.h"
#include "../util.h"
#include "../console/console.h"
#include "keys.h"

/* ---- rules between sections */

static int keepalive_check(gh__parse *p) {
  if (p->common->keepalive_timeout_s > p->common->keepalive_s)
    return 0;
  int kat_line = gh__cf_key_line(p, "keepalive_timeout");
  int ka_line = gh__cf_key_line(p, "keepalive");
  int line = kat_line ? kat_line : ka_line ? ka_line : p->main_line;
  return gh__cf_fail(
      p, line,
      "keepalive_timeout (%u s) must be greater than keepalive (%u "
      "s)",
      p->common->keepalive_timeout_s, p->common->keepalive_s);
}

/* Whether two listeners on one port take the same address: the same host,
 * or a wildcard that covers the other. NULL (":port") and "::" (dual
 * stack) cover everything, 0.0.0.0 every IPv4 address; names are compared
 * as written, as the resolver is not asked. */
static int hosts_clash(const char *a, const char *b) {
  gh_addr x, y;
  if (!a || !b)
    return 1;
  int nx = gh__addr_parse(a, &x) == 0, ny = gh__addr_parse(b, &y) == 0;
  static const uint8_t zero[16];
  int wx6 = nx && x.family == GH_AF_INET6 && !memcmp(x.addr, zero, 16);
  int wy6 = ny && y.family == GH_AF_INET6 && !memcmp(y.addr, zero, 16);
  int wx4 = nx && x.family == GH_AF_INET && !memcmp(x.addr, zero, 4);
  int wy4 = ny && y.family == GH_AF_INET && !memcmp(y.addr, zero, 4);
  if (wx6 || wy6)
    return 1;
  if ((wx4 && (!ny || y.family == GH_AF_INET)) ||
      (wy4 && (!nx || x.family == GH_AF_INET)))
    return 1;
  if (nx && ny)
    return x.family == y.family && !memcmp(x.addr, y.addr, 16);
  if (nx || ny)
    return 0;
  return strcasecmp(a, b) == 0;
}

/* Two listeners of one kind on one place: a socket path, or a port. */
static int listens_clash(const gh__dest *a, const gh__dest *b) {
  if (a->listen_unix || b->listen_unix)
    return a->listen_unix && b->listen_unix &&
           strcmp(a->listen_host, b->listen_host) == 0;
  return a->listen_port == b->listen_port &&
         hosts_clash(a->listen_host, b->listen_host);
}

static int listen_check(gh__parse *p, size_t i) {
  const gh__server_cfg *s = p->s;
  const gh__dest *d = &s->dests[i];
  int line = d->key_line[GH__DK_LISTEN] ? d->key_line[GH__DK_LISTEN] : d->line;
  char hp[300];
  gh__dest_listen_text(d, hp, sizeof(hp));
  for (size_t j = 0; j < i; j++) {
    const gh__dest *o = &s->dests[j];
    if (o->type == GH__DEST_ONPREM && listens_clash(o, d))
      return gh__cf_fail(p, line,
                         "destination %s: listen %s clashes with destination "
                         "%s (line %d)",
                         d->name, hp, o->name,
                         o->key_line[GH__DK_LISTEN] ? o->key_line[GH__DK_LISTEN]
                                                    : o->line);
  }
  if (d->listen_unix)
    return 0; /* a socket path takes no port */
  if (s->tunnel_port == d->listen_port &&
      hosts_clash(s->tunnel_host, d->listen_host))
    return gh__cf_fail(p, line,
                       "destination %s: listen %s clashes with tunnel_listen "
                       "(line %d)",
                       d->name, hp, gh__cf_key_line(p, "tunnel_listen"));
  if (s->common.admin_port == d->listen_port &&
      hosts_clash(s->common.admin_host, d->listen_host))
    return gh__cf_fail(p, line,
                       "destination %s: listen %s clashes with admin_listen "
                       "(line %d)",
                       d->name, hp, gh__cf_key_line(p, "admin_listen"));
  return 0;
}

static int client_port_check(gh__parse *p, size_t i) {
  const gh__dest *d = &p->s->dests[i];
  for (size_t j = 0; j < i; j++) {
    const gh__dest *o = &p->s->dests[j];
    if (o->type != GH__DEST_CLOUD || strcmp(o->gateway, d->gateway) != 0)
      continue;
    if (d->listen_unix || o->listen_unix) {
      if (listens_clash(o, d))
        return gh__cf_fail(p, d->key_line[GH__DK_LISTEN],
                           "destination %s: listen unix:%s is already used "
                           "by destination %s (line %d) of gateway %s",
                           d->name, d->listen_host, o->name,
                           o->key_line[GH__DK_LISTEN], d->gateway);
      continue;
    }
    if (o->client_port == d->client_port)
      return gh__cf_fail(p, d->key_line[GH__DK_CLIENT_PORT],
                         "destination %s: client_port %u is already used by "
                         "destination %s (line %d) of gateway %s",
                         d->name, d->client_port, o->name,
                         o->key_line[GH__DK_CLIENT_PORT], d->gateway);
  }
  return 0;
}

static int server_gw_find(const gh__server_cfg *s, const char *id) {
  for (size_t i = 0; i < s->n_gateways; i++)
    if (strcmp(s->gateways[i].id, id) == 0)
      return 1;
  return 0;
}

/* The admin endpoint shows the whole topology: off loopback, only to who
 * has its token. */
static int admin_access_check(gh__parse *p, const gh__cfg_common *cm) {
  if (!cm->admin_tls_cert != !cm->admin_tls_key)
    return gh__cf_fail(
        p,
        gh__cf_key_line(p, cm->admin_tls_cert ? "admin.tls.cert"
                                              : "admin.tls.key"),
        "admin.tls.cert and admin.tls.key go together");
  if ((cm->admin_host || cm->admin_port) && !cm->admin_token &&
      !gh__console_loopback(cm->admin_host))
    return gh__cf_fail(p, gh__cf_key_line(p, "admin_listen"),
                       "admin_listen %s is not loopback: it needs admin_token "
                       "or admin_token_file",
                       cm->admin_host);
  return 0;
}

int gh__cf_server_finish(gh__parse *p) {
  gh__server_cfg *s = p->s;
  if (!p->main_line)
    return gh__cf_fail(p, 0, "no [server] section");
  if (!s->tunnel_port)
    return gh__cf_fail(p, p->main_line,
                       "[server] needs tunnel_listen = host:port");
  if (!s->cert || !s->key)
    return gh__cf_fail(p, p->main_line, "[server] needs %s = FILE (PEM)",
                       s->cert ? "key" : "cert");
  if (keepalive_check(p) < 0 || gh__cf_identity_check(p) < 0 ||
      admin_access_check(p, &s->common) < 0)
    return GH_EINVAL;
  if (s->client_crl && !s->client_ca)
    return gh__cf_fail(
        p, s->client_crl_line,
        "client_crl needs client_ca (the CA whose certificates it "
        "revokes)");
  if (s->common.admin_host || s->common.admin_port)
    if (s->common.admin_port == s->tunnel_port &&
        hosts_clash(s->common.admin_host, s->tunnel_host))
      return gh__cf_fail(p, gh__cf_key_line(p, "admin_listen"),
                         "admin_listen clashes with tunnel_listen (line %d)",
                         gh__cf_key_line(p, "tunnel_listen"));
  for (size_t i = 0; i < s->n_dests; i++) {
    const gh__dest *d = &s->dests[i];
    if (!server_gw_find(s, d->gateway))
      return gh__cf_fail(p, d->key_line[GH__DK_GATEWAY],
                         "destination %s: no [gateway %s] in this file",
                         d->name, d->gateway);
    int rc = d->type == GH__DEST_CLOUD ? client_port_check(p, i)
                                       : listen_check(p, i);
    if (rc < 0)
      return rc;
  }
  return 0;
}

int gh__cf_client_finish(gh__parse *p) {
  const gh__client_cfg *c = p->c;
  if (!c->n_gateways)
    return gh__cf_fail(p, 0,
                       "no [gateway ID] section: a client needs at least one");
  for (size_t i = 0; i < c->n_locals; i++) {
    const gh__local_dest *l = &c->locals[i];
    size_t g = 0;
    while (g < c->n_gateways && strcmp(c->gateways[g].id, l->gateway) != 0)
      g++;
    if (g == c->n_gateways)
      return gh__cf_fail(p, l->gateway_line,
                         "destination %s: no [gateway %s] in this file",
                         l->name, l->gateway);
  }
  if (gh__cf_identity_check(p) < 0 || admin_access_check(p, &c->common) < 0)
    return GH_EINVAL;
  for (size_t i = 0; i < c->n_gw_acls; i++) {
    const gh__gw_acl *a = &c->gw_acls[i];
    size_t g = 0;
    while (g < c->n_gateways && strcmp(c->gateways[g].id, a->gateway) != 0)
      g++;
    if (g == c->n_gateways)
      return gh__cf_fail(p, a->line, "[acl %s]: no [gateway %s] in this file",
                         a->gateway, a->gateway);
  }
  return keepalive_check(p);
}
