/* Number and boolean words: the one reader of them for the configuration,
 * plugin option values and declarations, and address rules. */
#ifndef GH_WORDS_H
#define GH_WORDS_H

#include <stdint.h>

/* Decimal digits only (no sign, no blank), within [min, max]: 0, GH_EINVAL
 * (not a number) or GH_ERANGE. */
int gh__word_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);

/* An optional '-' then decimal digits, within int64_t: 0 or GH_EINVAL. */
int gh__word_int(const char *s, int64_t *out);

/* yes|no|true|false|on|off|1|0, in any case: *out 1 or 0; 0 or GH_EINVAL. */
int gh__word_bool(const char *s, int *out);

#endif
