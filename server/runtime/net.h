/*
 * Egress of one sandbox. Every sandbox has its own network namespace; one
 * with egress also gets a user-mode network stack (slirp4netns) that
 * carries its traffic out through ordinary sockets of sbxd's namespace,
 * and an nftables policy inside its namespace that lets out only what the
 * rules allow and never the host itself: loopback, the host's own
 * addresses, the stack's gateway (which stands for the host) are always
 * refused. The sandbox has no CAP_NET_ADMIN, so it cannot change the
 * policy, its addresses or its routes. The stack lives exactly as long as
 * the sandbox: sbxd kills it at destroy, and it exits by itself when sbxd
 * dies (it watches a pipe whose only write end sbxd holds).
 */
#ifndef SRV_NET_H
#define SRV_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The stack's virtual network as the sandbox sees it: its address, the
 * gateway (the host, refused) and the DNS forwarder (the host's resolver,
 * allowed on port 53). */
#define SRV_NET_CIDR "10.0.2.0/24"
#define SRV_NET_DNS "10.0.2.3"

enum { SRV_NET_TCP = 1, SRV_NET_UDP = 2 };

typedef struct srv_net_ports {
	int proto;                   /* SRV_NET_TCP or SRV_NET_UDP */
	uint16_t lo, hi;             /* a range, lo <= hi */
} srv_net_ports;

/* One allow rule: any destination in dst (or, with dst NULL, any public
 * address: not link-local, multicast or reserved) but not in except, on
 * the given ports (none: every port and protocol). CIDRs are text like
 * "10.0.0.0/8" or "2001:db8::/32"; they are parsed again here, so no
 * string reaches nft unchecked. */
typedef struct srv_net_rule {
	const char *const *dst;      /* NULL-terminated, or NULL = any */
	int public_only;             /* even inside dst, never link-local,
	                                multicast or reserved (a dnsName's
	                                answers; implied by dst NULL) */
	const char *const *except;   /* NULL-terminated, or NULL */
	const srv_net_ports *ports;
	size_t nports;
} srv_net_rule;

typedef struct srv_egress {
	const srv_net_rule *rules;
	size_t nrules;
} srv_egress;

typedef struct srv_net srv_net;

/* Starts the stack for the network namespace of init_pid and installs the
 * policy there; returns once both are in place. -1 with a message. */
int srv_net_start(pid_t init_pid, const srv_egress *eg, srv_net **out, char *err);
/* The same for a box in a user namespace of an sbxd that is not root:
 * userns and netns are fds of the box's namespaces (borrowed), opened
 * while its init could still be looked at. */
int srv_net_start_ns(pid_t init_pid, int userns, int netns, const srv_egress *eg, srv_net **out, char *err);

/* Kills and reaps the stack. Accepts NULL. */
void srv_net_stop(srv_net *n);

/* The nft script for eg, with host (NULL-terminated CIDRs: the host's own
 * addresses) always refused. Exposed for unit tests. Returns a malloc'ed
 * string or NULL with a message. */
char *srv_net_ruleset(const srv_egress *eg, const char *const *host, char *err);

/* The host's own addresses now (every address of every interface in
 * sbxd's network namespace) as /32 and /128 CIDRs, NULL-terminated,
 * malloc'ed (free with srv_net_strv_free). */
char **srv_net_host_addrs(char *err);
void srv_net_strv_free(char **v);

#endif
