#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void gh__buf_printf(gh__buf *b, const char *fmt, ...) {
  char tmp[1024]; /* most lines fit: one formatting, no allocation */
  va_list ap, again;
  va_start(ap, fmt);
  va_copy(again, ap);
  int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  if (n >= 0 && (size_t)n < sizeof(tmp)) {
    if (gh__buf_append(b, tmp, (size_t)n) < 0)
      gh__oom();
  } else if (n >= 0) {
    char *big = gh__xmalloc((size_t)n + 1);
    vsnprintf(big, (size_t)n + 1, fmt, again);
    if (gh__buf_append(b, big, (size_t)n) < 0)
      gh__oom();
    free(big);
  }
  va_end(again);
}
