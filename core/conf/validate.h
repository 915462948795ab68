/* Checks of destinations against the plugin registry (validate.c): what
 * the push codec also needs. */
#ifndef GH_CONF_VALIDATE_H
#define GH_CONF_VALIDATE_H

#include "common.h"

/* ---- validate.c: checks against the plugin registry */

const gh_handler *gh__cf_chain_find(const gh__chain *c, const char *name);
const gh__chain *gh__cf_dest_chain(const gh__dest *d, uint32_t side);
const char *gh__cf_side_name(uint32_t side);

#endif
