/*
 * From a spec's NetworkOptions (parse.h) to the runtime's egress rules
 * (runtime/net.h): which rules are in effect (the spec's, none with
 * denyEgress, else sbxd's default), and dnsName rules resolved to the
 * addresses the name has when the sandbox is created.
 */
#ifndef SRV_EGRESS_H
#define SRV_EGRESS_H

#include "parse.h"
#include "runtime/net.h"

typedef struct srv_egress_plan srv_egress_plan;

/* default_any: sbxd's --default-egress any (no rules and no denyEgress
 * then mean egress anywhere); else no rules = no egress. *out is NULL when
 * the sandbox gets no egress. -1 with a message (SRV_MSGLEN) when a
 * dnsName does not resolve. Blocks on DNS: call without locks held. */
int srv_egress_plan_make(const srv_netopts *n, int default_any, srv_egress_plan **out, char *err);
const srv_egress *srv_egress_plan_rules(const srv_egress_plan *p);
void srv_egress_plan_free(srv_egress_plan *p);

/* The rules in effect (status.effectiveEgress): the spec's, sbxd's
 * default or none (*count 0). Points into n or at a static rule. */
const srv_egress_rule *srv_egress_effective(const srv_netopts *n, int default_any, size_t *count);

#endif
