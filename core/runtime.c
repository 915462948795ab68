/* Stopping a server or a client: stop accepting, tell peers (GOAWAY), let
 * the open streams finish for at most drain_timeout, then close. */
#include <stdio.h>

#include "admin.h"
#include "client.h"
#include "gateway.h"
#include "log.h"
#include "loop.h"
#include "mux.h"
#include "runtime.h"
#include "tunnel.h"

void gh__rt_init(gh__rt *rt, int role, uint32_t keepalive_s,
                 uint32_t keepalive_timeout_s, uint32_t drain_s) {
  rt->role = role;
  rt->subject = role == GH__ROLE_SERVER ? "server" : "client";
  rt->keepalive_ms = keepalive_s * 1000u;
  rt->keepalive_timeout_ms = keepalive_timeout_s * 1000u;
  rt->drain_ms = drain_s * 1000u;
  gh__list_init(&rt->tunnels);
  gh__list_init(&rt->unauth);
}

static uint64_t active_streams(const gh__rt *rt) {
  uint64_t n = 0;
  for (size_t i = 0; i < rt->n_gws; i++)
    n += rt->gws[i]->st.active;
  return n;
}

static void close_all_tunnels(gh__rt *rt) {
  gh__list *n = rt->tunnels.next;
  while (n != &rt->tunnels) {
    gh__tunnel *t = GH__CONTAINER_OF(n, gh__tunnel, node);
    n = n->next;
    gh__tunnel_close(t, "shutting down");
  }
}

static void on_drain_tick(uv_timer_t *tm) {
  gh__rt *rt = tm->data;
  uint64_t active = active_streams(rt);
  if (active > 0 && gh__now_ms() < rt->drain_deadline)
    return;
  if (active > 0)
    gh__warn(rt->subject, "drain timeout: closing %llu stream(s)",
             (unsigned long long)active);
  uv_close((uv_handle_t *)tm, NULL);
  close_all_tunnels(rt);
  if (rt->stop_done)
    rt->stop_done(rt);
}

void gh__rt_stop(gh__rt *rt, void (*done)(gh__rt *rt)) {
  if (rt->stopping)
    return;
  rt->stopping = 1;
  rt->stop_done = done;
  gh__admin_stop(&rt->admin);
  if (rt->listening) {
    uv_close((uv_handle_t *)&rt->listen, NULL);
    rt->listening = 0;
  }
  for (size_t g = 0; g < rt->n_gws; g++) {
    gh__gw *gw = rt->gws[g];
    if (gw->removed)
      continue; /* stopped when a reload removed it */
    for (size_t i = 0; i < gw->n_dests; i++)
      gh__drt_retire(gw->dests[i]);
    gw->n_dests = 0;
    for (size_t k = 0; k < gw->n_slots; k++) {
      gh__slot *sl = &gw->slots[k];
      sl->stopped = 1;
      uv_timer_stop(&sl->retry);
      uv_close((uv_handle_t *)&sl->retry, NULL);
      if (sl->resolving)
        uv_cancel((uv_req_t *)&sl->gai);
    }
  }
  uint8_t buf[64];
  gh__fail fl = {GH_ESHUTDOWN, {"shutting down", 13}};
  int n = gh__fail_encode(buf, sizeof(buf), &fl);
  gh__list *it;
  for (it = rt->tunnels.next; it != &rt->tunnels; it = it->next) {
    gh__tunnel *t = GH__CONTAINER_OF(it, gh__tunnel, node);
    if (t->state == GH__T_UP && n > 0)
      gh__tunnel_send(t, GH__FT_GOAWAY, 0, 0, buf, (size_t)n);
    gh__mux_end_dgrams(t);
  }
  uint64_t active = active_streams(rt);
  gh__info(rt->subject, "stopping: %llu stream(s) open, draining up to %u s",
           (unsigned long long)active, rt->drain_ms / 1000u);
  rt->drain_deadline = gh__now_ms() + rt->drain_ms;
  uv_timer_init(gh__g.loop, &rt->drain_timer);
  rt->drain_timer.data = rt;
  uv_timer_start(&rt->drain_timer, on_drain_tick, 0, 100);
}
