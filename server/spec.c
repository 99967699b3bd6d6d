/*
 * The schema's Sandbox (as decoded by the codec) -> srv_spec, sbxd's own
 * spec (spec.h): the "cannot honour" table that refuses every field sbxd
 * does not do (never a sandbox that quietly lacks what was asked), then
 * the semantic checks (quantities, paths, caps, names) with the JSON path
 * of the field to blame. The spec as asked is kept packed in srv_spec so
 * that answers echo it exactly (srv_sbx_to_pb in core.c unpacks it).
 * sbxd's extras live where the schema allows them: the pids limit is the
 * annotation "sbxd.pids", the sbxfs name the tag "sbxfs-name=NAME".
 */
#include "spec.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"

#define PB(x) &coreweave__sandbox__v1__##x##__descriptor
#define NAME_TAG "sbxfs-name="
#define PIDS_ANNOTATION "sbxd.pids"

/* ------------------------------------------------ the "cannot honour" table */

/* Per message type: the field numbers sbxd honours (ok) and those it
 * refuses as a value it cannot take (bad: 400 INVALID_ARGUMENT); any
 * other field that is set answers 501 UNIMPLEMENTED naming its path (a
 * feature sbxd lacks). A message type not in the table is honoured whole
 * (NetworkOptions: spec.c's network check refuses what it cannot do by
 * value). Messages reached through an ok field are checked in turn. */
static const struct honour {
	const ProtobufCMessageDescriptor *d;
	uint32_t ok[16];  /* 0-terminated */
	uint32_t bad[8];
} honour[] = {
	/* Sandbox: spec; sandbox_id, status, source_template_* are the
	 * service's to set. */
	{PB(sandbox), {2}, {1, 3, 4, 5}},
	/* SandboxSpec: containers, primary_container, volumes (scratch
	 * ones, volume.h), max_lifetime_seconds, tags, network,
	 * annotations, mode (by value, below). Not: services 4,
	 * network_ids 6, object_storage_access 7, runner_ids 9,
	 * init_containers 12, instance_type 13, runtime_class 15. */
	{PB(sandbox_spec), {1, 2, 3, 5, 8, 10, 11, 14}, {0}},
	/* Container: name, image, command, args, environment_variables,
	 * resources, files, volume_mounts, working_dir. Not:
	 * secret_stores 9, resource_requirements 11, security_context 12,
	 * image_pull_credentials 13. */
	{PB(container), {1, 2, 3, 4, 5, 6, 7, 8, 10}, {0}},
	/* Resources: cpu, memory. Not: gpu 3. */
	{PB(resources), {1, 2}, {0}},
	/* SandboxVolume: name, scratch. Not: volume_id 3 (persistent
	 * volumes: sbxd has none). */
	{PB(sandbox_volume), {1, 2}, {0}},
	/* ScratchVolume: size, medium, restore_from_snapshot_id (the
	 * snapshot store's restore hook, core.c; its id and owner checked by
	 * srv_rpc_check_restores). */
	{PB(scratch_volume), {1, 2, 3}, {0}},
	/* VolumeMount: volume, mount_path, read_only, sub_path. */
	{PB(volume_mount), {1, 2, 3, 4}, {0}},
	/* FileMount: path, content. */
	{PB(file_mount), {1, 2}, {0}},
};

static const struct honour *honour_of(const ProtobufCMessageDescriptor *d)
{
	for (size_t i = 0; i < sizeof honour / sizeof honour[0]; i++)
		if (honour[i].d == d)
			return &honour[i];
	return NULL;
}

static int in_list(const uint32_t *l, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n && l[i]; i++)
		if (l[i] == id)
			return 1;
	return 0;
}

static int perr(srv_perr *e, int rc, const char *field, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int perr(srv_perr *e, int rc, const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	snprintf(e->field, sizeof e->field, "%s", field ? field : "");
	return rc;
}

/* Walks m (at JSON path `path`) against the table. */
static int check_honour(const ProtobufCMessage *m, const char *path, srv_perr *e)
{
	const struct honour *h = honour_of(m->descriptor);
	if (!h)
		return 0;
	const ProtobufCMessageDescriptor *d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (!wire_field_present(m, f))
			continue;
		char jn[64], fp[SRV_FIELDLEN];
		wire_json_name(f->name, jn, sizeof jn);
		snprintf(fp, sizeof fp, "%s%s%s", path, *path ? "." : "", jn);
		if (in_list(h->bad, 8, f->id))
			return perr(e, -1, fp, "%s: not a field a client sets (output only)", fp);
		if (!in_list(h->ok, 16, f->id))
			return perr(e, SRV_PARSE_UNSUPPORTED, fp, "%s is not supported by sbxd", fp);
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		const char *base = (const char *)m + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
			ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)base;
			for (size_t k = 0; k < n; k++) {
				char ip[SRV_FIELDLEN + 24];
				snprintf(ip, sizeof ip, "%s[%zu]", fp, k);
				int rc = check_honour(v[k], ip, e);
				if (rc)
					return rc;
			}
		} else {
			int rc = check_honour(*(ProtobufCMessage *const *)base, fp, e);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* ------------------------------------------------------ NetworkOptions */

/* A field's path into buf (cut to cap: paths go into SRV_FIELDLEN). */
static void fpath(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fpath(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

/* "a.b.c/n" or "x:y::/n" with no host bits set, into its canonical text. */
static int parse_cidr(const char *s, int *family, unsigned char addr[16], int *plen, char *canon, size_t clen)
{
	char host[64];
	const char *slash = strchr(s, '/');
	if (!slash || (size_t)(slash - s) >= sizeof host || !slash[1])
		return -1;
	memcpy(host, s, (size_t)(slash - s));
	host[slash - s] = '\0';
	int64_t n;
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, host, addr) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, host, addr) == 1)
		*family = AF_INET6;
	else
		return -1;
	int bits = *family == AF_INET ? 32 : 128;
	for (const char *p = slash + 1; *p; p++)
		if (!isdigit((unsigned char)*p))
			return -1;
	if (srv_parse_int(slash + 1, 0, bits, &n) != 0)
		return -1;
	*plen = (int)n;
	for (int b = *plen; b < bits; b++)
		if (addr[b / 8] & (0x80 >> (b % 8)))
			return -2; /* host bits set */
	char txt[INET6_ADDRSTRLEN];
	if (!inet_ntop(*family, addr, txt, sizeof txt))
		return -1;
	snprintf(canon, clen, "%s/%d", txt, *plen);
	return 0;
}

static int cidr_inside(int fa, const unsigned char *a, int alen, int fb, const unsigned char *b, int blen)
{
	if (fa != fb || blen < alen)
		return 0;
	for (int i = 0; i < alen; i++)
		if ((a[i / 8] ^ b[i / 8]) & (0x80 >> (i % 8)))
			return 0;
	return 1;
}

/* One CIDR string at path `where` (a field path, also the blamed field). */
static int cidr_field(const char *s, const char *where, int *fam, unsigned char addr[16], int *plen, char *canon,
		      size_t clen, srv_perr *e)
{
	int rc = parse_cidr(s, fam, addr, plen, canon, clen);
	if (rc == -2)
		return perr(e, -1, where, "%s \"%.64s\" has bits set past the prefix length", where, s);
	if (rc != 0)
		return perr(e, -1, where, "%s \"%.64s\" is not a CIDR like \"10.0.0.0/8\" or \"2001:db8::/32\"", where,
			    s);
	return 0;
}

/* A DNS name as RFC 1123 has it: labels of letters, digits and '-'. */
static int valid_dns_name(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (n == 0 || n > 253 || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!(isalnum(c) || c == '-') || (label == 0 && c == '-') || ++label > 63)
			return 0;
	}
	return label == 0 || s[n - 1] != '-';
}

static int net_ports(const Coreweave__Sandbox__V1__EgressRule *in, const char *where, srv_egress_rule *r,
		     srv_perr *e)
{
	char w[SRV_FIELDLEN], f[SRV_FIELDLEN + 16];
	if (in->n_ports > SRV_MAX_PORTS) {
		fpath(w, sizeof w, "%s.ports", where);
		return perr(e, -1, w, "%s has more than %d entries", w, SRV_MAX_PORTS);
	}
	if (in->n_ports == 0)
		return 0;
	if (!(r->ports = calloc(in->n_ports, sizeof *r->ports)))
		return perr(e, -1, NULL, "out of memory");
	for (size_t i = 0; i < in->n_ports; i++) {
		const Coreweave__Sandbox__V1__PortRange *pr = in->ports[i];
		srv_port_range *p = &r->ports[r->nports];
		const char *proto = pr->protocol ? pr->protocol : "";
		fpath(w, sizeof w, "%s.ports[%zu]", where, i);
		/* As Kubernetes' NetworkPolicyPort: no protocol means TCP. */
		p->proto = SRV_PORT_TCP;
		snprintf(f, sizeof f, "%s.protocol", w);
		if (strcasecmp(proto, "UDP") == 0)
			p->proto = SRV_PORT_UDP;
		else if (strcasecmp(proto, "SCTP") == 0)
			return perr(e, SRV_PARSE_UNSUPPORTED, f, "%s SCTP is not supported by sbxd (TCP, UDP)", f);
		else if (*proto && strcasecmp(proto, "TCP") != 0)
			return perr(e, -1, f, "%s \"%.16s\" is not TCP or UDP", f, proto);
		snprintf(f, sizeof f, "%s.port", w);
		if (pr->port < 1 || pr->port > 65535)
			return perr(e, -1, f, "%s is required, an integer 1..65535", f);
		p->port = p->end_port = pr->port;
		snprintf(f, sizeof f, "%s.endPort", w);
		if (pr->end_port != 0 && (pr->end_port < p->port || pr->end_port > 65535))
			return perr(e, -1, f, "%s must be an integer port..65535", f);
		if (pr->end_port)
			p->end_port = pr->end_port;
		r->nports++;
	}
	return 0;
}

static int net_rule(const Coreweave__Sandbox__V1__EgressRule *in, const char *where, srv_egress_rule *r, srv_perr *e)
{
	char w[SRV_FIELDLEN], ww[SRV_FIELDLEN + 24];
	switch (in->destination_case) {
	case COREWEAVE__SANDBOX__V1__EGRESS_RULE__DESTINATION_TENANT:
		fpath(w, sizeof w, "%s.tenant", where);
		return perr(e, SRV_PARSE_UNSUPPORTED, w, "%s is not supported by sbxd (use cidr, dnsName or any)", w);
	case COREWEAVE__SANDBOX__V1__EGRESS_RULE__DESTINATION_SELECTOR:
		fpath(w, sizeof w, "%s.selector", where);
		return perr(e, SRV_PARSE_UNSUPPORTED, w, "%s is not supported by sbxd (use cidr, dnsName or any)", w);
	case COREWEAVE__SANDBOX__V1__EGRESS_RULE__DESTINATION_ANY:
		fpath(w, sizeof w, "%s.any", where);
		if (!in->any)
			return perr(e, -1, w, "%s is false: give \"any\": true, a cidr or a dnsName", w);
		r->kind = SRV_EGRESS_ANY;
		break;
	case COREWEAVE__SANDBOX__V1__EGRESS_RULE__DESTINATION_DNS_NAME: {
		const char *dns = in->dns_name ? in->dns_name : "";
		fpath(w, sizeof w, "%s.dnsName", where);
		if (strchr(dns, '*'))
			return perr(e, SRV_PARSE_UNSUPPORTED, w,
				    "%s \"%.64s\": wildcards are not supported by sbxd (it resolves the name when the "
				    "sandbox is created)", w, dns);
		if (!valid_dns_name(dns))
			return perr(e, -1, w, "%s \"%.64s\" is not a DNS name", w, dns);
		r->kind = SRV_EGRESS_DNS;
		if (!(r->dest = strdup(dns)))
			return perr(e, -1, NULL, "out of memory");
		break;
	}
	case COREWEAVE__SANDBOX__V1__EGRESS_RULE__DESTINATION_CIDR: {
		const Coreweave__Sandbox__V1__CidrBlock *cb = in->cidr;
		char canon[INET6_ADDRSTRLEN + 8];
		unsigned char a[16], b[16];
		int fa, la, fb, lb;
		fpath(w, sizeof w, "%s.cidr", where);
		fpath(ww, sizeof ww, "%s.cidr", w);
		if (!cb || !cb->cidr || !*cb->cidr)
			return perr(e, -1, ww, "%s is required", ww);
		if (cidr_field(cb->cidr, ww, &fa, a, &la, canon, sizeof canon, e))
			return -1;
		r->kind = SRV_EGRESS_CIDR;
		if (!(r->dest = strdup(canon)))
			return perr(e, -1, NULL, "out of memory");
		if (cb->n_except > SRV_MAX_EXCEPT) {
			fpath(ww, sizeof ww, "%s.except", w);
			return perr(e, -1, ww, "%s has more than %d entries", ww, SRV_MAX_EXCEPT);
		}
		for (size_t i = 0; i < cb->n_except; i++) {
			fpath(ww, sizeof ww, "%s.except[%zu]", w, i);
			if (cidr_field(cb->except[i], ww, &fb, b, &lb, canon, sizeof canon, e))
				return -1;
			if (!cidr_inside(fa, a, la, fb, b, lb))
				return perr(e, -1, ww, "%s \"%.64s\" is not inside %s", ww, cb->except[i], r->dest);
			if (srv_strv_push(&r->except, canon) != 0)
				return perr(e, -1, NULL, "out of memory");
		}
		break;
	}
	default:
		return perr(e, -1, where, "%s needs a destination: cidr, dnsName or \"any\": true", where);
	}
	return net_ports(in, where, r, e);
}

int srv_netopts_from_pb(const Coreweave__Sandbox__V1__NetworkOptions *n, const char *prefix, srv_netopts *out,
			srv_perr *e)
{
	char w[SRV_FIELDLEN];
	int rc = -1;
	memset(out, 0, sizeof *out);
	if (!n)
		return 0;
	out->given = 1;
	if (n->n_ingress > 0) {
		/* Nothing outside can open a connection into a sandbox here. */
		fpath(w, sizeof w, "%s.ingress", prefix);
		rc = perr(e, SRV_PARSE_UNSUPPORTED, w,
			  "%s is not supported by sbxd (sandboxes accept no inbound connections)", w);
		goto out;
	}
	out->deny_egress_set = n->_deny_egress_case == COREWEAVE__SANDBOX__V1__NETWORK_OPTIONS___DENY_EGRESS_DENY_EGRESS;
	out->deny_egress = out->deny_egress_set && n->deny_egress;
	out->deny_ingress_set =
		n->_deny_ingress_case == COREWEAVE__SANDBOX__V1__NETWORK_OPTIONS___DENY_INGRESS_DENY_INGRESS;
	out->deny_ingress = out->deny_ingress_set && n->deny_ingress;
	if (n->n_egress > SRV_MAX_EGRESS) {
		fpath(w, sizeof w, "%s.egress", prefix);
		perr(e, -1, w, "%s has more than %d rules", w, SRV_MAX_EGRESS);
		goto out;
	}
	if (n->n_egress && !(out->egress = calloc(n->n_egress, sizeof *out->egress))) {
		perr(e, -1, NULL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n->n_egress; i++) {
		fpath(w, sizeof w, "%s.egress[%zu]", prefix, i);
		int r = net_rule(n->egress[i], w, &out->egress[out->negress], e);
		out->negress++; /* counted even half-made, so free sees it */
		if (r != 0) {
			rc = r;
			goto out;
		}
	}
	if (out->deny_egress && out->negress) {
		fpath(w, sizeof w, "%s.denyEgress", prefix);
		perr(e, -1, w, "%s is true but %s.egress has rules: give one or the other", w, prefix);
		goto out;
	}
	rc = 0;
out:
	if (rc)
		srv_netopts_free(out);
	return rc;
}

/* ------------------------------------------------------------ the checks */

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

/* A path of the sandbox, normalised into out: "//" and "." components
 * dropped, no trailing '/'; abs: must start with '/' (else must not).
 * -1 for "..", an empty result where one is needed, or too long. */
static int norm_path(const char *in, int abs, char *out, size_t cap)
{
	size_t o = 0;
	if (!in || strlen(in) >= SRV_MAX_PATH || cap < 2)
		return -1;
	if (abs != (in[0] == '/'))
		return -1;
	for (const char *p = in; *p;) {
		while (*p == '/')
			p++;
		const char *q = p;
		while (*q && *q != '/')
			q++;
		size_t n = (size_t)(q - p);
		if (n == 0)
			break;
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -1;
		if (n > 255)
			return -1;
		if (!(n == 1 && p[0] == '.')) {
			if (o + n + 2 > cap)
				return -1;
			if (abs || o)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p = q;
	}
	out[o] = '\0';
	return 0;
}

/* The kernel's own file systems inside: a volume or file there would act
 * on procfs, sysfs or the box's device nodes, never on a plain dir. */
static int pseudo_path(const char *p)
{
	static const char *const pre[] = {"/proc", "/sys", "/dev"};
	for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
		size_t n = strlen(pre[i]);
		if (strncmp(p, pre[i], n) == 0 && (p[n] == '\0' || p[n] == '/'))
			return 1;
	}
	return 0;
}

/* spec.volumes, containers[0].volumeMounts and files into out. */
static int volumes_from_pb(const Coreweave__Sandbox__V1__SandboxSpec *sp,
			   const Coreweave__Sandbox__V1__Container *c, srv_spec *out, srv_perr *e)
{
	char fp[SRV_FIELDLEN], norm[SRV_MAX_PATH];
	if (sp->n_volumes > SRV_MAX_VOLUMES)
		return perr(e, -1, "spec.volumes", "spec.volumes has more than %d entries", SRV_MAX_VOLUMES);
	if (sp->n_volumes && !(out->vols = calloc(sp->n_volumes, sizeof *out->vols)))
		return perr(e, -1, NULL, "out of memory");
	for (size_t i = 0; i < sp->n_volumes; i++) {
		const Coreweave__Sandbox__V1__SandboxVolume *v = sp->volumes[i];
		const char *nm = v->name ? v->name : "";
		fpath(fp, sizeof fp, "spec.volumes[%zu].name", i);
		if (!*nm)
			return perr(e, -1, fp, "%s is required", fp);
		if (strlen(nm) > 63 || !srv_valid_name(nm))
			return perr(e, -1, fp, "%s \"%.63s\": use 1-63 of [A-Za-z0-9._-], not starting with '.'", fp,
				    nm);
		for (size_t k = 0; k < out->nvols; k++)
			if (strcmp(out->vols[k].name, nm) == 0)
				return perr(e, -1, fp, "%s: two volumes named \"%.63s\"", fp, nm);
		fpath(fp, sizeof fp, "spec.volumes[%zu].scratch", i);
		if (!v->scratch)
			return perr(e, -1, fp, "%s is required (sbxd's volumes are scratch volumes)", fp);
		srv_volume_spec *o = &out->vols[out->nvols];
		o->size_bytes = SRV_VOLUME_DEFAULT_BYTES;
		o->medium = v->scratch->medium == COREWEAVE__SANDBOX__V1__STORAGE_MEDIUM__STORAGE_MEDIUM_MEMORY
				    ? SRV_MEDIUM_MEMORY
				    : SRV_MEDIUM_DISK;
		if (!(o->name = strdup(nm)) || !(o->restore_from = dup_or_empty(v->scratch->restore_from_snapshot_id)))
			return perr(e, -1, NULL, "out of memory");
		out->nvols++;
		if (v->scratch->medium != COREWEAVE__SANDBOX__V1__STORAGE_MEDIUM__STORAGE_MEDIUM_UNSPECIFIED &&
		    v->scratch->medium != COREWEAVE__SANDBOX__V1__STORAGE_MEDIUM__STORAGE_MEDIUM_DISK &&
		    v->scratch->medium != COREWEAVE__SANDBOX__V1__STORAGE_MEDIUM__STORAGE_MEDIUM_MEMORY) {
			fpath(fp, sizeof fp, "spec.volumes[%zu].scratch.medium", i);
			return perr(e, -1, fp, "%s: not a StorageMedium", fp);
		}
		if (v->scratch->size && *v->scratch->size) {
			fpath(fp, sizeof fp, "spec.volumes[%zu].scratch.size", i);
			if (srv_parse_memory(v->scratch->size, &o->size_bytes, e->msg) != 0) {
				snprintf(e->field, sizeof e->field, "%s", fp);
				return -1;
			}
			if (o->size_bytes < SRV_VOLUME_MIN_BYTES || o->size_bytes > SRV_VOLUME_MAX_BYTES)
				return perr(e, -1, fp, "%s \"%.32s\" is outside 1Mi..64Gi", fp, v->scratch->size);
		}
	}
	if (c->n_volume_mounts > SRV_MAX_VMOUNTS)
		return perr(e, -1, "spec.containers[0].volumeMounts",
			    "spec.containers[0].volumeMounts has more than %d entries", SRV_MAX_VMOUNTS);
	if (c->n_volume_mounts && !(out->vmounts = calloc(c->n_volume_mounts, sizeof *out->vmounts)))
		return perr(e, -1, NULL, "out of memory");
	for (size_t i = 0; i < c->n_volume_mounts; i++) {
		const Coreweave__Sandbox__V1__VolumeMount *m = c->volume_mounts[i];
		srv_vmount *o = &out->vmounts[out->nvmounts];
		fpath(fp, sizeof fp, "spec.containers[0].volumeMounts[%zu].volume", i);
		int found = 0;
		for (size_t k = 0; m->volume && k < out->nvols; k++)
			found |= strcmp(out->vols[k].name, m->volume) == 0;
		if (!found)
			return perr(e, -1, fp, "%s \"%.63s\" names no volume of spec.volumes", fp,
				    m->volume ? m->volume : "");
		fpath(fp, sizeof fp, "spec.containers[0].volumeMounts[%zu].mountPath", i);
		if (norm_path(m->mount_path, 1, norm, sizeof norm) != 0 || !norm[0])
			return perr(e, -1, fp, "%s must be an absolute path below / without \"..\"", fp);
		if (pseudo_path(norm))
			return perr(e, -1, fp, "%s %.200s: not under /proc, /sys or /dev", fp, norm);
		for (size_t k = 0; k < out->nvmounts; k++)
			if (strcmp(out->vmounts[k].mount_path, norm) == 0)
				return perr(e, -1, fp, "%s %.200s: two volumes mounted there", fp, norm);
		if (!(o->mount_path = strdup(norm)) || !(o->volume = strdup(m->volume)))
			return perr(e, -1, NULL, "out of memory");
		out->nvmounts++;
		fpath(fp, sizeof fp, "spec.containers[0].volumeMounts[%zu].subPath", i);
		if (m->sub_path && *m->sub_path && norm_path(m->sub_path, 0, norm, sizeof norm) != 0)
			return perr(e, -1, fp, "%s must be a relative path without \"..\"", fp);
		if (!(o->sub_path = strdup(m->sub_path && *m->sub_path ? norm : "")))
			return perr(e, -1, NULL, "out of memory");
		o->read_only = m->read_only != 0;
	}
	if (c->n_files > SRV_MAX_FILEMOUNTS)
		return perr(e, -1, "spec.containers[0].files", "spec.containers[0].files has more than %d entries",
			    SRV_MAX_FILEMOUNTS);
	if (c->n_files && !(out->files = calloc(c->n_files, sizeof *out->files)))
		return perr(e, -1, NULL, "out of memory");
	for (size_t i = 0; i < c->n_files; i++) {
		const Coreweave__Sandbox__V1__FileMount *f = c->files[i];
		srv_filemount *o = &out->files[out->nfiles];
		fpath(fp, sizeof fp, "spec.containers[0].files[%zu].path", i);
		if (norm_path(f->path, 1, norm, sizeof norm) != 0 || !norm[0])
			return perr(e, -1, fp, "%s must be an absolute file path without \"..\"", fp);
		if (pseudo_path(norm))
			return perr(e, -1, fp, "%s %.200s: not under /proc, /sys or /dev", fp, norm);
		for (size_t k = 0; k < out->nfiles; k++)
			if (strcmp(out->files[k].path, norm) == 0)
				return perr(e, -1, fp, "%s %.200s: given twice", fp, norm);
		for (size_t k = 0; k < out->nvmounts; k++)
			if (strcmp(out->vmounts[k].mount_path, norm) == 0)
				return perr(e, -1, fp, "%s %.200s is a volume's mountPath", fp, norm);
		if (!(o->path = strdup(norm)) || !(o->data = malloc(f->content.len ? f->content.len : 1)))
			return perr(e, -1, NULL, "out of memory");
		if (f->content.len)
			memcpy(o->data, f->content.data, f->content.len);
		o->len = f->content.len;
		out->nfiles++;
	}
	return 0;
}

int srv_spec_from_pb(const Coreweave__Sandbox__V1__Sandbox *sb, srv_spec *out, srv_perr *e)
{
	memset(out, 0, sizeof *out);
	e->msg[0] = e->field[0] = '\0';
	int rc = check_honour(&sb->base, "", e);
	if (rc)
		return rc;
	const Coreweave__Sandbox__V1__SandboxSpec *sp = sb->spec;
	if (!sp)
		return perr(e, -1, "spec", "spec is required");
	if (sp->mode == COREWEAVE__SANDBOX__V1__SANDBOX_MODE__SANDBOX_MODE_CKS)
		return perr(e, SRV_PARSE_UNSUPPORTED, "spec.mode", "spec.mode SANDBOX_MODE_CKS is not supported by sbxd");
	if (sp->n_containers == 0)
		return perr(e, -1, "spec.containers", "spec.containers: one container is required");
	if (sp->n_containers > 1)
		return perr(e, SRV_PARSE_UNSUPPORTED, "spec.containers",
			    "spec.containers: sbxd runs one container per sandbox, %zu given", sp->n_containers);
	const Coreweave__Sandbox__V1__Container *c = sp->containers[0];
	if (!c->name || !*c->name)
		return perr(e, -1, "spec.containers[0].name", "spec.containers[0].name is required");
	if (strlen(c->name) > 63 || !srv_valid_name(c->name))
		return perr(e, -1, "spec.containers[0].name",
			    "spec.containers[0].name: use 1-63 of [A-Za-z0-9._-], not starting with '.'");
	if (sp->primary_container && *sp->primary_container && strcmp(sp->primary_container, c->name) != 0)
		return perr(e, -1, "spec.primaryContainer", "spec.primaryContainer \"%.63s\" names no container",
			    sp->primary_container);
	rc = -1;
	out->name = strdup("");
	out->image = dup_or_empty(c->image);
	out->working_dir = dup_or_empty(c->working_dir);
	out->cpu = dup_or_empty(c->resources ? c->resources->cpu : NULL);
	out->memory = dup_or_empty(c->resources ? c->resources->memory : NULL);
	out->pids = strdup("");
	if (!out->name || !out->image || !out->working_dir || !out->cpu || !out->memory || !out->pids) {
		perr(e, -1, NULL, "out of memory");
		goto out;
	}
	if (!*out->image) {
		perr(e, -1, "spec.containers[0].image",
		     "spec.containers[0].image is required (sbxd's default image is \"default\")");
		goto out;
	}
	/* A directory image's name or an OCI reference (oci.c parses it). */
	if (strlen(out->image) > 255 ||
	    strspn(out->image, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:@") !=
		    strlen(out->image)) {
		perr(e, -1, "spec.containers[0].image", "bad image reference \"%.255s\"", out->image);
		goto out;
	}
	/* argv = command + args ("" command: the image's entrypoint). */
	size_t used = 0;
	if (c->command && *c->command) {
		used += strlen(c->command) + 1;
		if (srv_strv_push(&out->argv, c->command) != 0) {
			perr(e, -1, NULL, "out of memory");
			goto out;
		}
	} else if (c->n_args) {
		/* The real API's rule: an empty command is the image's
		 * entrypoint, these args replace its Cmd (core.c; an image
		 * without an Entrypoint is a 400 there). */
		out->args_only = 1;
	}
	if (c->n_args >= SRV_MAX_ARGV) {
		perr(e, -1, "spec.containers[0].args", "spec.containers[0].args has more than %d entries",
		     SRV_MAX_ARGV - 1);
		goto out;
	}
	for (size_t i = 0; i < c->n_args; i++) {
		used += strlen(c->args[i]) + 1;
		if (used > SRV_MAX_ARGV_BYTES) {
			perr(e, -1, "spec.containers[0].args", "command and args are larger than %u bytes",
			     SRV_MAX_ARGV_BYTES);
			goto out;
		}
		if (srv_strv_push(&out->argv, c->args[i]) != 0) {
			perr(e, -1, NULL, "out of memory");
			goto out;
		}
	}
	/* environmentVariables -> "K=V" */
	if (c->n_environment_variables > SRV_MAX_ENV) {
		perr(e, -1, "spec.containers[0].environmentVariables", "more than %d environment variables",
		     SRV_MAX_ENV);
		goto out;
	}
	used = 0;
	for (size_t i = 0; i < c->n_environment_variables; i++) {
		const char *k = c->environment_variables[i]->key, *v = c->environment_variables[i]->value;
		k = k ? k : "";
		v = v ? v : "";
		if (!*k || strchr(k, '=')) {
			perr(e, -1, "spec.containers[0].environmentVariables", "bad environment variable name \"%.40s\"",
			     k);
			goto out;
		}
		size_t kl = strlen(k), vl = strlen(v);
		used += kl + vl + 2;
		if (used > SRV_MAX_ENV_BYTES) {
			perr(e, -1, "spec.containers[0].environmentVariables",
			     "environment variables are larger than %u bytes", SRV_MAX_ENV_BYTES);
			goto out;
		}
		char *kv = malloc(kl + vl + 2);
		if (!kv) {
			perr(e, -1, NULL, "out of memory");
			goto out;
		}
		memcpy(kv, k, kl);
		kv[kl] = '=';
		memcpy(kv + kl + 1, v, vl + 1);
		int prc = srv_strv_push(&out->env, kv);
		free(kv);
		if (prc) {
			perr(e, -1, NULL, "out of memory");
			goto out;
		}
	}
	if (*out->working_dir && (out->working_dir[0] != '/' || strlen(out->working_dir) >= SRV_MAX_PATH)) {
		perr(e, -1, "spec.containers[0].workingDir", "spec.containers[0].workingDir must be an absolute path");
		goto out;
	}
	if (*out->cpu && srv_parse_cpu(out->cpu, &out->cpu_millis, e->msg)) {
		snprintf(e->field, sizeof e->field, "spec.containers[0].resources.cpu");
		goto out;
	}
	if (*out->memory && srv_parse_memory(out->memory, &out->memory_bytes, e->msg)) {
		snprintf(e->field, sizeof e->field, "spec.containers[0].resources.memory");
		goto out;
	}
	if (*out->memory && out->memory_bytes < (4 << 20)) {
		perr(e, -1, "spec.containers[0].resources.memory", "memory %.32s is below the 4Mi minimum", out->memory);
		goto out;
	}
	if (sp->max_lifetime_seconds < 0 || sp->max_lifetime_seconds > SRV_MAX_LIFETIME) {
		perr(e, -1, "spec.maxLifetimeSeconds", "spec.maxLifetimeSeconds must be 0..%d", SRV_MAX_LIFETIME);
		goto out;
	}
	out->lifetime_s = sp->max_lifetime_seconds;
	/* Tags (a comma is part of a tag); the sbxfs name is one of them. */
	if (sp->n_tags > SRV_MAX_TAGS) {
		perr(e, -1, "spec.tags", "spec.tags has more than %d entries", SRV_MAX_TAGS);
		goto out;
	}
	for (size_t i = 0; i < sp->n_tags; i++) {
		const char *t = sp->tags[i];
		char fp[32];
		snprintf(fp, sizeof fp, "spec.tags[%zu]", i);
		size_t tl = strlen(t);
		if (tl == 0 || tl > SRV_MAX_TAG_LEN) {
			perr(e, -1, fp, "bad tag \"%.40s\": 1-%d bytes", t, SRV_MAX_TAG_LEN);
			goto out;
		}
		if (strncmp(t, NAME_TAG, strlen(NAME_TAG)) == 0) {
			const char *nm = t + strlen(NAME_TAG);
			if (*out->name) {
				perr(e, -1, fp, "two %s tags", NAME_TAG);
				goto out;
			}
			if (strlen(nm) > 63 || !srv_valid_name(nm)) {
				perr(e, -1, fp, "bad name \"%.63s\": use 1-63 of [A-Za-z0-9._-], not starting with '.'",
				     nm);
				goto out;
			}
			if (strncmp(nm, "sbx-", 4) == 0) {
				/* Ids start so: a name there could pass for an id. */
				perr(e, -1, fp, "bad name \"%.63s\": the prefix \"sbx-\" is reserved for sandbox ids", nm);
				goto out;
			}
			free(out->name);
			if (!(out->name = strdup(nm))) {
				perr(e, -1, NULL, "out of memory");
				goto out;
			}
		}
		if (srv_strv_push(&out->tags, t) != 0) {
			perr(e, -1, NULL, "out of memory");
			goto out;
		}
	}
	/* Annotations are kept and echoed; sbxd reads "sbxd.pids". */
	for (size_t i = 0; i < sp->n_annotations; i++) {
		const char *k = sp->annotations[i]->key, *v = sp->annotations[i]->value;
		if (!k || strcmp(k, PIDS_ANNOTATION) != 0)
			continue;
		if (!v || srv_parse_int(v, 1, 1 << 22, &out->max_pids) != 0) {
			perr(e, -1, "spec.annotations." PIDS_ANNOTATION,
			     "annotation " PIDS_ANNOTATION " must be a process count 1..%d", 1 << 22);
			goto out;
		}
		free(out->pids);
		if (!(out->pids = strdup(v))) {
			perr(e, -1, NULL, "out of memory");
			goto out;
		}
	}
	rc = srv_netopts_from_pb(sp->network, "spec.network", &out->net, e);
	if (rc)
		goto out;
	rc = volumes_from_pb(sp, c, out, e);
	if (rc)
		goto out;
	/* The spec as asked, for answers to echo. */
	rc = -1;
	out->pb_len = protobuf_c_message_get_packed_size(&sp->base);
	if (!(out->pb = malloc(out->pb_len ? out->pb_len : 1))) {
		perr(e, -1, NULL, "out of memory");
		goto out;
	}
	protobuf_c_message_pack(&sp->base, out->pb);
	rc = 0;
out:
	if (rc)
		srv_spec_free(out);
	return rc;
}

Coreweave__Sandbox__V1__SandboxSpec *srv_spec_to_pb(const srv_spec *sp)
{
	if (!sp->pb)
		return NULL;
	return coreweave__sandbox__v1__sandbox_spec__unpack(NULL, sp->pb_len, sp->pb);
}

int srv_parse_create(const char *body, size_t len, srv_spec *out, srv_perr *e)
{
	ProtobufCMessage *m = NULL;
	wire_err we;
	wire_caps caps = wire_caps_default;
	caps.max_bytes = SRV_MAX_BODY;
	caps.max_depth = SRV_MAX_DEPTH;
	memset(out, 0, sizeof *out);
	int rc = wire_json_decode(PB(sandbox), body, len, &caps, &m, &we);
	if (rc)
		return perr(e, -1, we.field, "%s", rc == -ENOMEM ? "out of memory" : we.msg);
	rc = srv_spec_from_pb((const Coreweave__Sandbox__V1__Sandbox *)m, out, e);
	wire_message_free(m);
	return rc;
}

/* One of sbxd's egress rules as the schema's EgressRule. */
Coreweave__Sandbox__V1__EgressRule *srv_egress_rule_to_pb(const srv_egress_rule *r)
{
	Coreweave__Sandbox__V1__EgressRule *o = malloc(sizeof *o);
	if (!o)
		return NULL;
	coreweave__sandbox__v1__egress_rule__init(o);
	if (r->kind == SRV_EGRESS_ANY) {
		o->destination_case = COREWEAVE__SANDBOX__V1__EGRESS_RULE__DESTINATION_ANY;
		o->any = 1;
	} else if (r->kind == SRV_EGRESS_DNS) {
		o->destination_case = COREWEAVE__SANDBOX__V1__EGRESS_RULE__DESTINATION_DNS_NAME;
		if (!(o->dns_name = strdup(r->dest)))
			goto fail;
	} else {
		Coreweave__Sandbox__V1__CidrBlock *c = malloc(sizeof *c);
		if (!c)
			goto fail;
		coreweave__sandbox__v1__cidr_block__init(c);
		o->destination_case = COREWEAVE__SANDBOX__V1__EGRESS_RULE__DESTINATION_CIDR;
		o->cidr = c;
		if (!(c->cidr = strdup(r->dest)) || (r->except.n && !(c->except = calloc(r->except.n, sizeof(char *)))))
			goto fail;
		for (; c->n_except < r->except.n; c->n_except++)
			if (!(c->except[c->n_except] = strdup(r->except.v[c->n_except])))
				goto fail;
	}
	if (r->nports && !(o->ports = calloc(r->nports, sizeof *o->ports)))
		goto fail;
	for (size_t j = 0; j < r->nports; j++) {
		Coreweave__Sandbox__V1__PortRange *p = malloc(sizeof *p);
		if (!p)
			goto fail;
		coreweave__sandbox__v1__port_range__init(p);
		o->ports[o->n_ports++] = p;
		if (!(p->protocol = strdup(r->ports[j].proto == SRV_PORT_UDP ? "UDP" : "TCP")))
			goto fail;
		p->port = r->ports[j].port;
		if (r->ports[j].end_port != r->ports[j].port)
			p->end_port = r->ports[j].end_port;
	}
	return o;
fail:
	wire_message_free(&o->base);
	return NULL;
}

Coreweave__Sandbox__V1__NetworkOptions *srv_netopts_to_pb(const srv_netopts *n)
{
	Coreweave__Sandbox__V1__NetworkOptions *o = malloc(sizeof *o);
	if (!o)
		return NULL;
	coreweave__sandbox__v1__network_options__init(o);
	if (n->deny_egress_set) {
		o->_deny_egress_case = COREWEAVE__SANDBOX__V1__NETWORK_OPTIONS___DENY_EGRESS_DENY_EGRESS;
		o->deny_egress = n->deny_egress;
	}
	if (n->deny_ingress_set) {
		o->_deny_ingress_case = COREWEAVE__SANDBOX__V1__NETWORK_OPTIONS___DENY_INGRESS_DENY_INGRESS;
		o->deny_ingress = n->deny_ingress;
	}
	if (n->negress && !(o->egress = calloc(n->negress, sizeof *o->egress)))
		goto fail;
	for (size_t i = 0; i < n->negress; i++) {
		if (!(o->egress[o->n_egress] = srv_egress_rule_to_pb(&n->egress[i])))
			goto fail;
		o->n_egress++;
	}
	return o;
fail:
	wire_message_free(&o->base);
	return NULL;
}
