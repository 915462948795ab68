/* The process (loop.c): one libuv loop, one plugin registry, and the work
 * done once at the end of a loop turn when something asked for it: reaping
 * torn-down streams, starting queued opens, returning credit, encrypting
 * and writing what tunnels staged. */
#ifndef GH_LOOP_H
#define GH_LOOP_H

#include <uv.h>

#include "plugin.h"
#include "util.h"

/* What every runtime shares: one loop, one plugin registry, the list of
 * streams to tear down and of tunnels to flush at the end of a loop turn. */
typedef struct gh__core {
  uv_loop_t *loop;
  uv_prepare_t prepare;
  int prepare_active;
  gh__list reap;  /* streams being torn down */
  gh__list dirty; /* tunnels with staged frames */
  gh__list lazy;  /* tunnels owing small credit (mux.c) */
  uv_timer_t lazy_timer;
  int lazy_armed;
  gh__registry reg;
  const gh_host *host;
} gh__core;

extern gh__core gh__g;

/* The loop and the end-of-turn machinery (gh__core_init does it). */
void gh__core_setup(uv_loop_t *loop);
/* ...and the plugins of dirs (NULL-terminated, searched in order; NULL or
 * empty: the built-in directory). 0, or a negative code with the reason in
 * err: GH_EEXIST when two files declare one name (every directory was
 * loaded, so `gatehouse plugins` can list them); another code when a
 * directory cannot be read or is refused (those after it are not read). */
int gh__core_init(uv_loop_t *loop, const char *const *dirs, char *err,
                  size_t errlen);
void gh__core_kick(void); /* make sure the end-of-turn work runs */
const char *gh__default_plugin_dir(void);

#endif
