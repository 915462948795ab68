/* What every file of the configuration (core/conf) shares: its bounds and
 * its small helpers (util.c), and the destination model's helpers
 * (dest.c). The rest of the core sees core/config.h only.
 *
 * Out of memory: every allocation of the configuration code aborts
 * (gh__xcalloc, gh__strdup, gh__cf_xrealloc); no function of it returns
 * GH_ENOMEM. */
#ifndef GH_CONF_COMMON_H
#define GH_CONF_COMMON_H

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

#endif
