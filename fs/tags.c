/*
 * The tag table of by-tag/ (see tags.h): a growing array of names, looked
 * up by a linear scan. A mount sees few distinct tags (a listing of
 * by-tag/ interns each once), so a scan under one lock is enough.
 */
#include "tags.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char **names;            /* names[i] has index i + 1 */
static uint32_t count, cap;

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
		if (strlen(names[i]) == len && memcmp(names[i], tag, len) == 0) {
			idx = i + 1;
			goto out;
		}
	if (count == FS_TAGS_MAX)
		goto out;
	if (count == cap) {
		uint32_t nc = cap ? cap * 2 : 16;
		char **nn = realloc(names, nc * sizeof *nn);
		if (!nn)
			goto out;
		names = nn;
		cap = nc;
	}
	char *n = malloc(len + 1);
	if (!n)
		goto out;
	memcpy(n, tag, len);
	n[len] = '\0';
	names[count++] = n;
	idx = count;
out:
	pthread_mutex_unlock(&lock);
	return idx;
}

char *fs_tag_name(uint32_t idx)
{
	char *n = NULL;
	pthread_mutex_lock(&lock);
	if (idx >= 1 && idx <= count)
		n = strdup(names[idx - 1]);
	pthread_mutex_unlock(&lock);
	return n;
}

void fs_tags_fini(void)
{
	pthread_mutex_lock(&lock);
	for (uint32_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	names = NULL;
	count = cap = 0;
	pthread_mutex_unlock(&lock);
}
