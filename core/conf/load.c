/* Loading a server's or a client's file: defaults, the parse, the rules
 * between sections, freeing; and telling which kind a file is. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "../util.h"
#include "keys.h"

static void parse_init(gh__parse *p, const char *file, const char *text,
                       size_t len, char *err, size_t errlen) {
  memset(p, 0, sizeof(*p));
  p->file = file;
  p->dir = gh__cf_path_dir(file);
  p->seen = gh__xcalloc(gh__n_keys, sizeof(*p->seen));
  p->text = text;
  p->len = len;
  p->err = err;
  p->errlen = errlen;
  if (err && errlen)
    err[0] = '\0';
}

/* The defaults of what [server] and [client] share. */
static void common_init(gh__parse *p, gh__cfg_common *cm) {
  cm->log_level = GH_LOG_INFO;
  cm->drain_timeout_s = 30;
  cm->keepalive_s = 10;
  cm->keepalive_timeout_s = 30;
  cm->connecting_max = GH__CONNECTING_MAX_DEFAULT;
  cm->open_queue_max = GH__OPEN_QUEUE_MAX_DEFAULT;
  p->common = cm;
}

/* Reads the text, checks the rules between sections (finish) and who may
 * read the secrets; frees what only the load needed. */
static int parse_run(gh__parse *p, int (*finish)(gh__parse *)) {
  int rc = gh__cf_parse_text(p);
  if (rc == 0)
    rc = finish(p);
  if (rc == 0)
    gh__cf_secrets_check(p);
  gh__cf_secrets_free(p);
  free(p->dir);
  free(p->seen);
  return rc;
}

int gh__server_cfg_load_string(gh__server_cfg *cfg, const char *text,
                               size_t len, const char *name, char *err,
                               size_t errlen) {
  gh__parse p;
  memset(cfg, 0, sizeof(*cfg));
  cfg->file = gh__strdup(name ? name : "<string>");
  parse_init(&p, cfg->file, text ? text : "", text ? len : 0, err, errlen);
  p.role = ROLE_SERVER;
  p.s = cfg;
  cfg->unauth_max = GH__UNAUTH_MAX;
  cfg->unauth_per_source = GH__UNAUTH_PER_SOURCE;
  cfg->handshake_timeout_s = GH__HANDSHAKE_S;
  common_init(&p, &cfg->common);
  int rc = parse_run(&p, gh__cf_server_finish);
  if (rc < 0)
    gh__server_cfg_free(cfg);
  return rc;
}

int gh__client_cfg_load_string(gh__client_cfg *cfg, const char *text,
                               size_t len, const char *name, char *err,
                               size_t errlen) {
  gh__parse p;
  memset(cfg, 0, sizeof(*cfg));
  cfg->file = gh__strdup(name ? name : "<string>");
  cfg->reconnect_max_s = 30;
  parse_init(&p, cfg->file, text ? text : "", text ? len : 0, err, errlen);
  p.role = ROLE_CLIENT;
  p.c = cfg;
  common_init(&p, &cfg->common);
  int rc = parse_run(&p, gh__cf_client_finish);
  if (rc < 0)
    gh__client_cfg_free(cfg);
  return rc;
}

static int load_file(const char *path, char *err, size_t errlen,
                     int (*load)(void *, const char *, size_t, const char *,
                                 char *, size_t),
                     void *cfg) {
  uint8_t *text = NULL;
  size_t len = 0;
  int rc = gh__file_read(path, &text, &len);
  if (rc < 0) {
    if (err && errlen)
      snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
    return GH_EINVAL;
  }
  rc = load(cfg, (const char *)text, len, path, err, errlen);
  explicit_bzero(text, len); /* it may hold tokens */
  free(text);
  return rc;
}

static int load_server(void *cfg, const char *text, size_t len,
                       const char *name, char *err, size_t errlen) {
  return gh__server_cfg_load_string(cfg, text, len, name, err, errlen);
}

static int load_client(void *cfg, const char *text, size_t len,
                       const char *name, char *err, size_t errlen) {
  return gh__client_cfg_load_string(cfg, text, len, name, err, errlen);
}

int gh__server_cfg_load(gh__server_cfg *cfg, const char *path, char *err,
                        size_t errlen) {
  memset(cfg, 0, sizeof(*cfg));
  return load_file(path, err, errlen, load_server, cfg);
}

int gh__client_cfg_load(gh__client_cfg *cfg, const char *path, char *err,
                        size_t errlen) {
  memset(cfg, 0, sizeof(*cfg));
  return load_file(path, err, errlen, load_client, cfg);
}

static void common_free(gh__cfg_common *cm) {
  free(cm->admin_host);
  if (cm->admin_token)
    explicit_bzero(cm->admin_token, strlen(cm->admin_token));
  free(cm->admin_token);
  free(cm->admin_tls_cert);
  free(cm->admin_tls_key);
  for (char **d = cm->plugin_dirs; d && *d; d++)
    free(*d);
  free(cm->plugin_dirs);
  free(cm->user);
  free(cm->group);
}

void gh__server_cfg_free(gh__server_cfg *cfg) {
  if (!cfg)
    return;
  free(cfg->file);
  free(cfg->tunnel_host);
  free(cfg->cert);
  free(cfg->key);
  free(cfg->client_ca);
  free(cfg->client_crl);
  common_free(&cfg->common);
  for (size_t i = 0; i < cfg->n_gateways; i++) {
    gh__server_gw *g = &cfg->gateways[i];
    free(g->id);
    for (size_t t = 0; t < g->n_tokens; t++)
      gh__cf_secret_free(g->tokens[t]);
    free(g->tokens);
  }
  free(cfg->gateways);
  for (size_t i = 0; i < cfg->n_dests; i++)
    gh__dest_free(&cfg->dests[i]);
  free(cfg->dests);
  memset(cfg, 0, sizeof(*cfg));
}

void gh__client_cfg_free(gh__client_cfg *cfg) {
  if (!cfg)
    return;
  free(cfg->file);
  common_free(&cfg->common);
  for (size_t i = 0; i < cfg->n_gateways; i++) {
    gh__client_gw *g = &cfg->gateways[i];
    free(g->id);
    for (size_t s = 0; s < g->n_servers; s++)
      free(g->servers[s]);
    free(g->servers);
    gh__cf_secret_free(g->token);
    free(g->ca);
    free(g->crl);
    free(g->cert);
    free(g->key);
    free(g->server_name);
  }
  free(cfg->gateways);
  gh__acl_free(&cfg->acl);
  for (size_t i = 0; i < cfg->n_gw_acls; i++) {
    free(cfg->gw_acls[i].gateway);
    gh__acl_free(&cfg->gw_acls[i].acl);
  }
  free(cfg->gw_acls);
  for (size_t i = 0; i < cfg->n_locals; i++) {
    gh__local_dest *l = &cfg->locals[i];
    free(l->name);
    free(l->gateway);
    for (size_t k = 0; k < l->opts.n; k++)
      gh__cf_kv_free(&l->opts.v[k]);
    free(l->opts.v);
  }
  free(cfg->locals);
  memset(cfg, 0, sizeof(*cfg));
}

/* ---------------------------------------------------------------- sniff */

int gh__cfg_sniff(const char *path) {
  uint8_t *text = NULL;
  size_t len = 0, pos = 0, n;
  const char *s;
  int rc = gh__file_read(path, &text, &len);
  if (rc < 0)
    return rc;
  int server = 0, client = 0, in_gw = 0, first = 1;
  while (gh__cf_next_line((const char *)text, len, &pos, &s, &n, first)) {
    first = 0;
    gh__cf_trim(&s, &n);
    if (n == 0 || *s == ';' || *s == '#')
      continue;
    if (*s == '[') {
      const char *k = s + 1;
      size_t kn = n - 1;
      gh__cf_trim(&k, &kn);
      in_gw = kn >= 8 && strncmp(k, "gateway", 7) == 0 &&
              isspace((unsigned char)k[7]);
      if (kn >= 7 && strncmp(k, "server", 6) == 0 &&
          (k[6] == ']' || isspace((unsigned char)k[6])))
        server = 1;
      if (kn >= 7 && strncmp(k, "client", 6) == 0 &&
          (k[6] == ']' || isspace((unsigned char)k[6])))
        client = 1;
      continue;
    }
    size_t kl = 0;
    while (kl < n && s[kl] != '=' && s[kl] != ':')
      kl++;
    while (kl > 0 && isspace((unsigned char)s[kl - 1]))
      kl--;
    if (in_gw && kl == 6 && strncmp(s, "server", 6) == 0)
      client = 1;
  }
  explicit_bzero(text, len);
  free(text);
  return server ? 1 : client ? 2 : 0;
}
