/*
 * The tag table of by-tag/ (see tags.h): an array of names, looked up by a
 * linear scan. A mount sees few distinct tags at once (a listing of
 * by-tag/ interns each once), so a scan under one lock is enough; tags of
 * sandboxes long gone (every named sandbox has its sbxfs-name=NAME) are
 * swept once the kernel forgot their nodes.
 */
#include "tags.h"
#include "idring.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* An index nothing names any more (the kernel holds no node carrying it:
 * every entry reply counted, every FORGET subtracted) is freed by a sweep,
 * which runs when the table has grown to twice what the last one left
 * (at least SWEEP_MIN): an entry is freed at the second sweep that finds it
 * unused and not interned since (so a lookup between its intern and its
 * reply would have to span two sweeps to lose it), and handed out again
 * only once QUARANTINE others were freed after it: even then the lookup
 * finds it gone (fs_tag_ref fails), never another tag. */
#define SWEEP_MIN 256
#define QUARANTINE 1024

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char **names;            /* names[i] has index i + 1; NULL = free */
static uint64_t *refs;          /* the kernel's lookups of nodes with index i + 1 */
static uint8_t *idle;           /* unused at the last sweep, not interned since */
static uint32_t count, cap, nlive;
static uint32_t sweep_at = SWEEP_MIN;
static fs_idring freeq;         /* freed indices - 1, oldest first */

/* Under lock: frees every entry the kernel holds no node of. */
static void sweep(void)
{
	for (uint32_t i = 0; i < count; i++) {
		if (!names[i] || refs[i]) {
			idle[i] = 0;
		} else if (!idle[i]) {
			idle[i] = 1;
		} else if (fs_idring_push(&freeq, i)) {  /* else the entry stays */
			free(names[i]);
			names[i] = NULL;
			nlive--;
		}
	}
	sweep_at = nlive * 2 > SWEEP_MIN ? nlive * 2 : SWEEP_MIN;
}

int fs_tag_name_ok(const char *tag, size_t len)
{
	if (len == 0 || len > FS_TAG_LEN_MAX || memchr(tag, '/', len) || memchr(tag, '\0', len))
		return 0;
	return !(len == 1 && tag[0] == '.') && !(len == 2 && tag[0] == '.' && tag[1] == '.');
}

uint32_t fs_tag_intern(const char *tag, size_t len)
{
	if (!fs_tag_name_ok(tag, len))
		return 0;
	uint32_t idx = 0;
	pthread_mutex_lock(&lock);
	for (uint32_t i = 0; i < count; i++)
		if (names[i] && strlen(names[i]) == len && memcmp(names[i], tag, len) == 0) {
			idle[i] = 0;
			idx = i + 1;
			goto out;
		}
	if (nlive >= sweep_at || (count == FS_TAGS_MAX && freeq.len == 0))
		sweep();
	int reuse = freeq.len > QUARANTINE || (count == FS_TAGS_MAX && freeq.len > 0);
	if (!reuse && count == FS_TAGS_MAX)
		goto out;
	if (!reuse && count == cap) {
		uint32_t nc = cap ? cap * 2 : 16;
		char **nn = realloc(names, nc * sizeof *nn);
		if (!nn)
			goto out;
		names = nn;
		uint64_t *nr = realloc(refs, nc * sizeof *nr);
		if (!nr)
			goto out;
		refs = nr;
		uint8_t *ni = realloc(idle, nc);
		if (!ni)
			goto out;
		idle = ni;
		cap = nc;
	}
	char *n = malloc(len + 1);
	if (!n)
		goto out;
	memcpy(n, tag, len);
	n[len] = '\0';
	uint32_t at = count;
	if (reuse) {
		at = fs_idring_pop(&freeq);
	} else {
		count++;
	}
	names[at] = n;
	refs[at] = 0;
	idle[at] = 0;
	nlive++;
	idx = at + 1;
out:
	pthread_mutex_unlock(&lock);
	return idx;
}

char *fs_tag_name(uint32_t idx)
{
	char *n = NULL;
	pthread_mutex_lock(&lock);
	if (idx >= 1 && idx <= count && names[idx - 1])
		n = strdup(names[idx - 1]);
	pthread_mutex_unlock(&lock);
	return n;
}

int fs_tag_ref(uint32_t idx)
{
	int rc = -1;
	pthread_mutex_lock(&lock);
	if (idx >= 1 && idx <= count && names[idx - 1]) {
		refs[idx - 1]++;
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

void fs_tag_forget(uint32_t idx, uint64_t n)
{
	pthread_mutex_lock(&lock);
	if (idx >= 1 && idx <= count && names[idx - 1])
		refs[idx - 1] = n > refs[idx - 1] ? 0 : refs[idx - 1] - n;
	pthread_mutex_unlock(&lock);
}

uint32_t fs_tags_used(void)
{
	pthread_mutex_lock(&lock);
	uint32_t n = nlive;
	pthread_mutex_unlock(&lock);
	return n;
}

void fs_tags_fini(void)
{
	pthread_mutex_lock(&lock);
	for (uint32_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	free(refs);
	free(idle);
	fs_idring_clear(&freeq);
	names = NULL;
	refs = NULL;
	idle = NULL;
	count = cap = nlive = 0;
	sweep_at = SWEEP_MIN;
	pthread_mutex_unlock(&lock);
}
