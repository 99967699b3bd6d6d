/*
 * Configuration of libsbx: defaults, the environment users of the service
 * already set (CWSANDBOX_BASE_URL, CWSANDBOX_API_KEY, WANDB_API_KEY,
 * WANDB_ENTITY_NAME) and explicit setters, which win over the environment.
 * Tokens are kept only as ready-made header lines and never echoed.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int token_ok(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > SBX_MAX_TOKEN)
		return 0;
	for (const char *p = t; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return 0;   /* a CR/LF would inject headers */
	return 1;
}

static char *header_line(const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 3;
	char *h = malloc(n);
	if (h)
		snprintf(h, n, "%s: %s", name, value);
	return h;
}

static sbx_result set_auth(sbx_config *cfg, const char *hname, const char *prefix, const char *token, sbx_error *err)
{
	if (!token_ok(token))
		return sbx_fail(err, SBX_E_INVALID, "token is empty, too long or holds control characters");
	size_t n = strlen(prefix) + strlen(token) + 1;
	char *v = malloc(n);
	if (!v)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	snprintf(v, n, "%s%s", prefix, token);
	char *h = header_line(hname, v);
	/* Wipe the copy that held the bare token. */
	memset(v, 0, n);
	free(v);
	if (!h)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	if (cfg->auth_header) {
		memset(cfg->auth_header, 0, strlen(cfg->auth_header));
		free(cfg->auth_header);
	}
	cfg->auth_header = h;
	return SBX_OK;
}

sbx_result sbx_config_set_url(sbx_config *cfg, const char *url, sbx_error *err)
{
	char *base = NULL, *unix_path = NULL, *copy = NULL;
	if (!cfg || !url || !*url)
		return sbx_fail(err, SBX_E_INVALID, "empty service URL");
	if (strlen(url) > 4096)
		return sbx_fail(err, SBX_E_INVALID, "service URL too long");
	if (strncmp(url, "unix:", 5) == 0) {
		const char *p = url + 5;
		/* unix:///path and unix:/path both name /path */
		if (strncmp(p, "//", 2) == 0)
			p += 2;
		if (*p != '/')
			return sbx_fail(err, SBX_E_INVALID, "unix socket URL must name an absolute path: %s", url);
		if (strlen(p) >= 108)
			return sbx_fail(err, SBX_E_INVALID, "unix socket path too long: %s", url);
		unix_path = strdup(p);
		base = strdup("http://localhost");
	} else if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
		const char *host = strstr(url, "://") + 3;
		if (!*host || *host == '/')
			return sbx_fail(err, SBX_E_INVALID, "service URL lacks a host: %s", url);
		for (const char *p = url; *p; p++)
			if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '?' || *p == '#')
				return sbx_fail(err, SBX_E_INVALID, "service URL holds a bad character: %s", url);
		if (strchr(host, '@'))
			return sbx_fail(err, SBX_E_INVALID, "service URL must not hold credentials; use a token");
		size_t n = strlen(url);
		while (n > 0 && url[n - 1] == '/')
			n--;
		base = sbx_strndup(url, n);
	} else {
		return sbx_fail(err, SBX_E_INVALID, "service URL must start with http://, https:// or unix:/ (got %.64s)", url);
	}
	copy = strdup(url);
	if (!base || !copy || (strncmp(url, "unix:", 5) == 0 && !unix_path)) {
		free(base);
		free(unix_path);
		free(copy);
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	}
	free(cfg->base);
	free(cfg->unix_path);
	free(cfg->url);
	free(cfg->url_error);
	cfg->url_error = NULL;
	cfg->base = base;
	cfg->unix_path = unix_path;
	cfg->url = copy;
	return SBX_OK;
}

sbx_result sbx_config_set_token(sbx_config *cfg, const char *token, sbx_error *err)
{
	if (!cfg || !token)
		return sbx_fail(err, SBX_E_INVALID, "no token");
	sbx_result r = set_auth(cfg, "Authorization", "Bearer ", token, err);
	if (r == SBX_OK) {
		free(cfg->entity_header);
		cfg->entity_header = NULL;
	}
	return r;
}

sbx_result sbx_config_set_token_file(sbx_config *cfg, const char *path, sbx_error *err)
{
	char line[SBX_MAX_TOKEN + 2];
	if (!cfg || !path)
		return sbx_fail(err, SBX_E_INVALID, "no token file");
	FILE *f = fopen(path, "re");
	if (!f)
		return sbx_fail(err, errno == ENOENT ? SBX_E_NOT_FOUND : SBX_E_PERMISSION,
		                "cannot open token file %s: %s", path, strerror(errno));
	size_t n = fread(line, 1, sizeof line - 1, f);
	fclose(f);
	line[n] = '\0';
	char *nl = strpbrk(line, "\r\n");
	if (nl)
		*nl = '\0';
	else if (n == sizeof line - 1) {
		memset(line, 0, sizeof line);
		return sbx_fail(err, SBX_E_INVALID, "token file %s: first line too long", path);
	}
	/* Trim surrounding blanks: editors leave them. */
	char *t = line;
	while (*t == ' ' || *t == '\t')
		t++;
	size_t tl = strlen(t);
	while (tl > 0 && (t[tl - 1] == ' ' || t[tl - 1] == '\t'))
		t[--tl] = '\0';
	sbx_result r;
	if (!*t)
		r = sbx_fail(err, SBX_E_INVALID, "token file %s is empty", path);
	else
		r = sbx_config_set_token(cfg, t, err);
	memset(line, 0, sizeof line);
	return r;
}

sbx_result sbx_config_set_ca_file(sbx_config *cfg, const char *path, sbx_error *err)
{
	if (!cfg || !path || !*path)
		return sbx_fail(err, SBX_E_INVALID, "empty CA file path");
	char *p = strdup(path);
	if (!p)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	free(cfg->ca_file);
	cfg->ca_file = p;
	return SBX_OK;
}

void sbx_config_set_timeouts(sbx_config *cfg, long connect_ms, long total_ms)
{
	if (!cfg)
		return;
	if (connect_ms > 0)
		cfg->connect_ms = connect_ms;
	if (total_ms > 0)
		cfg->total_ms = total_ms;
}

void sbx_config_set_grpc_keepalive(sbx_config *cfg, long ms)
{
	if (!cfg || ms < 0)
		return;
	cfg->grpc_keepalive_ms = ms == 0 ? 0 : ms < 1000 ? 1000 : ms;
}

void sbx_config_set_retries(sbx_config *cfg, int max_attempts)
{
	if (cfg && max_attempts >= 1)
		cfg->max_attempts = max_attempts > 10 ? 10 : max_attempts;
}

void sbx_config_set_ext_json(sbx_config *cfg, int on)
{
	if (cfg)
		cfg->ext_json = on != 0;
}

sbx_result sbx_config_set_grpc_url(sbx_config *cfg, const char *url, sbx_error *err)
{
	if (!cfg || !url || !*url)
		return sbx_fail(err, SBX_E_INVALID, "empty gRPC URL");
	if (strlen(url) > 4096)
		return sbx_fail(err, SBX_E_INVALID, "gRPC URL too long");
	if (strcmp(url, "none") != 0 && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0 &&
	    strncmp(url, "unix:/", 6) != 0)
		return sbx_fail(err, SBX_E_INVALID, "gRPC URL must be http://, https://, unix:/PATH or none (got %.64s)", url);
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '@')
			return sbx_fail(err, SBX_E_INVALID, "gRPC URL holds a bad character");
	char *copy = strdup(url);
	if (!copy)
		return sbx_fail(err, SBX_E_NOMEM, "out of memory");
	free(cfg->grpc_url);
	cfg->grpc_url = copy;
	return SBX_OK;
}

const char *sbx_config_url(const sbx_config *cfg)
{
	return cfg && cfg->url ? cfg->url : "";
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

sbx_config *sbx_config_new(void)
{
	sbx_config *cfg = calloc(1, sizeof *cfg);
	if (!cfg)
		return NULL;
	cfg->connect_ms = 2000;
	cfg->total_ms = 10000;
	cfg->grpc_keepalive_ms = SBX_GRPC_KEEPALIVE_MS;
	cfg->max_attempts = 3;
	cfg->max_response = SBX_MAX_RESPONSE;

	char def[4200];
	const char *url = env("CWSANDBOX_BASE_URL");
	if (!url) {
		const char *xdg = env("XDG_RUNTIME_DIR");
		if (xdg && strlen(xdg) < 4000)
			snprintf(def, sizeof def, "unix:%s/sbxd/sbxd.sock", xdg);
		else
			snprintf(def, sizeof def, "unix:/run/sbxd/sbxd.sock");
		url = def;
	}
	sbx_error e;
	if (sbx_config_set_url(cfg, url, &e) != SBX_OK) {
		/* Reported by sbx_client_new; the default stands meanwhile. */
		if (sbx_config_set_url(cfg, "unix:/run/sbxd/sbxd.sock", NULL) != SBX_OK ||
		    !(cfg->url_error = strdup(e.message)))
			goto fail;
	}
	const char *key = env("CWSANDBOX_API_KEY");
	const char *wandb = env("WANDB_API_KEY");
	const char *tf = env("SBX_TOKEN_FILE");
	if (key) {
		sbx_config_set_token(cfg, key, NULL);
	} else if (wandb) {
		if (set_auth(cfg, "x-wandb-api-key", "", wandb, NULL) == SBX_OK) {
			const char *ent = env("WANDB_ENTITY_NAME");
			if (ent && token_ok(ent))
				cfg->entity_header = header_line("x-entity-id", ent);
		}
	} else if (tf) {
		sbx_config_set_token_file(cfg, tf, NULL);
	}
	const char *gu = env("SBX_GRPC_URL");
	if (gu)
		sbx_config_set_grpc_url(cfg, gu, NULL);
	const char *ca = env("SBX_CA_FILE");
	if (ca)
		sbx_config_set_ca_file(cfg, ca, NULL);
	return cfg;
fail:
	sbx_config_free(cfg);
	return NULL;
}

void sbx_config_free(sbx_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->url);
	free(cfg->base);
	free(cfg->unix_path);
	if (cfg->auth_header) {
		memset(cfg->auth_header, 0, strlen(cfg->auth_header));
		free(cfg->auth_header);
	}
	free(cfg->entity_header);
	free(cfg->ca_file);
	free(cfg->grpc_url);
	free(cfg->url_error);
	free(cfg);
}

static int dup_field(char **dst, const char *src)
{
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -1;
}

sbx_config *sbx_config_dup(const sbx_config *cfg)
{
	sbx_config *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	*c = *cfg;
	c->url = c->base = c->unix_path = c->auth_header = c->entity_header = c->ca_file = c->url_error = c->grpc_url = NULL;
	if (dup_field(&c->url, cfg->url) || dup_field(&c->base, cfg->base) ||
	    dup_field(&c->unix_path, cfg->unix_path) || dup_field(&c->auth_header, cfg->auth_header) ||
	    dup_field(&c->entity_header, cfg->entity_header) || dup_field(&c->ca_file, cfg->ca_file) ||
	    dup_field(&c->url_error, cfg->url_error) || dup_field(&c->grpc_url, cfg->grpc_url)) {
		sbx_config_free(c);
		return NULL;
	}
	return c;
}
