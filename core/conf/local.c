/* A client's own [destination NAME] sections: handler options that
 * replace what its server pushes for that destination. */
#include <stdio.h>
#include <string.h>

#include "../log.h"
#include "../util.h"
#include "parse.h"
#include "validate.h"

/* ------------------------------------------ a client's own values */

const gh__local_dest *gh__local_dest_find(const gh__client_cfg *cfg,
                                          const char *gateway,
                                          const char *name) {
  if (!cfg || !gateway || !name)
    return NULL;
  for (size_t i = 0; i < cfg->n_locals; i++)
    if (strcmp(cfg->locals[i].name, name) == 0 &&
        strcmp(cfg->locals[i].gateway, gateway) == 0)
      return &cfg->locals[i];
  return NULL;
}

/* Whether kv gives, for `side`, the option that the local kv `l` sets. */
static int opt_same(const gh__kv *kv, uint32_t side, const gh__kv *l) {
  uint32_t s1, s2;
  char h1[40], h2[40];
  const char *o1, *o2;
  if (gh__cf_opt_key_split(kv->key, &s1, h1, sizeof(h1), &o1) < 0 ||
      gh__cf_opt_key_split(l->key, &s2, h2, sizeof(h2), &o2) < 0)
    return 0;
  return (s1 == 0 || s1 == side) && strcmp(h1, h2) == 0 && strcmp(o1, o2) == 0;
}

int gh__dest_apply_local(gh__dest *d, const gh__local_dest *l, char *err,
                         size_t errlen) {
  uint32_t mine = d->type == GH__DEST_CLOUD ? GH_SIDE_LISTEN : GH_SIDE_RESOURCE;
  for (size_t i = 0; i < l->opts.n; i++) {
    const gh__kv *lk = &l->opts.v[i];
    uint32_t side;
    char h[40];
    const char *o;
    if (gh__cf_opt_key_split(lk->key, &side, h, sizeof(h), &o) < 0)
      continue; /* cannot be: checked when the file was read */
    if (side && side != mine) {
      if (err && errlen)
        snprintf(err, errlen,
                 "%s:%d: %s: this client runs the %s side of destination "
                 "%s (type = %s); the %s side's options belong in the "
                 "server's file",
                 lk->file ? lk->file : "?", lk->line, lk->key,
                 gh__cf_side_name(mine), d->name, gh__cf_type_name(d->type),
                 gh__cf_side_name(side));
      return GH_EINVAL;
    }
  }
  /* Drop what the server gave for those options, keep the rest in order. */
  size_t kept = 0;
  for (size_t i = 0; i < d->opts.n; i++) {
    gh__kv *kv = &d->opts.v[i];
    int replaced = 0;
    for (size_t j = 0; j < l->opts.n && !replaced; j++)
      replaced = opt_same(kv, mine, &l->opts.v[j]);
    if (replaced)
      gh__cf_kv_free(kv);
    else
      d->opts.v[kept++] = *kv;
  }
  d->opts.n = kept;
  for (size_t j = 0; j < l->opts.n; j++) {
    const gh__kv *lk = &l->opts.v[j];
    gh__kv *kv = gh__cf_kvs_push(&d->opts, lk->key, lk->value, lk->line);
    kv->file = lk->file ? gh__strdup(lk->file) : NULL;
  }
  return 0;
}

/* A client's [destination NAME]: its gateway, and handler options only,
 * which replace what the server pushes. */
int gh__cf_local_dest_key(gh__parse *p, const char *name, const char *value) {
  gh__local_dest *l = cur_ldest(p);
  char sd[300], reason[512];
  if (strcmp(name, "gateway") == 0) {
    if (l->gateway)
      return gh__cf_fail(p, p->line, "gateway is already set in %s (line %d)",
                         gh__cf_sec_desc(p, sd, sizeof(sd)), l->gateway_line);
    if (!gh__cf_name_valid(value))
      return gh__cf_fail(
          p, p->line,
          "gateway: bad id '%.100s' (letters, digits, '.', '_', '-')", value);
    l->gateway = gh__strdup(value);
    l->gateway_line = p->line;
    return 0;
  }
  if (!strchr(name, '.')) {
    if (!gh__cf_key_showable(name))
      return gh__cf_fail(p, p->line, "unknown key in %s",
                         gh__cf_sec_desc(p, sd, sizeof(sd)));
    return gh__cf_fail(
        p, p->line,
        "'%s' cannot be set in a client's %s: only gateway = and "
        "handler options (SIDE.HANDLER.KEY or HANDLER.KEY), which "
        "replace what the server pushes",
        name, gh__cf_sec_desc(p, sd, sizeof(sd)));
  }
  if (!*value)
    return gh__cf_fail(p, p->line, "%s has no value", name);
  gh__kv *kv =
      gh__cf_opt_push(&l->opts, name, value, p->line, reason, sizeof(reason));
  if (!kv)
    return gh__cf_fail(p, p->line, "%s", reason);
  kv->file = gh__strdup(p->file);
  return 0;
}
