/*
 * The libsbx side of the load suite (tests/load, scripts/load): reads one
 * process's output through libsbx, not through the mount, so the suite can
 * check that both paths hand back the same bytes. Streams from OFFSET to
 * the end of the stream (waiting while the process runs) onto stdout, or
 * with "rc" waits for the exit and prints the exit code.
 * Usage: sbx_cat SOCKET SANDBOX_ID PID out|err [OFFSET [LENGTH]]
 *        sbx_cat SOCKET SANDBOX_ID PID rc
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sbx/sbx.h"

#define CHUNK (1024 * 1024)

static int parse_i64(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 5 || argc > 7) {
		fprintf(stderr, "usage: %s SOCKET SANDBOX_ID PID out|err|rc [OFFSET [LENGTH]]\n", argv[0]);
		return 2;
	}
	long long pid, off = 0, left = -1;   /* left < 0: to the end */
	if (parse_i64(argv[3], 0, 1LL << 40, &pid) || (argc >= 6 && parse_i64(argv[5], 0, 1LL << 50, &off)) ||
	    (argc == 7 && parse_i64(argv[6], 0, 1LL << 50, &left))) {
		fprintf(stderr, "sbx_cat: bad PID or OFFSET\n");
		return 2;
	}
	int rc_mode = strcmp(argv[4], "rc") == 0;
	sbx_stream st = strcmp(argv[4], "err") == 0 ? SBX_STDERR : SBX_STDOUT;
	if (!rc_mode && strcmp(argv[4], "out") && strcmp(argv[4], "err")) {
		fprintf(stderr, "sbx_cat: stream must be out, err or rc\n");
		return 2;
	}
	char url[4200];
	if ((size_t)snprintf(url, sizeof url, "unix:%s", argv[1]) >= sizeof url) {
		fprintf(stderr, "sbx_cat: socket path too long\n");
		return 2;
	}
	sbx_config *cfg = sbx_config_new();
	sbx_error e;
	sbx_client *c = NULL;
	if (!cfg || sbx_config_set_url(cfg, url, &e) != SBX_OK || sbx_client_new(cfg, &c, &e) != SBX_OK) {
		fprintf(stderr, "sbx_cat: %s\n", cfg ? e.message : "out of memory");
		return 1;
	}
	sbx_config_free(cfg);
	int ret = 0;
	if (rc_mode) {
		for (;;) {
			sbx_process *p = NULL;
			if (sbx_process_get(c, argv[2], pid, 30, &p, &e) != SBX_OK) {
				fprintf(stderr, "sbx_cat: %s\n", e.message);
				ret = 1;
				break;
			}
			int running = p->state == SBX_PROC_RUNNING;
			if (!running)
				printf("%d\n", p->exit_code);
			sbx_process_free(p);
			if (!running)
				break;
		}
	} else {
		char *buf = malloc(CHUNK);
		if (!buf) {
			fprintf(stderr, "sbx_cat: out of memory\n");
			return 1;
		}
		while (left != 0) {
			sbx_chunk ch;
			size_t want = left >= 0 && left < CHUNK ? (size_t)left : CHUNK;
			if (sbx_output_read(c, argv[2], pid, st, off, buf, want, 30, &ch, &e) != SBX_OK) {
				fprintf(stderr, "sbx_cat: %s\n", e.message);
				ret = 1;
				break;
			}
			if (write_all(ch.data, ch.len)) {
				ret = 1;
				break;
			}
			off += (long long)ch.len;
			if (left > 0)
				left -= (long long)ch.len;
			if (ch.eof)
				break;
		}
		free(buf);
	}
	sbx_client_free(c);
	return ret;
}
