/*
 * The one converter between the schema's Sandbox and sbxd's srv_spec
 * (spec.c): the "cannot honour" table and every semantic check of a
 * create, each failure naming the field's JSON path.
 */
#ifndef SRV_SPEC_H
#define SRV_SPEC_H

#include "parse.h"
#include "sandbox.pb-c.h"

/* sb (a decoded Sandbox, the body of CreateSandbox) -> *out: 0; -1 a bad
 * request (400), SRV_PARSE_UNSUPPORTED a field sbxd cannot honour (501);
 * e names the field either way. The spec as asked is kept in out->pb. */
int srv_spec_from_pb(const Coreweave__Sandbox__V1__Sandbox *sb, srv_spec *out, srv_perr *e);
/* The spec as it was asked (a new message, wire_message_free), NULL when
 * the spec has none or out of memory. */
Coreweave__Sandbox__V1__SandboxSpec *srv_spec_to_pb(const srv_spec *sp);

/* spec.network (n may be NULL: not given) -> *out, every semantic check
 * of a NetworkOptions that the codec's typing leaves: CIDRs (canonical,
 * no host bits, except inside), DNS names, ports, rule counts; ingress
 * rules, tenant and selector destinations, wildcards and SCTP are
 * SRV_PARSE_UNSUPPORTED (501), never dropped. prefix is the JSON path of
 * n ("spec.network"); e names the field below it. 0, -1 (400) or
 * SRV_PARSE_UNSUPPORTED. */
int srv_netopts_from_pb(const Coreweave__Sandbox__V1__NetworkOptions *n, const char *prefix, srv_netopts *out,
			srv_perr *e);

/* sbxd's egress rules and network options (as parsed, normalised: CIDRs
 * canonical, protocols named) as the schema's messages (what
 * status.effectiveEgress shows). NULL: out of memory. */
Coreweave__Sandbox__V1__EgressRule *srv_egress_rule_to_pb(const srv_egress_rule *r);
Coreweave__Sandbox__V1__NetworkOptions *srv_netopts_to_pb(const srv_netopts *n);

#endif
