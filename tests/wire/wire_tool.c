/*
 * The C side of the checks that python3-protobuf judges (tests/wire/
 * crosscheck.py, meson test wire_crosscheck): reads lines on stdin, answers
 * one line each on stdout.
 *
 *   decode NAME JSON   -> "ok " + the codec's canonical JSON of it, or
 *                         "err FIELD\tMESSAGE"
 *   fill NAME SEED     -> "ok " + the JSON of fill.h's populated message
 *   types              -> every registry type's full name, one a line, then "."
 *   routes             -> one JSON object per route row, then "."
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fill.h"
#include "json.h"
#include "routes.h"

static void answer(const ProtobufCMessage *m)
{
	char *out;
	size_t len;
	wire_err e;
	if (wire_json_encode(m, NULL, &out, &len, &e) != 0) {
		printf("err %s\t%s\n", e.field, e.msg);
		return;
	}
	printf("ok %s\n", out);
	free(out);
}

static void jstr(const char *s)
{
	/* the table's strings are ASCII without quotes or backslashes */
	printf("\"%s\"", s);
}

int main(void)
{
	static char line[1 << 20];
	while (fgets(line, sizeof line, stdin)) {
		size_t n = strcspn(line, "\n");
		line[n] = '\0';
		char *sp = strchr(line, ' ');
		char *arg = sp ? sp + 1 : line + n;
		if (sp)
			*sp = '\0';
		if (strcmp(line, "types") == 0) {
			size_t k;
			const ProtobufCMessageDescriptor *const *t = wire_types(&k);
			for (size_t i = 0; i < k; i++)
				printf("%s\n", t[i]->name);
			printf(".\n");
		} else if (strcmp(line, "routes") == 0) {
			for (size_t i = 0; i < wire_n_routes; i++) {
				const wire_route *r = &wire_routes[i];
				printf("{\"rpc\":");
				jstr(r->rpc);
				printf(",\"method\":");
				jstr(r->method);
				printf(",\"path\":");
				jstr(r->path);
				printf(",\"body\":");
				jstr(r->body);
				printf(",\"req\":");
				jstr(r->req->name);
				printf(",\"resp\":");
				jstr(r->resp->name);
				printf("}\n");
			}
			printf(".\n");
		} else if (strcmp(line, "decode") == 0 || strcmp(line, "fill") == 0) {
			char *sp2 = strchr(arg, ' ');
			const char *rest = sp2 ? sp2 + 1 : "";
			if (sp2)
				*sp2 = '\0';
			const ProtobufCMessageDescriptor *d = wire_type_find(arg);
			if (!d) {
				printf("err \tno type %s\n", arg);
			} else if (line[0] == 'd') {
				ProtobufCMessage *m;
				wire_err e;
				if (wire_json_decode(d, rest, strlen(rest), NULL, &m, &e) != 0) {
					printf("err %s\t%s\n", e.field, e.msg);
				} else {
					answer(m);
					wire_message_free(m);
				}
			} else {
				unsigned seed = 0;
				const char *q = rest;
				for (; *q >= '0' && *q <= '9' && seed < 1000000; q++)
					seed = seed * 10 + (unsigned)(*q - '0');
				if (q == rest || *q) {
					printf("err \tbad seed\n");
				} else {
					ProtobufCMessage *m = fill_new(d, seed, 3);
					answer(m);
					wire_message_free(m);
				}
			}
		} else {
			printf("err \tunknown command\n");
		}
		fflush(stdout);
	}
	return 0;
}
