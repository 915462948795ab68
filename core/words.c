#include "words.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <strings.h>

#include "gatehouse/gatehouse.h"

int gh__word_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out) {
  uint64_t v = 0;
  if (!*s)
    return GH_EINVAL;
  for (; *s; s++) {
    if (!isdigit((unsigned char)*s))
      return GH_EINVAL;
    v = v * 10 + (uint64_t)(*s - '0');
    if (v > max)
      return GH_ERANGE;
  }
  if (v < min)
    return GH_ERANGE;
  *out = (uint32_t)v;
  return 0;
}

int gh__word_int(const char *s, int64_t *out) {
  const char *p = s + (*s == '-');
  if (!isdigit((unsigned char)*p))
    return GH_EINVAL;
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (errno || *end)
    return GH_EINVAL;
  *out = (int64_t)v;
  return 0;
}

int gh__word_bool(const char *s, int *out) {
  static const char *const words[] = {"yes", "no",  "true", "false",
                                      "on",  "off", "1",    "0"};
  for (int i = 0; i < 8; i++)
    if (strcasecmp(s, words[i]) == 0) {
      *out = i % 2 == 0;
      return 0;
    }
  return GH_EINVAL;
}
