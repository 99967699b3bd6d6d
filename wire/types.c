/*
 * The registry of message types: every type reachable from
 * SandboxService's methods and from google.rpc.Status and its error
 * details, found by walking the generated descriptors once (so a message
 * added to the schema is in the registry without an edit here), plus the
 * short list of types an Any may carry. Used to resolve "@type" in the
 * codec, and by the tests to cover every message of the schema.
 */
#include "json.h"

#include <pthread.h>
#include <string.h>

#include "sandbox.pb-c.h"
#include "status.pb-c.h"
#include "error_details.pb-c.h"

#define MAX_TYPES 256

static const ProtobufCMessageDescriptor *types[MAX_TYPES];
static size_t n_types;
static pthread_once_t types_once = PTHREAD_ONCE_INIT;

static const ProtobufCMessageDescriptor *const any_types[] = {
	&google__rpc__error_info__descriptor,
	&google__rpc__retry_info__descriptor,
	&google__rpc__bad_request__descriptor,
};

static void add(const ProtobufCMessageDescriptor *d)
{
	for (size_t i = 0; i < n_types; i++)
		if (types[i] == d)
			return;
	if (n_types == MAX_TYPES)
		return; /* the test wire_types checks the count stays below */
	types[n_types++] = d;
	for (unsigned i = 0; i < d->n_fields; i++)
		if (d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
			add(d->fields[i].descriptor);
}

static void build(void)
{
	const ProtobufCServiceDescriptor *s = &coreweave__sandbox__v1__sandbox_service__descriptor;
	for (unsigned i = 0; i < s->n_methods; i++) {
		add(s->methods[i].input);
		add(s->methods[i].output);
	}
	add(&google__rpc__status__descriptor);
	for (size_t i = 0; i < sizeof any_types / sizeof any_types[0]; i++)
		add(any_types[i]);
}

const ProtobufCMessageDescriptor *const *wire_types(size_t *n)
{
	pthread_once(&types_once, build);
	*n = n_types;
	return types;
}

const ProtobufCMessageDescriptor *wire_type_find(const char *full_name)
{
	size_t n;
	const ProtobufCMessageDescriptor *const *t = wire_types(&n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i]->name, full_name) == 0)
			return t[i];
	return NULL;
}

/* "PREFIX/full.Name": any prefix, as protobuf's resolvers take the part
 * after the last '/'. */
const ProtobufCMessageDescriptor *wire_any_type(const char *type_url)
{
	const char *slash = strrchr(type_url, '/');
	if (!slash)
		return NULL;
	for (size_t i = 0; i < sizeof any_types / sizeof any_types[0]; i++)
		if (strcmp(slash + 1, any_types[i]->name) == 0)
			return any_types[i];
	return NULL;
}
