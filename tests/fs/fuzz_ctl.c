/*
 * Fuzz target for what users write into sbxfs control files: ctl verbs of
 * both targets, signal names, process directory names and strict numbers.
 * Checks the parsers' promises (results in range) beyond "does not crash".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *t = (const char *)data;
	fs_ctl c;
	if (fs_ctl_parse(FS_CTL_SANDBOX, t, size, &c) == 0) {
		if (c.verb != FS_VERB_STOP && c.verb != FS_VERB_DELETE)
			abort();
		if (c.arg < -1 || c.arg > FS_GRACE_MAX)
			abort();
	}
	if (fs_ctl_parse(FS_CTL_PROCESS, t, size, &c) == 0) {
		if (c.verb != FS_VERB_KILL && c.verb != FS_VERB_EOF)
			abort();
		if (c.verb == FS_VERB_KILL && (c.arg < 1 || c.arg > 64))
			abort();
	}
	int s = fs_signal_parse(t, size);
	if (s != -22 && (s < 1 || s > 64))
		abort();
	int64_t v;
	if (fs_parse_int64(t, size, 0, 1000, &v) == 0 && (v < 0 || v > 1000))
		abort();
	char *z = malloc(size + 1);
	if (!z)
		return 0;
	memcpy(z, data, size);
	z[size] = '\0';
	int64_t pid = fs_parse_pid_name(z);
	if (pid != -1 && (pid < 1 || pid > FS_PID_MAX))
		abort();
	(void)fs_kind_child(FS_K_P_DIR, z);
	(void)fs_kind_child(FS_K_SB_DIR, z);
	free(z);
	return 0;
}
