/* The configuration's own header: what its files (the .c files of core/conf)
 * share. The rest of the core sees core/config.h only.
 *
 * Out of memory: every allocation of the configuration code aborts
 * (gh__xcalloc, gh__strdup, gh__cf_xrealloc); no function of it returns
 * GH_ENOMEM. */
#ifndef GH_CONF_CONF_H
#define GH_CONF_CONF_H

#include <sys/types.h>

#include "../config.h"

#define GH__NAME_MAX 255 /* gateway ids, destination names: fit a frame */
#define GH__TOKEN_MIN 16 /* secure default: a short token can be guessed */
#define GH__TOKEN_MAX 1024
#define GH__TOKENS_MAX 64
#define GH__SERVERS_MAX 64
#define GH__GATEWAYS_MAX 4096
#define GH__OPTS_MAX 1024
#define GH__VALUE_MAX 65535 /* of one pushed value */
#define GH__PUSHED "<pushed>"
#define GH__PUSH_MAGIC "GHD"
#define GH__PUSH_VERSION 1
#define GH__REC_KV 1
#define GH__REC_BLOB 2

/* ---- the state of one load (ini.c, keys.c, sections.c, rules.c) */

enum {
  SEC_NONE,
  SEC_SERVER,
  SEC_CLIENT,
  SEC_SGW,
  SEC_CGW,
  SEC_DEST,
  SEC_ACL,
  SEC_LDEST /* a client's [destination NAME] */
};
enum { ROLE_SERVER = 1, ROLE_CLIENT = 2 };

typedef struct gh__parse {
  const char *file; /* as shown in messages */
  char *dir;        /* anchors relative paths; NULL: the working dir */
  const char *text;
  size_t len, pos;
  int line; /* of the line inih is working on */
  int failed, err_line;
  char *err;
  size_t errlen;
  int role;
  gh__server_cfg *s;
  gh__client_cfg *c;
  gh__cfg_common *common; /* of s or c: the keys [server] and [client] share */
  /* the section being read */
  int sec, sec_line;
  char sec_name[GH__NAME_MAX + 1];
  size_t sec_idx;
  /* The line of each key of the table (gh__keys) in the section being
   * read; a section kind's rows are cleared when one of its kind opens, so
   * the keys of [server] / [client] keep theirs to the end. */
  int *seen;
  int main_line; /* [server] / [client] */
  int acl_line;
  /* token_file, key: checked for who may read them once user and group
   * are known (secrets_check) */
  struct secret_ref {
    char *path;
    const char *key;
    int line;
  } * secrets;
  size_t n_secrets;
} gh__parse;

static inline gh__server_gw *cur_sgw(gh__parse *p) {
  return &p->s->gateways[p->sec_idx];
}
static inline gh__client_gw *cur_cgw(gh__parse *p) {
  return &p->c->gateways[p->sec_idx];
}
static inline gh__dest *cur_dest(gh__parse *p) {
  return &p->s->dests[p->sec_idx];
}
static inline gh__local_dest *cur_ldest(gh__parse *p) {
  return &p->c->locals[p->sec_idx];
}
/* [acl] or [acl GATEWAY]: the section being read. */
static inline gh__acl *cur_acl(gh__parse *p) {
  return p->sec_name[0] ? &p->c->gw_acls[p->sec_idx].acl : &p->c->acl;
}

/* ---- util.c: helpers shared by every file of the configuration */

/* the group gatehouse runs as: may read secrets (secrets_check) */
extern gid_t gh__cf_secret_gid;
void gh__cf_grow(void **v, size_t *cap, size_t n, size_t size);
void *gh__cf_xrealloc(void *p, size_t n);
void gh__cf_secret_free(char *s);
int gh__cf_name_valid(const char *s);
int gh__cf_key_showable(const char *k);
void gh__cf_fmt_hostport(const char *host, uint16_t port, char *out,
                         size_t len);
char *gh__cf_path_dir(const char *file);
char *gh__cf_path_resolve(const char *dir, const char *value);
int gh__cf_file_check(const char *path);
void gh__cf_secret_mode_check(const char *file, int line, const char *key,
                              const char *path);
int gh__cf_secret_option(const char *key);
const char *gh__cf_type_name(int type);
int gh__cf_why(char *err, size_t errlen, const char *fmt, ...) GH_PRINTF(3, 4);
int gh__cf_proto_valid(const char *s);

/* ---- dest.c: the destination model (keys, options, free, equal) */

int gh__cf_dest_finish(gh__dest *d, int *idx, char *err, size_t errlen);
void gh__cf_kv_free(gh__kv *kv);
gh__kv *gh__cf_kvs_push(gh__kvs *kvs, const char *key, const char *value,
                        int line);
int gh__cf_opt_key_split(const char *key, uint32_t *side, char *handler,
                         size_t hlen, const char **opt);
gh__kv *gh__cf_opt_push(gh__kvs *kvs, const char *key, const char *value,
                        int line, char *err, size_t errlen);

/* ---- ini.c: the INI reader over inih, FILE:LINE errors */

int gh__cf_fail(gh__parse *p, int line, const char *fmt, ...) GH_PRINTF(3, 4);
const char *gh__cf_sec_desc(const gh__parse *p, char *buf, size_t len);
int gh__cf_next_line(const char *text, size_t len, size_t *pos, const char **s,
                     size_t *n, int first);
void gh__cf_trim(const char **s, size_t *n);
int gh__cf_parse_text(gh__parse *p);

/* ---- keys.c: the one key table, as data
 *
 * Every key of [server], [client], [gateway ID] (server and client forms),
 * [destination NAME] and [acl] is a row: its type (the SDK's GH_OPT_* or
 * one of the core's kinds below), bounds, where its value goes (offset in
 * the section's struct), flags, and the help the reference prints
 * (`gatehouse reference`, docs/configuration.md). A row without a setter
 * uses the generic one of its type. */

/* The core's own kinds of value, after the SDK's GH_OPT_* */
#define GH__KT_SECONDS 16   /* a number of seconds within [min, max] */
#define GH__KT_LOG_LEVEL 17 /* error | warn | info | debug | trace */
#define GH__KT_DIR 18       /* a directory, resolved, read later */
#define GH__KT_HOSTPORT 19  /* host:port, [v6]:port or :port */
#define GH__KT_NAME 20      /* an id, a user or group name, a host name */
#define GH__KT_RULE 21      /* an address rule: allow/deny/listen */
#define GH__KT_CHAIN 22     /* a protocol chain: tcp, tcp+tls+http */
#define GH__KT_ENUM 23      /* one of the words the help lists */

/* Flags of a row */
#define GH__K_MULTI 0x1u /* may be given several times */
#define GH__K_SECRET                                                           \
  0x2u /* a secret (never logged; its file's mode warned)                      \
        */
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

/* ---- sections.c: opening and closing sections */

int gh__cf_section_open(gh__parse *p, const char *kind, const char *name);
int gh__cf_section_end(gh__parse *p);

/* ---- local.c: a client's own [destination NAME] */

int gh__cf_local_dest_key(gh__parse *p, const char *name, const char *value);

/* ---- rules.c: rules between sections */

int gh__cf_server_finish(gh__parse *p);
int gh__cf_client_finish(gh__parse *p);

/* ---- validate.c: checks against the plugin registry */

const gh_handler *gh__cf_chain_find(const gh__chain *c, const char *name);
const gh__chain *gh__cf_dest_chain(const gh__dest *d, uint32_t side);
const char *gh__cf_side_name(uint32_t side);
#endif
