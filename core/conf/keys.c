/* The one key table: every key of every section as a row of data, the
 * generic setters by type, and reading one "key = value" of a file. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "../util.h"
#include "../words.h"
#include "keys.h"

#define CM(f) offsetof(gh__cfg_common, f)
#define SV(f) offsetof(gh__server_cfg, f)
#define CL(f) offsetof(gh__client_cfg, f)
#define SG(f) offsetof(gh__server_gw, f)
#define CG(f) offsetof(gh__client_gw, f)
#define DS(f) offsetof(gh__dest, f)

#define K_COMMON GH__K_COMMON
#define K_SERVER GH__K_SERVER
#define K_CLIENT GH__K_CLIENT
#define K_SGW GH__K_SGW
#define K_CGW GH__K_CGW
#define K_DEST GH__K_DEST
#define K_ACL GH__K_ACL
#define MULTI GH__K_MULTI
#define SECRET GH__K_SECRET
#define REQ GH__K_REQUIRED

static int set_log_format(const gh__key *k, gh__kctx *c, const char *v);

/* {name, type, min, max, offset, flags, setter, slot, default, help} */
const gh__key gh__keys[] = {
    /* ---- [server] */
    {"tunnel_listen", GH__KT_HOSTPORT, 0, 0, 0, K_SERVER | REQ, gh__cf_k_tunnel,
     -1, NULL, "where clients dial in (host:port, [v6]:port or :port)"},
    {"cert", GH_OPT_FILE, 0, 0, SV(cert), K_SERVER | REQ, NULL, -1, NULL,
     "the server's certificate chain (PEM)"},
    {"key", GH_OPT_FILE, 0, 0, SV(key), K_SERVER | REQ | SECRET, NULL, -1, NULL,
     "the server's private key (PEM)"},
    {"client_ca", GH_OPT_FILE, 0, 0, SV(client_ca), K_SERVER, NULL, -1, NULL,
     "clients must also present a certificate signed by this CA (PEM)"},
    {"client_crl", GH_OPT_FILE, 0, 0, SV(client_crl), K_SERVER,
     gh__cf_k_client_crl, -1, NULL,
     "with client_ca: PEM CRL(s); a revoked client certificate is refused"},
    {"unauth_max", GH_OPT_INT, 1, 65536, SV(unauth_max), K_SERVER, NULL, -1,
     "1024",
     "tunnel connections not yet authenticated, at once; when full the "
     "oldest is closed"},
    {"unauth_per_source", GH_OPT_INT, 1, 65536, SV(unauth_per_source), K_SERVER,
     NULL, -1, "32",
     "...of them per source address (IPv6: per /64); past it a new one is "
     "closed at once"},
    {"handshake_timeout", GH__KT_SECONDS, 1, 3600, SV(handshake_timeout_s),
     K_SERVER, NULL, -1, "10", "seconds from accept to an accepted HELLO"},
    /* ---- [server] and [client]: gh__cfg_common */
    {"admin_listen", GH__KT_HOSTPORT, 0, 0, 0, K_COMMON, gh__cf_k_admin, -1,
     NULL, "/metrics (Prometheus text) and /status (JSON); absent: none"},
    {"admin_token", GH_OPT_STRING, 0, 0, 0, K_COMMON | SECRET,
     gh__cf_k_admin_token, -1, NULL,
     "a bearer token the admin endpoint requires (all but /metrics); "
     "needed when admin_listen is not loopback (at least 16 printable "
     "characters)"},
    {"admin_token_file", GH_OPT_FILE, 0, 0, 0, K_COMMON | SECRET,
     gh__cf_k_admin_token_file, -1, NULL,
     "a file holding the admin token (trailing blanks dropped)"},
    {"admin.tls.cert", GH_OPT_FILE, 0, 0, CM(admin_tls_cert), K_COMMON, NULL,
     -1, NULL, "the admin endpoint speaks HTTPS with this certificate (PEM)"},
    {"admin.tls.key", GH_OPT_FILE, 0, 0, CM(admin_tls_key), K_COMMON | SECRET,
     NULL, -1, NULL, "...and this private key (PEM)"},
    {"plugin_dir", GH__KT_DIR, 0, 0, CM(plugin_dirs), K_COMMON | MULTI, NULL,
     -1, "the built-in one",
     "a directory of protocol plugins (NAME.so); repeat it for several, "
     "searched in order; once given, the built-in one is searched only if "
     "listed too"},
    {"user", GH__KT_NAME, 0, 0, CM(user), K_COMMON, gh__cf_k_user, -1, NULL,
     "the user to run as once the ports are bound and the keys read"},
    {"group", GH__KT_NAME, 0, 0, CM(group), K_COMMON, gh__cf_k_group, -1, NULL,
     "the group to run as (needs user)"},
    {"log_level", GH__KT_LOG_LEVEL, 0, 0, CM(log_level), K_COMMON, NULL, -1,
     "info", "error | warn | info | debug | trace"},
    {"log_format", GH__KT_ENUM, 0, 0, CM(log_format), K_COMMON, set_log_format,
     -1, "text",
     "text | json (one JSON object a line: time, level, subject, gateway, "
     "destination, stream, message)"},
    {"drain_timeout", GH__KT_SECONDS, 0, 86400, CM(drain_timeout_s), K_COMMON,
     NULL, -1, "30", "seconds streams may take to finish at a stop"},
    {"keepalive", GH__KT_SECONDS, 1, 3600, CM(keepalive_s), K_COMMON, NULL, -1,
     "10", "seconds between pings on an idle tunnel"},
    {"keepalive_timeout", GH__KT_SECONDS, 2, 86400, CM(keepalive_timeout_s),
     K_COMMON, NULL, -1, "30",
     "seconds of silence before a tunnel is dropped (more than keepalive)"},
    {"connecting_max", GH_OPT_INT, 1, 65536, CM(connecting_max), K_COMMON, NULL,
     -1, "1024", "per tunnel: resources being connected to at once"},
    {"open_queue_max", GH_OPT_INT, 0, 65536, CM(open_queue_max), K_COMMON, NULL,
     -1, "16384",
     "per tunnel: more opens that wait their turn (0: refuse them)"},
    /* ---- [client] */
    {"reconnect_max", GH__KT_SECONDS, 1, 86400, CL(reconnect_max_s), K_CLIENT,
     NULL, -1, "30", "the longest wait between two attempts to reconnect"},
    /* ---- a server's [gateway ID] */
    {"token", GH_OPT_STRING, 0, 0, 0, K_SGW | MULTI | SECRET,
     gh__cf_k_sgw_token, -1, NULL,
     "a token the gateway's clients may present (at least 16 printable "
     "characters); several may be given"},
    {"token_file", GH_OPT_FILE, 0, 0, 0, K_SGW | MULTI | SECRET,
     gh__cf_k_sgw_token_file, -1, NULL,
     "a file holding a token (trailing blanks dropped)"},
    {"tunnels_max", GH_OPT_INT, 1, 65536, SG(tunnels_max), K_SGW, NULL, -1,
     "64", "tunnels of this gateway up at once; the next HELLO is refused"},
    {"streams_max", GH_OPT_INT, 1, 16777216, SG(streams_max), K_SGW, NULL, -1,
     "65536",
     "streams open at once over its tunnels, both directions; past it new "
     "ones are refused"},
    /* ---- a client's [gateway ID] */
    {"server", GH__KT_HOSTPORT, 0, 0, 0, K_CGW | MULTI | REQ,
     gh__cf_k_cgw_server, -1, NULL,
     "a server (host:port); several may be listed: the client keeps tunnels "
     "to each"},
    {"token", GH_OPT_STRING, 0, 0, 0, K_CGW | MULTI | SECRET,
     gh__cf_k_cgw_token, -1, NULL,
     "the gateway's token on the server (token or token_file, once)"},
    {"token_file", GH_OPT_FILE, 0, 0, 0, K_CGW | MULTI | SECRET,
     gh__cf_k_cgw_token_file, -1, NULL, "a file holding the token"},
    {"ca", GH_OPT_FILE, 0, 0, CG(ca), K_CGW | REQ, NULL, -1, NULL,
     "the CA the server's certificate must chain to (PEM)"},
    {"crl", GH_OPT_FILE, 0, 0, CG(crl), K_CGW, gh__cf_k_cgw_crl, -1, NULL,
     "PEM CRL(s) of that CA; a revoked server certificate is refused"},
    {"cert", GH_OPT_FILE, 0, 0, CG(cert), K_CGW, NULL, -1, NULL,
     "the client's certificate, when the server sets client_ca (with key)"},
    {"key", GH_OPT_FILE, 0, 0, CG(key), K_CGW | SECRET, NULL, -1, NULL,
     "the client's private key (with cert)"},
    {"server_name", GH__KT_NAME, 0, 0, CG(server_name), K_CGW,
     gh__cf_k_server_name, -1, "the host of each server",
     "the name checked in the server's certificate"},
    {"connections", GH_OPT_INT, 1, 64, CG(connections), K_CGW, NULL, -1, "1",
     "parallel tunnels to each server, for high availability"},
    /* ---- a server's [destination NAME] */
    {"gateway", GH__KT_NAME, 0, 0, DS(gateway), K_DEST | REQ, gh__cf_ds_gateway,
     GH__DK_GATEWAY, NULL, "the gateway whose clients serve it"},
    {"type", GH__KT_ENUM, 0, 0, DS(type), K_DEST | REQ, gh__cf_ds_type,
     GH__DK_TYPE, NULL,
     "onprem (the server listens, the client connects) | cloud (the client "
     "listens, the server connects)"},
    {"listen", GH__KT_HOSTPORT, 0, 0, 0, K_DEST, gh__cf_ds_listen,
     GH__DK_LISTEN, NULL,
     "onprem: where the server listens (host:port or unix:/PATH); cloud: "
     "unix:/PATH, a socket path the client listens on, in place of "
     "client_port"},
    {"client_port", GH_OPT_INT, 1, 65535, DS(client_port), K_DEST,
     gh__cf_ds_client_port, GH__DK_CLIENT_PORT, NULL,
     "cloud: the port the client listens on"},
    {"client_bind", GH__KT_NAME, 0, 0, DS(client_bind), K_DEST,
     gh__cf_ds_client_bind, GH__DK_CLIENT_BIND, "127.0.0.1",
     "cloud: the address the client listens on"},
    {"resource", GH__KT_HOSTPORT, 0, 0, 0, K_DEST | REQ, gh__cf_ds_resource,
     GH__DK_RESOURCE, NULL,
     "where the other end connects (host:port, or unix:/PATH for a socket)"},
    {"protocol", GH__KT_CHAIN, 0, 0, 0, K_DEST, gh__cf_ds_protocol, -1, "tcp",
     "the protocol chain of both sides (tcp, udp, tls, http, https, unix, "
     "or handlers joined by '+')"},
    {"listen.protocol", GH__KT_CHAIN, 0, 0, DS(listen_proto), K_DEST,
     gh__cf_ds_side_proto, GH__DK_LISTEN_PROTO, "tcp",
     "the listen side's chain (unix by default for listen = unix:/PATH)"},
    {"resource.protocol", GH__KT_CHAIN, 0, 0, DS(resource_proto), K_DEST,
     gh__cf_ds_side_proto, GH__DK_RESOURCE_PROTO, "tcp",
     "the resource side's chain (unix by default for resource = unix:/PATH)"},
    {"allow", GH__KT_RULE, 0, 0, 0, K_DEST | MULTI, gh__cf_ds_allow,
     GH__DK_ALLOW, "everyone",
     "sources allowed to connect: addresses, CIDR blocks, ranges a-b, "
     "comma-separated (a Unix-socket application has no address: refused)"},
    {"connect_timeout", GH__KT_SECONDS, 1, 3600, DS(connect_timeout_ms), K_DEST,
     gh__cf_ds_connect_timeout, GH__DK_CONNECT_TIMEOUT, "10",
     "seconds to connect to the resource, a queued open's wait included"},
    /* ---- a client's [acl] and [acl GATEWAY] */
    {"allow", GH__KT_RULE, 0, 0, 0, K_ACL | MULTI, gh__cf_k_acl, -1, NULL,
     "a resource the servers may reach: *, HOST:PORTS, or unix:GLOB for "
     "socket paths (only unix: rules match a path); first match wins"},
    {"deny", GH__KT_RULE, 0, 0, 0, K_ACL | MULTI, gh__cf_k_acl, -1, NULL,
     "a resource the servers may not reach (same forms as allow)"},
    {"listen", GH__KT_RULE, 0, 0, 0, K_ACL | MULTI, gh__cf_k_acl_listen, -1,
     "loopback, ports 1024-65535",
     "where a cloud destination may make this client listen (HOST:PORTS, "
     "or unix:GLOB for a socket path; paths have no default)"},
};
const size_t gh__n_keys = GH__ARRAY_LEN(gh__keys);

const gh__key *gh__cf_key_find(uint32_t sec, const char *name) {
  for (size_t i = 0; i < gh__n_keys; i++)
    if ((gh__keys[i].flags & sec) && strcmp(gh__keys[i].name, name) == 0)
      return &gh__keys[i];
  return NULL;
}

static uint32_t sec_flag(int sec) {
  switch (sec) {
  case SEC_SERVER:
    return GH__K_SERVER;
  case SEC_CLIENT:
    return GH__K_CLIENT;
  case SEC_SGW:
    return GH__K_SGW;
  case SEC_CGW:
    return GH__K_CGW;
  case SEC_DEST:
    return GH__K_DEST;
  case SEC_ACL:
    return GH__K_ACL;
  default:
    return 0;
  }
}

int gh__cf_key_line(const gh__parse *p, const char *name) {
  const gh__key *k = gh__cf_key_find(
      p->role == ROLE_SERVER ? GH__K_SERVER : GH__K_CLIENT, name);
  return k ? p->seen[k - gh__keys] : 0;
}

void gh__cf_keys_open(gh__parse *p) {
  uint32_t f = sec_flag(p->sec);
  for (size_t i = 0; i < gh__n_keys; i++)
    if (gh__keys[i].flags & f)
      p->seen[i] = 0;
}

/* ---- generic setters, by type */

static void *slot(const gh__key *k, gh__kctx *c) {
  return (char *)c->obj + k->offset;
}

int gh__cf_set_u32(const gh__key *k, gh__kctx *c, const char *v) {
  uint32_t min = (uint32_t)k->min, max = (uint32_t)k->max;
  if (gh__word_u32(v, min, max, slot(k, c)) < 0)
    return gh__cf_why(c->err, c->errlen,
                      k->type == GH__KT_SECONDS
                          ? "%s must be a number of seconds from %u to %u"
                          : "%s must be a number from %u to %u",
                      k->name, min, max);
  return 0;
}

int gh__cf_set_file(const gh__key *k, gh__kctx *c, const char *v) {
  char *path = gh__cf_path_resolve(c->p->dir, v);
  int rc = gh__cf_file_check(path);
  if (rc < 0) {
    gh__cf_why(c->err, c->errlen, "%s: cannot read '%s': %s", k->name, path,
               strerror(-rc));
    free(path);
    return GH_EINVAL;
  }
  *(char **)slot(k, c) = path;
  if (k->flags & GH__K_SECRET)
    gh__cf_secret_add(c->p, k->name, path);
  return 0;
}

int gh__cf_set_hostport(gh__kctx *c, const char *key, const char *v,
                        char **host, uint16_t *port) {
  if (gh__hostport_parse(v, host, port) < 0)
    return gh__cf_why(c->err, c->errlen,
                      "%s: expected host:port, [v6]:port or :port, not "
                      "'%.100s'",
                      key, v);
  return 0;
}

static int set_log_level(const gh__key *k, gh__kctx *c, const char *v) {
  int level = gh__log_parse_level(v);
  if (level < 0)
    return gh__cf_why(
        c->err, c->errlen,
        "%s must be error, warn, info, debug or trace, not '%.40s'", k->name,
        v);
  *(int *)slot(k, c) = level;
  return 0;
}

static int set_log_format(const gh__key *k, gh__kctx *c, const char *v) {
  int f = gh__log_parse_format(v);
  if (f < 0)
    return gh__cf_why(c->err, c->errlen, "%s must be text or json, not '%.40s'",
                      k->name, v);
  *(int *)slot(k, c) = f;
  return 0;
}

/* Appended to a NULL-terminated list: the row is repeatable. */
static int set_dir(const gh__key *k, gh__kctx *c, const char *v) {
  char ***list = slot(k, c);
  size_t n = 0;
  while (*list && (*list)[n])
    n++;
  *list = gh__xrealloc(*list, (n + 2) * sizeof(**list));
  (*list)[n] = gh__cf_path_resolve(c->p->dir, v);
  (*list)[n + 1] = NULL;
  return 0;
}

static gh__key_set setter(const gh__key *k) {
  if (k->set)
    return k->set;
  switch (k->type) {
  case GH_OPT_INT:
  case GH__KT_SECONDS:
    return gh__cf_set_u32;
  case GH_OPT_FILE:
    return gh__cf_set_file;
  case GH__KT_LOG_LEVEL:
    return set_log_level;
  case GH__KT_DIR:
    return set_dir;
  default:
    return NULL; /* cannot be: every other row has its own */
  }
}

/* ---- one "key = value" of a file */

static void *section_obj(gh__parse *p, const gh__key *k) {
  switch (p->sec) {
  case SEC_SERVER:
  case SEC_CLIENT:
    if ((k->flags & GH__K_COMMON) == GH__K_COMMON)
      return p->common;
    return p->sec == SEC_SERVER ? (void *)p->s : (void *)p->c;
  case SEC_SGW:
    return cur_sgw(p);
  case SEC_CGW:
    return cur_cgw(p);
  default:
    return cur_acl(p);
  }
}

static int unknown_key(gh__parse *p, const char *name) {
  char sd[300];
  gh__cf_sec_desc(p, sd, sizeof(sd));
  if (!gh__cf_key_showable(name))
    return gh__cf_fail(p, p->line, "unknown key in %s", sd);
  return gh__cf_fail(p, p->line, "unknown key '%s' in %s", name, sd);
}

static int apply_key(gh__parse *p, const char *name, const char *value) {
  char sd[300], reason[768] = "";
  const gh__key *k = gh__cf_key_find(sec_flag(p->sec), name);
  if (!k)
    return unknown_key(p, name);
  size_t i = (size_t)(k - gh__keys);
  if (!(k->flags & GH__K_MULTI) && p->seen[i])
    return gh__cf_fail(p, p->line, "%s is already set in %s (line %d)", name,
                       gh__cf_sec_desc(p, sd, sizeof(sd)), p->seen[i]);
  if (!*value)
    return gh__cf_fail(p, p->line, "%s has no value", name);
  p->seen[i] = p->line;
  gh__kctx c = {p, section_obj(p, k), p->line, reason, sizeof(reason)};
  if (setter(k)(k, &c, value) < 0)
    return gh__cf_fail(p, p->line, "%s", reason);
  return 0;
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
  switch (p->sec) {
  case SEC_SERVER:
  case SEC_CLIENT:
  case SEC_SGW:
  case SEC_CGW:
  case SEC_ACL:
    rc = apply_key(p, name, value);
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
  return rc == 0;
}
