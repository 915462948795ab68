/* The process-wide core state: the loop, the plugin registry, and the
 * end-of-turn work (reaping streams, starting queued opens, returning
 * credit, encrypting and writing what tunnels staged), run by a prepare
 * handle once per loop turn when something asked for it. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"
#include "log.h"
#include "loop.h"
#include "mux.h"
#include "stream.h"
#include "tunnel.h"

gh__core gh__g;

/* ---- end of the loop turn ---- */

static void on_prepare(uv_prepare_t *p) {
  gh__reap_run();
  while (!gh__list_empty(&gh__g.dirty)) {
    gh__tunnel *t = GH__CONTAINER_OF(gh__g.dirty.next, gh__tunnel, dirty_node);
    gh__list_del(&t->dirty_node);
    if (t->state == GH__T_UP)
      gh__mux_open_next(t);
    if (t->state == GH__T_UP)
      gh__mux_credit_flush(t);
    gh__tunnel_flush(t);
  }
  gh__reap_run();
  if (gh__list_empty(&gh__g.dirty) && gh__list_empty(&gh__g.reap)) {
    uv_prepare_stop(p);
    gh__g.prepare_active = 0;
  }
}

void gh__core_kick(void) {
  if (!gh__g.prepare_active) {
    uv_prepare_start(&gh__g.prepare, on_prepare);
    gh__g.prepare_active = 1;
  }
}

const char *gh__default_plugin_dir(void) {
  static char dir[PATH_MAX + 32];
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = 0;
      struct stat st;
      /* A build tree: the plugins sit beside the binary. */
      snprintf(dir, sizeof(dir), "%s/plugins", exe);
      if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return dir;
      /* An installed tree: PREFIX/bin and PREFIX/lib/gatehouse/plugins. */
      snprintf(dir, sizeof(dir), "%s/../lib/gatehouse/plugins", exe);
      if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return dir;
    }
  }
  return GH_PLUGIN_DIR_DEFAULT;
}

void gh__core_setup(uv_loop_t *loop) {
  gh__g.loop = loop;
  gh__g.host = &gh__host;
  gh__list_init(&gh__g.reap);
  gh__list_init(&gh__g.dirty);
  gh__list_init(&gh__g.lazy);
  uv_prepare_init(loop, &gh__g.prepare);
  uv_unref((uv_handle_t *)&gh__g.prepare);
  uv_timer_init(loop, &gh__g.lazy_timer);
  uv_unref((uv_handle_t *)&gh__g.lazy_timer);
}

int gh__core_init(uv_loop_t *loop, const char *const *dirs, char *err,
                  size_t errlen) {
  gh__core_setup(loop);
  gh__registry_init(&gh__g.reg, &gh__host);
  const char *builtin[] = {gh__default_plugin_dir(), NULL};
  if (!dirs || !dirs[0])
    dirs = builtin;
  for (; *dirs; dirs++) {
    int n = gh__registry_load_dir(&gh__g.reg, *dirs);
    if (n < 0) {
      if (gh__g.reg.dir_refused) { /* logged with its reason */
        snprintf(err, errlen, "%s", gh__g.reg.dir_refused);
      } else {
        snprintf(err, errlen, "cannot read plugin_dir %s: %s", *dirs,
                 strerror(-n));
        gh__error("core", "%s", err);
      }
      return n;
    }
    gh__debug("core", "%d plugin(s) loaded from %s", n, *dirs);
  }
  int rc = gh__registry_conflict(&gh__g.reg, err, errlen);
  if (rc < 0)
    gh__error("core", "%s", err);
  return rc;
}
