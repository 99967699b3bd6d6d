/*
 * Egress plans (see egress.h). A plan owns everything the runtime's rule
 * structs point to, so it lives until srv_box_create returns.
 */
#include "egress.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_ADDRS_PER_NAME 64

struct srv_egress_plan {
	srv_egress eg;
	srv_net_rule *rules;
	size_t nrules;
	char ***strs;        /* per rule: its dst and except vectors, owned */
	srv_net_ports **ports;
};

static const srv_egress_rule any_rule = {SRV_EGRESS_ANY, NULL, {NULL, 0}, NULL, 0};

void srv_egress_plan_free(srv_egress_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nrules; i++) {
		for (int k = 0; k < 2; k++) {
			char **v = p->strs[2 * i + (size_t)k];
			for (size_t j = 0; v && v[j]; j++)
				free(v[j]);
			free(v);
		}
		free(p->ports[i]);
	}
	free(p->strs);
	free(p->ports);
	free(p->rules);
	free(p);
}

const srv_egress *srv_egress_plan_rules(const srv_egress_plan *p)
{
	return p ? &p->eg : NULL;
}

/* The rules in effect, or n == 0 for none. */
static const srv_egress_rule *effective(const srv_netopts *n, int default_any, size_t *count)
{
	*count = 0;
	if (n->deny_egress)
		return NULL;
	if (n->negress) {
		*count = n->negress;
		return n->egress;
	}
	if (default_any) {
		*count = 1;
		return &any_rule;
	}
	return NULL;
}

const srv_egress_rule *srv_egress_effective(const srv_netopts *n, int default_any, size_t *count)
{
	return effective(n, default_any, count);
}

static char **strv_of(const char *const *src, size_t n)
{
	char **v = calloc(n + 1, sizeof *v);
	for (size_t i = 0; v && i < n; i++)
		if (!(v[i] = strdup(src[i]))) {
			for (size_t j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return NULL;
		}
	return v;
}

/* Every address the name has now, as /32 and /128 CIDRs. */
static char **resolve(const char *name, char *err)
{
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int rc = getaddrinfo(name, NULL, &hints, &res);
	if (rc != 0) {
		snprintf(err, SRV_MSGLEN, "dnsName \"%.64s\" does not resolve: %s", name, gai_strerror(rc));
		return NULL;
	}
	char **v = calloc(MAX_ADDRS_PER_NAME + 1, sizeof *v);
	size_t n = 0;
	for (struct addrinfo *a = res; v && a && n < MAX_ADDRS_PER_NAME; a = a->ai_next) {
		char txt[INET6_ADDRSTRLEN], one[INET6_ADDRSTRLEN + 8];
		const void *p = a->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
		                : a->ai_family == AF_INET6
		                        ? (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr
		                        : NULL;
		if (!p || !inet_ntop(a->ai_family, p, txt, sizeof txt))
			continue;
		snprintf(one, sizeof one, "%s/%d", txt, a->ai_family == AF_INET ? 32 : 128);
		int dup = 0;
		for (size_t j = 0; j < n; j++)
			dup |= strcmp(v[j], one) == 0;
		if (!dup && !(v[n++] = strdup(one)))
			n--;
	}
	freeaddrinfo(res);
	if (!v || n == 0) {
		snprintf(err, SRV_MSGLEN, "dnsName \"%.64s\" has no addresses", name);
		free(v);
		return NULL;
	}
	return v;
}

int srv_egress_plan_make(const srv_netopts *n, int default_any, srv_egress_plan **out, char *err)
{
	size_t count;
	const srv_egress_rule *rules = effective(n, default_any, &count);
	*out = NULL;
	if (count == 0)
		return 0;
	srv_egress_plan *p = calloc(1, sizeof *p);
	if (!p || !(p->rules = calloc(count, sizeof *p->rules)) || !(p->strs = calloc(2 * count, sizeof *p->strs)) ||
	    !(p->ports = calloc(count, sizeof *p->ports)))
		goto oom;
	for (size_t i = 0; i < count; i++) {
		const srv_egress_rule *r = &rules[i];
		srv_net_rule *nr = &p->rules[i];
		p->nrules = i + 1;
		if (r->kind == SRV_EGRESS_CIDR) {
			const char *one[] = {r->dest};
			if (!(p->strs[2 * i] = strv_of(one, 1)))
				goto oom;
		} else if (r->kind == SRV_EGRESS_DNS) {
			char msg[SRV_MSGLEN];
			if (!(p->strs[2 * i] = resolve(r->dest, msg))) {
				snprintf(err, SRV_MSGLEN, "network.egress[%zu].%.200s", i, msg);
				srv_egress_plan_free(p);
				return -1;
			}
		}
		if (r->except.n && !(p->strs[2 * i + 1] = strv_of((const char *const *)r->except.v, r->except.n)))
			goto oom;
		nr->dst = (const char *const *)p->strs[2 * i];
		/* A name's answers are the DNS's word: they never open metadata
		 * or link-local addresses, only a cidr naming them does. */
		nr->public_only = r->kind == SRV_EGRESS_DNS;
		nr->except = (const char *const *)p->strs[2 * i + 1];
		if (r->nports) {
			if (!(p->ports[i] = calloc(r->nports, sizeof *p->ports[i])))
				goto oom;
			for (size_t k = 0; k < r->nports; k++) {
				p->ports[i][k].proto = r->ports[k].proto == SRV_PORT_UDP ? SRV_NET_UDP : SRV_NET_TCP;
				p->ports[i][k].lo = (uint16_t)r->ports[k].port;
				p->ports[i][k].hi = (uint16_t)r->ports[k].end_port;
			}
			nr->ports = p->ports[i];
			nr->nports = r->nports;
		}
	}
	p->eg.rules = p->rules;
	p->eg.nrules = p->nrules;
	*out = p;
	return 0;
oom:
	snprintf(err, SRV_MSGLEN, "out of memory");
	srv_egress_plan_free(p);
	return -1;
}
