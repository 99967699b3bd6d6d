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

/* sbxd's egress rules and network options (as parsed, normalised: CIDRs
 * canonical, protocols named) as the schema's messages (what
 * status.effectiveEgress shows). NULL: out of memory. */
Coreweave__Sandbox__V1__EgressRule *srv_egress_rule_to_pb(const srv_egress_rule *r);
Coreweave__Sandbox__V1__NetworkOptions *srv_netopts_to_pb(const srv_netopts *n);

#endif
