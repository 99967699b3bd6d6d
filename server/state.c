/*
 * The states of sandboxes and processes, and the clocks: the names the
 * records on disk keep, the schema's State numbers, which states are
 * final. Pure functions with no state of their own, below every other
 * module of sbxd's core (docs/internals/server.md, "The core's modules").
 */
#include "state.h"
#include "parse.h"
#include "sandbox.pb-c.h"

#include <string.h>
#include <time.h>

static const char *const state_names[] = {
	"STATE_UNSPECIFIED", "STATE_PENDING", "STATE_CREATING", "STATE_RUNNING", "STATE_PAUSED",
	"STATE_TERMINATING", "STATE_COMPLETED", "STATE_FAILED", "STATE_TERMINATED",
};
static const char *const pstate_names[] = {
	"PROCESS_STATE_UNSPECIFIED", "PROCESS_STATE_RUNNING", "PROCESS_STATE_EXITED",
	"PROCESS_STATE_KILLED", "PROCESS_STATE_FAILED",
};

const char *srv_state_name(int st)
{
	return st >= 0 && st <= ST_TERMINATED ? state_names[st] : state_names[0];
}

int srv_state_from_name(const char *s)
{
	int64_t n;
	for (int i = 0; i <= ST_TERMINATED; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	if (srv_parse_int(s, 0, ST_TERMINATED, &n) == 0)
		return (int)n;
	return -1;
}

const char *srv_pstate_name(int st)
{
	return st >= 0 && st <= PS_FAILED ? pstate_names[st] : pstate_names[0];
}

int srv_pstate_from_name(const char *s)
{
	for (int i = 0; i <= PS_FAILED; i++)
		if (strcmp(s, pstate_names[i]) == 0)
			return i;
	return PS_UNSPECIFIED;
}

int srv_state_terminal(int st)
{
	return st == ST_COMPLETED || st == ST_FAILED || st == ST_TERMINATED;
}

int64_t srv_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t srv_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* srv_state <-> the schema's State (numbers differ: STATE_RUNNING is 2). */
static const int state_pb[] = {
	[ST_UNSPECIFIED] = COREWEAVE__SANDBOX__V1__STATE__STATE_UNSPECIFIED,
	[ST_PENDING] = COREWEAVE__SANDBOX__V1__STATE__STATE_PENDING,
	[ST_CREATING] = COREWEAVE__SANDBOX__V1__STATE__STATE_CREATING,
	[ST_RUNNING] = COREWEAVE__SANDBOX__V1__STATE__STATE_RUNNING,
	[ST_PAUSED] = COREWEAVE__SANDBOX__V1__STATE__STATE_PAUSED,
	[ST_TERMINATING] = COREWEAVE__SANDBOX__V1__STATE__STATE_TERMINATING,
	[ST_COMPLETED] = COREWEAVE__SANDBOX__V1__STATE__STATE_COMPLETED,
	[ST_FAILED] = COREWEAVE__SANDBOX__V1__STATE__STATE_FAILED,
	[ST_TERMINATED] = COREWEAVE__SANDBOX__V1__STATE__STATE_TERMINATED,
};

int srv_state_to_pb(int st)
{
	return st >= 0 && st <= ST_TERMINATED ? state_pb[st] : 0;
}

int srv_state_from_pb(int v)
{
	for (int i = 0; i <= ST_TERMINATED; i++)
		if (state_pb[i] == v)
			return i;
	return -1;
}
