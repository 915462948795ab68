/* The chain walk (chain.c): a stream's bytes and EOFs from link to link,
 * up toward the tunnel and down toward the socket. */
#ifndef GH_CHAIN_H
#define GH_CHAIN_H

#include <stdint.h>

#include <gatehouse/gatehouse.h>

#include "types.h"

/* The host table's send_up, send_down, eof_up, eof_down and written. */
int32_t gh__chain_send_up(gh_link *l, const uint8_t *data, uint32_t len);
int32_t gh__chain_send_down(gh_link *l, const uint8_t *data, uint32_t len);
void gh__chain_eof_up(gh_link *l);
void gh__chain_eof_down(gh_link *l);
void gh__chain_written(gh_link *l, uint32_t len);
/* From the tunnel, down the chain: 0, or the error that aborted s. */
int gh__chain_down(gh__stream *s, const uint8_t *data, uint32_t len);
void gh__chain_down_eof(gh__stream *s);
/* A datagram from the tunnel, for a datagram stream's transport. */
void gh__chain_dgram_down(gh__stream *s, const uint8_t *data, uint32_t len);
/* Bytes for the transport to write (counted in s->tx_pending). */
int gh__chain_transport_write(gh__stream *s, const uint8_t *data,
                              uint32_t len);

#endif
