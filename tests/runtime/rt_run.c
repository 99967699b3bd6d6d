/*
 * A small driver of the runtime API for the isolation tests: creates one
 * sandbox, runs one command in it with the driver's own stdout/stderr as
 * the command's, waits for its exit, destroys the sandbox and exits with
 * the command's exit code (128+N for a signal). Options set the spec.
 * Usage: rt_run [-s STATE] [-i IMAGE] [-n] [-m BYTES] [-p PIDS] [-c MILLIS]
 *               [-H HOSTNAME] [-I ID] [-o] -- ARGV...
 * -n gives the sandbox egress anywhere (a user-mode stack, net.h); -o prints "oom_kills N" to
 * stderr after the command exits.
 */
#include "runtime.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int64_t num(const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < 0) {
		fprintf(stderr, "rt_run: bad number %s\n", s);
		exit(2);
	}
	return v;
}

static const srv_net_rule any_rule = {NULL, 0, NULL, NULL, 0};
static const srv_egress any_egress = {&any_rule, 1};

int main(int argc, char **argv)
{
	char err[SRV_ERRLEN];
	const char *state = "/tmp/rt_run_state";
	srv_box_spec spec = {.id = "rt-run", .image = "host"}; /* -i names another */
	int print_oom = 0, opt;
	while ((opt = getopt(argc, argv, "s:i:nm:p:c:H:I:o")) != -1) {
		switch (opt) {
		case 's': state = optarg; break;
		case 'i': spec.image = optarg; break;
		case 'n': spec.egress = &any_egress; break;
		case 'm': spec.memory_bytes = num(optarg); break;
		case 'p': spec.max_pids = num(optarg); break;
		case 'c': spec.cpu_millis = num(optarg); break;
		case 'H': spec.hostname = optarg; break;
		case 'I': spec.id = optarg; break;
		case 'o': print_oom = 1; break;
		default: return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: rt_run [options] -- ARGV...\n");
		return 2;
	}
	srv_rt *rt = srv_rt_new(state, err);
	if (!rt) {
		fprintf(stderr, "rt_run: %s\n", err);
		return 3;
	}
	srv_box *box = NULL;
	int rc = 3;
	if (srv_box_create(rt, &spec, &box, err) != 0) {
		fprintf(stderr, "rt_run: create: %s\n", err);
		goto out;
	}
	srv_spawn sp = {.argv = (const char *const *)argv + optind, .stdout_fd = 1, .stderr_fd = 2};
	int64_t tok, t;
	int st;
	if (srv_box_spawn(box, &sp, &tok, NULL, err) != 0) {
		fprintf(stderr, "rt_run: spawn: %s\n", err);
		goto out;
	}
	for (;;) {
		struct pollfd p = {srv_box_event_fd(box), POLLIN, 0};
		poll(&p, 1, -1);
		int r = srv_box_next_exit(box, &t, &st, NULL);
		if (r < 0) {
			fprintf(stderr, "rt_run: init died\n");
			goto out;
		}
		if (r == 1 && t == tok)
			break;
	}
	rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (print_oom)
		fprintf(stderr, "oom_kills %" PRId64 "\n", srv_box_oom_kills(box));
out:
	srv_box_destroy(box);
	srv_rt_free(rt);
	return rc;
}
