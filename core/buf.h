/* Text into a gh__buf (util.h): the admin endpoint's and the console's
 * documents are built with it. */
#ifndef GH_BUF_H
#define GH_BUF_H

#include "gatehouse/gatehouse.h" /* GH_PRINTF */
#include "util.h"

/* Appends the printf-formatted text to b, whatever its length (nothing is
 * cut). As the core's other allocations, aborts when out of memory
 * (gh__oom). A format vsnprintf refuses appends nothing. */
void gh__buf_printf(gh__buf *b, const char *fmt, ...) GH_PRINTF(2, 3);

#endif
