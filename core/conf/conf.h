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
#define GH__KEYS_MAX 32

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
  /* the keys [server] and [client] share */
  char **admin_host;
  uint16_t *admin_port;
  char **plugin_dir;
  char **user, **group;
  int *log_level;
  uint32_t *drain_s, *ka_s, *kat_s;
  uint32_t *connecting_max, *open_queue_max;
  /* the section being read */
  int sec, sec_line;
  char sec_name[GH__NAME_MAX + 1];
  size_t sec_idx;
  int seen[GH__KEYS_MAX]; /* line of each key of the section's table */
  int main_line;          /* [server] / [client] */
  int acl_line;
  int tunnel_line, admin_line, ka_line, kat_line;
  int group_line;
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
int gh__cf_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);
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

/* ---- keys.c: the key tables of the sections, and secrets */

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
