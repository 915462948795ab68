#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

int gh__log_level = GH_LOG_INFO;

static FILE *log_fp;   /* NULL: stderr */
static char *log_path; /* for reopen */
static int log_syslog;

static const char *const level_names[] = {"error", "warn", "info", "debug",
                                          "trace"};

int gh__log_parse_level(const char *name) {
  for (int i = 0; i < 5; i++)
    if (strcmp(name, level_names[i]) == 0)
      return i;
  return -1;
}

const char *gh__log_level_name(int level) {
  return level >= 0 && level < 5 ? level_names[level] : "?";
}

void gh__log_vwrite(int level, const char *subject, const char *fmt,
                    va_list ap) {
  char msg[2048];
  vsnprintf(msg, sizeof(msg), fmt, ap);
  if (log_syslog) {
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG,
                               LOG_DEBUG};
    syslog(prio[level < 0 ? 0 : level > 4 ? 4 : level], "%s: %s", subject, msg);
    return;
  }
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  char when[32];
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
  FILE *fp = log_fp ? log_fp : stderr;
  fprintf(fp, "%s.%03ldZ %-5s %s: %s\n", when, ts.tv_nsec / 1000000L,
          gh__log_level_name(level), subject, msg);
  fflush(fp);
}

void gh__log_write(int level, const char *subject, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  gh__log_vwrite(level, subject, fmt, ap);
  va_end(ap);
}

int gh__log_to_file(const char *path) {
  FILE *fp = fopen(path, "ae");
  if (!fp)
    return -errno;
  if (log_fp)
    fclose(log_fp);
  log_fp = fp;
  if (log_path != path) {
    free(log_path);
    log_path = strdup(path);
  }
  log_syslog = 0;
  return 0;
}

int gh__log_reopen(void) {
  return log_path ? gh__log_to_file(log_path) : 0;
}

void gh__log_to_syslog(const char *ident) {
  openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
  log_syslog = 1;
}

void gh__log_to_stderr(void) {
  if (log_fp)
    fclose(log_fp);
  log_fp = NULL;
  log_syslog = 0;
}
