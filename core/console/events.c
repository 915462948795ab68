/* The console's ring of recent events (events.h). */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "events.h"

static gh__event_rec events[GH__CONSOLE_EVENTS];
static size_t ev_next, ev_count;
static uint64_t ev_total;

static const char *const kind_names[GH__EV_KINDS] = {
    [GH__EV_TUNNEL_UP] = "tunnel_up", [GH__EV_TUNNEL_DOWN] = "tunnel_down",
    [GH__EV_REFUSED] = "refused",     [GH__EV_RELOAD] = "reload",
    [GH__EV_NOTICE] = "notice",
};

static uint64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *gh__event_kind_name(int kind) {
  return kind >= 0 && kind < GH__EV_KINDS ? kind_names[kind] : "other";
}

void gh__event(int kind, const char *subject, const char *fmt, ...) {
  gh__event_rec *e = &events[ev_next];
  e->time_ms = wall_ms();
  e->kind = kind;
  snprintf(e->subject, sizeof(e->subject), "%s", subject ? subject : "");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->message, sizeof(e->message), fmt, ap);
  va_end(ap);
  ev_next = (ev_next + 1) % GH__CONSOLE_EVENTS;
  if (ev_count < GH__CONSOLE_EVENTS)
    ev_count++;
  ev_total++;
}

const gh__event_rec *gh__event_newest(size_t i) {
  if (i >= ev_count)
    return NULL;
  return &events[(ev_next + GH__CONSOLE_EVENTS - 1 - i) % GH__CONSOLE_EVENTS];
}

uint64_t gh__events_total(void) { return ev_total; }
