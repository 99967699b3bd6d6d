/*
 * Request bodies in both encodings (reqbody.h).
 */
#include "reqbody.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "json.h"

static void perr_of(srv_perr *e, const wire_err *we)
{
	snprintf(e->msg, sizeof e->msg, "%s", we->msg[0] ? we->msg : "bad request");
	snprintf(e->field, sizeof e->field, "%.127s", we->field);
}

int srv_request_body(const wire_route *w, const char *body, size_t len, int binary, const wire_caps *caps,
		     ProtobufCMessage **out, srv_perr *e)
{
	wire_err we;
	int rc;
	*out = NULL;
	e->msg[0] = e->field[0] = '\0';
	if (binary) {
		if (strcmp(w->body, "*") != 0) {
			snprintf(e->msg, sizeof e->msg, "%s takes no binary body", w->rpc);
			return -EINVAL;
		}
		rc = wire_pb_decode(w->req, (const uint8_t *)body, len, caps, out, &we);
		if (rc && rc != -ENOMEM)
			perr_of(e, &we);
		return rc;
	}
	if (len && srv_json_check(body, len, e) != 0)
		return -EINVAL;
	ProtobufCMessage *m = wire_route_new_request(w);
	if (!m)
		return -ENOMEM;
	rc = wire_route_body(w, m, body, len, caps, &we);
	if (rc) {
		wire_message_free(m);
		if (rc != -ENOMEM)
			perr_of(e, &we);
		return rc;
	}
	*out = m;
	return 0;
}

/* The media type at s (up to ';' or ',' or the end, blanks around it
 * aside) is type. *end: where it stopped. */
static int type_at(const char *s, const char *type, const char **end)
{
	while (*s == ' ' || *s == '\t')
		s++;
	const char *t = s;
	while (*s && *s != ';' && *s != ',')
		s++;
	*end = s;
	const char *te = s;
	while (te > t && (te[-1] == ' ' || te[-1] == '\t'))
		te--;
	size_t n = strlen(type);
	return (size_t)(te - t) == n && strncasecmp(t, type, n) == 0;
}

int srv_media_is(const char *value, const char *type)
{
	const char *end;
	return value && type_at(value, type, &end) && *end != ',';
}

/* A q parameter of zero: "q=0", "q=0.0", "q=0.000" (RFC 9110 12.4.2). */
static int q_zero(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (end - p < 3 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=' || p[2] != '0')
		return 0;
	p += 3;
	if (p < end && *p == '.')
		for (p++; p < end && *p == '0'; p++)
			;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p == end;
}

int srv_media_accepted(const char *value, const char *type)
{
	for (const char *s = value; s && *s;) {
		const char *end;
		int hit = type_at(s, type, &end);
		int zero = 0;
		/* The range's parameters, up to the next range. */
		while (*end == ';') {
			const char *p = end + 1, *pe = p;
			while (*pe && *pe != ';' && *pe != ',')
				pe++;
			zero |= q_zero(p, pe);
			end = pe;
		}
		if (hit && !zero)
			return 1;
		s = *end == ',' ? end + 1 : end;
	}
	return 0;
}
