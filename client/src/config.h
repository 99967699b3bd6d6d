/*
 * libsbx configuration (see sbx.h for the public calls): where the service
 * is, how to authenticate, TLS trust, deadlines and retries. The client
 * keeps its own deep copy, so a config can be freed after sbx_client_new.
 */
#ifndef SBX_CONFIG_H
#define SBX_CONFIG_H

#include <stddef.h>

#include "sbx/sbx.h"

#define SBX_MAX_RESPONSE ((size_t)64 << 20)
#define SBX_MAX_TOKEN 8192
/* gRPC servers allow a ping on a call that sends nothing every 5 minutes
 * by default (more often: a strike, two strikes a GOAWAY): just above. */
#define SBX_GRPC_KEEPALIVE_MS 330000L

struct sbx_config {
	char *url;            /* as the user gave it, for messages */
	char *base;           /* scheme://host[:port] the requests go to */
	char *unix_path;      /* NULL unless unix: */
	char *auth_header;    /* "Authorization: Bearer ..." or "x-wandb-api-key: ..." or NULL */
	char *entity_header;  /* "x-entity-id: ..." or NULL */
	char *ca_file;
	char *grpc_url;       /* StreamExec's endpoint; NULL: derived from url; "none": off */
	char *url_error;      /* set when the environment's URL was unusable */
	long connect_ms, total_ms;
	long grpc_keepalive_ms;  /* HTTP/2 pings on a gRPC connection with calls; 0: none */
	int max_attempts;
	int ext_json;         /* extension calls in JSON even where "protobuf" is announced */
	size_t max_response;
};

sbx_config *sbx_config_dup(const sbx_config *cfg);

#endif
