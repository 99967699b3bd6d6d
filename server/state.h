/*
 * Sandbox and process states (their names, the schema's numbers) and
 * sbxd's two clocks. No locking: nothing here has state.
 */
#ifndef SRV_STATE_H
#define SRV_STATE_H

#include <stdint.h>

enum srv_state {
	ST_UNSPECIFIED = 0, ST_PENDING, ST_CREATING, ST_RUNNING, ST_PAUSED,
	ST_TERMINATING, ST_COMPLETED, ST_FAILED, ST_TERMINATED,
};
enum srv_pstate { PS_UNSPECIFIED = 0, PS_RUNNING, PS_EXITED, PS_KILLED, PS_FAILED };

const char *srv_state_name(int st);
int srv_state_from_name(const char *s);
const char *srv_pstate_name(int st);
int srv_pstate_from_name(const char *s); /* PS_UNSPECIFIED when unknown */
int srv_state_terminal(int st);

int64_t srv_now_ns(void);   /* CLOCK_REALTIME */
int64_t srv_mono_ns(void);  /* CLOCK_MONOTONIC */

/* srv_state <-> the schema's State enum value (-1: none). */
int srv_state_to_pb(int st);
int srv_state_from_pb(int v);

#endif
