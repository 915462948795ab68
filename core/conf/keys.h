/* The one key table (keys.c), its setters (setters.c, and dest.c for
 * [destination]) and secrets. */
#ifndef GH_CONF_KEYS_H
#define GH_CONF_KEYS_H

#include "parse.h"

/* Every key of [server], [client], [gateway ID] (server and client forms),
 * [destination NAME] and [acl] is a row: its type (the SDK's GH_OPT_* or
 * one of the core's kinds below), bounds, where its value goes (offset in
 * the section's struct), flags, and the help the reference prints
 * (`gatehouse reference`, docs/configuration.md). A row without a setter
 * uses the generic one of its type. */

/* The core's own kinds of value, after the SDK's GH_OPT_* */
#define GH__KT_SECONDS 16   /* a number of seconds within [min, max] */
#define GH__KT_LOG_LEVEL 17 /* error | warn | info | debug | trace */
/* directories, resolved, read later: a NULL-terminated char ** */
#define GH__KT_DIR 18
#define GH__KT_HOSTPORT 19  /* host:port, [v6]:port or :port */
#define GH__KT_NAME 20      /* an id, a user or group name, a host name */
#define GH__KT_RULE 21      /* an address rule: allow/deny/listen */
#define GH__KT_CHAIN 22     /* a protocol chain: tcp, tcp+tls+http */
#define GH__KT_ENUM 23      /* one of the words the help lists */

/* Flags of a row */
#define GH__K_MULTI 0x1u /* may be given several times */
/* a secret (never logged; its file's mode warned) */
#define GH__K_SECRET 0x2u
#define GH__K_REQUIRED 0x4u
/* ...and the sections it is read in */
#define GH__K_SERVER 0x100u /* [server]; with GH__K_CLIENT: gh__cfg_common */
#define GH__K_CLIENT 0x200u /* [client] */
#define GH__K_SGW 0x400u    /* a server's [gateway ID] */
#define GH__K_CGW 0x800u    /* a client's [gateway ID] */
#define GH__K_DEST 0x1000u  /* a server's [destination NAME] */
#define GH__K_ACL 0x2000u   /* a client's [acl] and [acl GATEWAY] */
#define GH__K_COMMON (GH__K_SERVER | GH__K_CLIENT)
#define GH__K_SECTIONS 0xff00u

typedef struct gh__key gh__key;

/* Where a setter writes, and where it says why not. */
typedef struct gh__kctx {
  gh__parse *p; /* the file being read; NULL: a pushed destination */
  void *obj;    /* what the row's offset is into */
  int line;
  char *err; /* the reason, without FILE:LINE */
  size_t errlen;
} gh__kctx;

typedef int (*gh__key_set)(const gh__key *k, gh__kctx *c, const char *v);

struct gh__key {
  const char *name;
  uint32_t type; /* GH_OPT_* or GH__KT_* */
  int64_t min, max;
  size_t offset;
  uint32_t flags;   /* GH__K_* */
  gh__key_set set;  /* NULL: the generic setter of `type` */
  int slot;         /* [destination]: GH__DK_* whose line is kept, -1 none */
  const char *def;  /* the default, as the reference prints it; NULL none */
  const char *help; /* one line for the reference */
};

extern const gh__key gh__keys[];
extern const size_t gh__n_keys;

/* The row of `name` read in section kind `sec` (a GH__K_* section flag),
 * or NULL. */
const gh__key *gh__cf_key_find(uint32_t sec, const char *name);
/* The line a key of [server] / [client] was given on; 0: not given. */
int gh__cf_key_line(const gh__parse *p, const char *name);
/* A section was opened (p->sec): clears the lines of its kind's rows. */
void gh__cf_keys_open(gh__parse *p);
/* The generic setters, by type, for special setters built on them. */
int gh__cf_set_u32(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_set_file(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_set_hostport(gh__kctx *c, const char *key, const char *v,
                        char **host, uint16_t *port);

/* ---- setters.c: the keys that need more than a generic setter */

int gh__cf_k_admin(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_k_admin_token(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_k_admin_token_file(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_k_tunnel(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_k_user(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_k_group(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_k_client_crl(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_k_cgw_crl(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_k_sgw_token(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_k_sgw_token_file(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_k_cgw_token(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_k_cgw_token_file(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_k_cgw_server(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_k_server_name(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_k_acl(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_k_acl_listen(const gh__key *k, gh__kctx *c, const char *v);
/* A secret file (token_file, key) to check for who may read it. */
void gh__cf_secret_add(gh__parse *p, const char *key, const char *path);

/* ---- dest.c: the setters of [destination NAME] keys */

int gh__cf_ds_gateway(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_ds_type(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_ds_listen(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_ds_client_port(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_ds_client_bind(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_ds_resource(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_ds_protocol(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_ds_side_proto(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_ds_allow(const gh__key *k, gh__kctx *c, const char *v);
int gh__cf_ds_connect_timeout(const gh__key *k, gh__kctx *c, const char *v);

/* ---- keys.c, setters.c: reading a key; secrets */

int gh__cf_on_kv(void *user, const char *section, const char *name,
                 const char *value);
int gh__cf_identity_check(gh__parse *p);
void gh__cf_secrets_check(gh__parse *p);
void gh__cf_secrets_free(gh__parse *p);

#endif
