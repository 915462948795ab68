/* What the plugin loader's files (plugin.c, plugin_path.c, plugin_desc.c,
 * plugin_chain.c) share; the rest of the core sees plugin.h. */
#ifndef GH_PLUGIN_INT_H
#define GH_PLUGIN_INT_H

#include "plugin.h"

#define SUBJECT "plugin" /* of log lines */

/* A refusal reason is built here, then copied to the caller's buffer and
 * into the registry. */
typedef struct gh__why {
  char buf[1024];
} gh__why;

void gh__why_set(gh__why *w, const char *fmt, ...) GH_PRINTF(2, 3);

/* The descriptor of the plugin at path (plugin_desc.c): 0, or a negative
 * code with the reason in w. */
int gh__plugin_desc_check(const gh__registry *r, const char *path,
                          const gh_plugin *p, gh__why *w);

/* The handler and alias names of a descriptor that failed a later check,
 * each followed by a space, as far as they can be read safely (the ABI
 * major is the core's, sizes and names well-formed); "" when none. */
void gh__plugin_desc_names(const gh_plugin *p, char *out, size_t len);

#endif
