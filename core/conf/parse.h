/* The state of one load of a file, and the steps that read it: the INI
 * reader (ini.c), the sections (sections.c), a client's own destinations
 * (local.c) and the rules between sections (rules.c). */
#ifndef GH_CONF_PARSE_H
#define GH_CONF_PARSE_H

#include "common.h"

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

/* ---- ini.c: the INI reader over inih, FILE:LINE errors */

int gh__cf_fail(gh__parse *p, int line, const char *fmt, ...) GH_PRINTF(3, 4);
const char *gh__cf_sec_desc(const gh__parse *p, char *buf, size_t len);
int gh__cf_next_line(const char *text, size_t len, size_t *pos, const char **s,
                     size_t *n, int first);
void gh__cf_trim(const char **s, size_t *n);
int gh__cf_parse_text(gh__parse *p);

/* ---- sections.c: opening and closing sections */

int gh__cf_section_open(gh__parse *p, const char *kind, const char *name);
int gh__cf_section_end(gh__parse *p);

/* ---- local.c: a client's own [destination NAME] */

int gh__cf_local_dest_key(gh__parse *p, const char *name, const char *value);

/* ---- rules.c: rules between sections */

int gh__cf_server_finish(gh__parse *p);
int gh__cf_client_finish(gh__parse *p);

#endif
