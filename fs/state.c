/*
 * The sandbox and process cache behind every sbxfs file (see state.h). It
 * turns the service's records into slots with directory names, decides
 * which sandboxes are visible, and keeps the little per-stream knowledge
 * (size so far, ended or not, when it last grew) that stat needs without
 * asking the service on every call.
 */
#include "state.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "idring.h"
#include "node.h"
#include "strtab.h"
#include "tags.h"

/* Caps: how many slots (in use and quarantined) and process records one
 * mount will track. */
#define SLOTS_MAX FS_STATE_SLOTS_MAX
#define PROCS_MAX (1 << 20)
/* A reclaimed slot's number is handed out again only once this many others
 * were reclaimed after it: a late callback of a long-poll or prefetch that
 * still names the old sandbox's slot (a reader killed mid-wait) then finds
 * no slot, not a stranger's. */
#define SLOT_QUARANTINE 4096
/* Sandboxes deleted through the mount are kept (hidden) until a listing
 * shows the service forgot them, so a list taken while the purge is under
 * way cannot bring them back. More than this many such tombstones, and
 * twice as many as the last sweep left, makes a delete list once. */
#define TOMBS_SWEEP_MIN 64

typedef struct proc {
	fs_proc_view v;
	char *cmd;
	int64_t fetched_ms;
} proc;

typedef struct sb {
	uint32_t num;           /* its slot number */
	char *id;
	char *name;
	char *dirname;
	char *reason;
	char *tags;             /* the record's tags, one a line; NULL = none */
	size_t info_len;        /* bytes of the record's JSON (the info file) */
	sbx_state state;
	int exit_code;
	int have_record;
	int64_t create_ns;
	int listed;             /* in the last list, or created since */
	int hidden;             /* deleted through this mount */
	uint64_t nlookup;       /* the kernel's lookup count of all our nodes */
	int was_listed;         /* fs_state_merge_list: listed before this one */
	uint64_t serial;        /* creation order (slot numbers are reused) */
	int64_t added_ms;
	int64_t fetched_ms;
	char *error;
	int64_t error_ns;       /* when error was last set (even to the same text) */
	int64_t main_bytes[3];
	int main_eof[3];
	int64_t main_mtime_ns[3];
	int64_t main_fetched_ms[3];
	proc *procs;            /* index pid - 1 */
	int64_t nprocs;         /* capacity */
	int64_t last_pid;
	int64_t procs_listed_ms;
	int64_t newest_ms;      /* when fs_state_fetch_newest last looked */
	int64_t newest_used_ms; /* when exec/last was last looked up */
	/* The last start that failed without an answer: a hash of its
	 * request bytes, their length and the request id it was sent with. */
	uint64_t unsure_hash;
	size_t unsure_len;
	char unsure_rid[SBX_REQUEST_ID_MAX + 1];
} sb;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sbx_client *client;
static sb **slots;              /* slots[0] is the root; NULL = free number */
static uint32_t nslots, capslots;
static uint32_t nlive;          /* slots in use, the root's included */
static uint64_t serials;
/* Free slot numbers, oldest first. */
static fs_idring freeq;
static uint32_t tombs_sweep_at = TOMBS_SWEEP_MIN;
static int64_t listed_ms = -1000000;
static void (*error_hook)(uint32_t slot);
static void (*reclaim_hook)(uint32_t slot);
static void (*unlisted_hook)(uint32_t slot, const char *dirname);

int64_t fs_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t fs_realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Slots by a string of theirs: the id of every slot (by_id, kept by
 * slot_new and reclaim_locked) and the directory name of every visible
 * one (by_dir, made anew by assign_dirnames whenever names may have
 * changed; a reclaimed slot leaves it), so finding one costs the same
 * with 10 or 10,000 sandboxes (wire/strtab.h). */
static const char *id_of(const void *e)
{
	return ((const sb *)e)->id;
}

static const char *dir_of(const void *e)
{
	return ((const sb *)e)->dirname;
}

static wire_strtab by_id = {.key = id_of}, by_dir = {.key = dir_of};
/* by_dir could not be made (out of memory): fs_state_lookup scans. */
static int by_dir_stale;

static sb *get_slot(uint32_t slot)
{
	return slot < nslots ? slots[slot] : NULL;
}

static sb *get_sb(uint32_t slot);

/* A slot for id, its number in *num: a reclaimed number once the
 * quarantine is full, else the next new one. */
static sb *slot_new(const char *id, uint32_t *num)
{
	int reuse = freeq.len > SLOT_QUARANTINE;
	if (!reuse && nslots >= SLOTS_MAX)
		reuse = freeq.len > 0;  /* at the cap: wait no more */
	if (!reuse && nslots >= SLOTS_MAX)
		return NULL;
	if (!reuse && nslots == capslots) {
		uint32_t nc = capslots ? capslots * 2 : 64;
		sb **ns = realloc(slots, nc * sizeof *ns);
		if (!ns)
			return NULL;
		slots = ns;
		capslots = nc;
	}
	if (wire_strtab_reserve(&by_id, by_id.n + 1) != 0)
		return NULL;
	sb *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->id = strdup(id);
	if (!s->id) {
		free(s);
		return NULL;
	}
	s->added_ms = fs_now_ms();
	s->fetched_ms = -1000000;
	s->procs_listed_ms = -1000000;
	s->newest_ms = -1000000;
	s->serial = ++serials;
	for (int i = 0; i < 3; i++)
		s->main_fetched_ms[i] = -1000000;
	if (reuse) {
		*num = fs_idring_pop(&freeq);
		/* Whatever a late callback of the old sandbox left under the
		 * number (a cached chunk) goes before anyone reads it. */
		if (reclaim_hook)
			reclaim_hook(*num);
	} else {
		*num = nslots++;
	}
	slots[*num] = s;
	s->num = *num;
	if (*num)
		wire_strtab_put(&by_id, s); /* room reserved above */
	nlive++;
	return s;
}

static void slot_free(sb *s)
{
	if (!s)
		return;
	for (int64_t i = 0; i < s->nprocs; i++)
		free(s->procs[i].cmd);
	free(s->procs);
	free(s->id);
	free(s->name);
	free(s->dirname);
	free(s->reason);
	free(s->tags);
	free(s->error);
	free(s);
}

void fs_state_init(sbx_client *c)
{
	client = c;
	pthread_mutex_lock(&lock);
	uint32_t root;
	if (nslots == 0)
		slot_new("", &root);
	pthread_mutex_unlock(&lock);
}

void fs_state_fini(void)
{
	pthread_mutex_lock(&lock);
	for (uint32_t i = 0; i < nslots; i++)
		slot_free(slots[i]);
	free(slots);
	wire_strtab_free(&by_id);
	wire_strtab_free(&by_dir);
	fs_idring_clear(&freeq);
	slots = NULL;
	nslots = capslots = nlive = 0;
	tombs_sweep_at = TOMBS_SWEEP_MIN;
	pthread_mutex_unlock(&lock);
}

void fs_state_on_reclaim(void (*fn)(uint32_t slot))
{
	reclaim_hook = fn;
}

void fs_state_on_unlisted(void (*fn)(uint32_t slot, const char *dirname))
{
	unlisted_hook = fn;
}

/* Under the lock: frees slot i once nothing can name it any more. The
 * kernel holds none of its nodes (every entry reply counted, every FORGET
 * subtracted: an open file, a cwd or a cached dentry keeps its inode and so
 * its count), and the service no longer lists the sandbox (a deleted one
 * stays hidden until then, so a list racing the purge cannot resurrect
 * it). Its files/ nodes go with it (the hook). */
static void reclaim_locked(uint32_t i)
{
	sb *s = i && i < nslots ? slots[i] : NULL;
	if (!s || s->nlookup || s->listed)
		return;
	if (reclaim_hook)
		reclaim_hook(i);
	wire_strtab_del(&by_id, s);
	if (s->dirname)
		wire_strtab_del(&by_dir, s);
	slot_free(s);
	slots[i] = NULL;
	nlive--;
	fs_idring_push(&freeq, i);  /* 0: the number is lost, never reused twice */
}

int fs_state_ref(uint32_t slot)
{
	if (!slot)
		return 0;
	int rc = -ENOENT;
	pthread_mutex_lock(&lock);
	sb *s = get_slot(slot);
	if (s) {
		s->nlookup++;
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

void fs_state_forget(uint32_t slot, uint64_t n)
{
	if (!slot)
		return;
	pthread_mutex_lock(&lock);
	sb *s = get_slot(slot);
	if (s) {
		s->nlookup = n > s->nlookup ? 0 : s->nlookup - n;
		reclaim_locked(slot);
	}
	pthread_mutex_unlock(&lock);
}

int fs_state_gone(uint32_t slot)
{
	pthread_mutex_lock(&lock);
	sb *s = get_sb(slot);
	int gone = s && (s->hidden || !s->listed);
	pthread_mutex_unlock(&lock);
	return gone;
}

uint32_t fs_state_slots_used(void)
{
	pthread_mutex_lock(&lock);
	uint32_t n = nlive;
	pthread_mutex_unlock(&lock);
	return n;
}

/* A sandbox's slot: get_slot but never the root's. */
static sb *get_sb(uint32_t slot)
{
	return slot ? get_slot(slot) : NULL;
}

/* Under the lock: get_sb, and the sandbox's id copied out, for a call to
 * the service made after unlocking. */
static sb *get_sb_id(uint32_t slot, char id[FS_ID_MAX])
{
	sb *s = get_sb(slot);
	if (s)
		snprintf(id, FS_ID_MAX, "%s", s->id);
	return s;
}

static uint32_t find_id(const char *id)
{
	sb *s = wire_strtab_get(&by_id, id);
	return s ? s->num : 0;
}

static int is_visible(const sb *s)
{
	if (!s)
		return 0;
	/* rmdir and `ctl delete` purge (the service forgets the sandbox), so
	 * whatever the service still lists, stopped ones included, is shown:
	 * a stopped sandbox keeps its output readable in every mount. */
	return s->listed && !s->hidden && s->dirname;
}

/* A name usable as a directory entry of the root. */
static int name_ok(const char *n)
{
	if (!n || !*n || n[0] == '.' || strchr(n, '/') || strlen(n) > 200)
		return 0;
	return fs_kind_child(FS_K_ROOT, n) == FS_K_NONE;
}

/* Set when a slot appears, is listed or unlisted, hidden, renamed, or
 * crosses live/terminal: only then can a directory name change. */
static int names_dirty;

/* Orders name-holders by name, then live after terminal, then by slot: the
 * last of each name's run is the one that keeps the name. */
static int by_claim(const void *x, const void *y)
{
	const sb *a = slots[*(const uint32_t *)x], *b = slots[*(const uint32_t *)y];
	int c = strcmp(a->name, b->name);
	if (c)
		return c;
	int la = !sbx_state_is_terminal(a->state), lb = !sbx_state_is_terminal(b->state);
	if (la != lb)
		return la - lb;
	return a->serial < b->serial ? -1 : 1;
}

/* The listed, unhidden holder of name that wins it, or 0. */
static uint32_t name_winner(const uint32_t *v, size_t n, const char *name)
{
	size_t lo = 0, hi = n; /* first index past the run of name */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(slots[v[mid]]->name, name) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && strcmp(slots[v[lo - 1]]->name, name) == 0 ? v[lo - 1] : 0;
}

/* Directory names: the sandbox's name, unless a live sandbox (or a newer
 * one) has the same name; then the id. Runs only when names_dirty says a
 * name may have changed (not on every status read), and sorts the
 * name-holders once instead of comparing every pair (15 ms per update at
 * 2000 sandboxes before). */
static void assign_dirnames(void)
{
	if (!names_dirty)
		return;
	uint32_t *v = malloc(nslots * sizeof *v);
	if (!v) {
		/* stays dirty: the next update tries again */
		wire_strtab_clear(&by_dir);
		by_dir_stale = 1;
		return;
	}
	names_dirty = 0;
	size_t n = 0;
	for (uint32_t i = 1; i < nslots; i++)
		if (slots[i] && slots[i]->listed && !slots[i]->hidden && slots[i]->name)
			v[n++] = i;
	qsort(v, n, sizeof *v, by_claim);
	for (uint32_t i = 1; i < nslots; i++) {
		sb *s = slots[i];
		if (!s)
			continue;
		const char *want = s->id;
		if (name_ok(s->name)) {
			uint32_t w = name_winner(v, n, s->name);
			int live = !sbx_state_is_terminal(s->state);
			int wlive = w ? !sbx_state_is_terminal(slots[w]->state) : 0;
			if (!w || w == i || !((wlive && !live) || (wlive == live && slots[w]->serial > s->serial)))
				want = s->name;
		}
		if (!s->dirname || strcmp(s->dirname, want) != 0) {
			char *d = strdup(want);
			if (d) {
				free(s->dirname);
				s->dirname = d;
			}
		}
	}
	free(v);
	/* by_dir anew: the visible slots under their names now (of two with
	 * one name, the lower slot, as a scan in slot order found it) */
	wire_strtab_clear(&by_dir);
	by_dir_stale = wire_strtab_reserve(&by_dir, nslots) != 0;
	for (uint32_t i = 1; !by_dir_stale && i < nslots; i++)
		if (is_visible(slots[i]))
			(void)wire_strtab_put(&by_dir, slots[i]);
}

static void set_str(char **dst, const char *src)
{
	if (!src) {
		free(*dst);
		*dst = NULL;
		return;
	}
	if (*dst && strcmp(*dst, src) == 0)
		return;
	char *d = strdup(src);
	if (d) {
		free(*dst);
		*dst = d;
	}
}

/* The record's tags as the tags file shows them, one a line (a tag with a
 * newline in it would read as two: shown with the newline as a blank). */
static void set_tags(sb *s, const sbx_sandbox *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->ntags; i++)
		n += strlen(r->tags[i]) + 1;
	char *t = n ? malloc(n + 1) : NULL;
	if (n && !t)
		return; /* keep the old text */
	size_t o = 0;
	for (size_t i = 0; i < r->ntags; i++) {
		for (const char *c = r->tags[i]; *c; c++)
			t[o++] = *c == '\n' ? ' ' : *c;
		t[o++] = '\n';
	}
	if (t)
		t[o] = '\0';
	free(s->tags);
	s->tags = t;
}

static uint32_t put_locked(const sbx_sandbox *r)
{
	if (!r->id || !*r->id || strlen(r->id) >= FS_ID_MAX)
		return 0;
	uint32_t i = find_id(r->id);
	sb *s = i ? slots[i] : slot_new(r->id, &i);
	if (!s)
		return 0;
	int named_same = s->name && r->name ? strcmp(s->name, r->name) == 0 : s->name == r->name;
	if (!s->listed || !named_same || sbx_state_is_terminal(s->state) != sbx_state_is_terminal(r->state) ||
	    !s->have_record)
		names_dirty = 1;
	set_str(&s->name, r->name);
	set_str(&s->reason, r->state_reason ? r->state_reason : "");
	set_tags(s, r);
	s->info_len = r->json ? strlen(r->json) : s->info_len;
	s->state = r->state;
	s->exit_code = r->exit_code;
	s->create_ns = r->create_time_ns;
	s->have_record = 1;
	s->listed = 1;
	s->fetched_ms = fs_now_ms();
	return i;
}

uint32_t fs_state_put_sandbox(const sbx_sandbox *r)
{
	pthread_mutex_lock(&lock);
	uint32_t i = put_locked(r);
	assign_dirnames();
	pthread_mutex_unlock(&lock);
	return i;
}

void fs_state_update_sandbox(uint32_t slot, const sbx_sandbox *r)
{
	pthread_mutex_lock(&lock);
	sb *s = get_sb(slot);
	if (s && r->id && strcmp(s->id, r->id) == 0) {
		put_locked(r);
		assign_dirnames();
	}
	pthread_mutex_unlock(&lock);
}

int fs_state_refresh(int max_age_ms)
{
	int64_t start = fs_now_ms();
	pthread_mutex_lock(&lock);
	int fresh = start - listed_ms < max_age_ms;
	pthread_mutex_unlock(&lock);
	if (fresh)
		return 0;

	sbx_sandbox **v = NULL;
	size_t n = 0;
	sbx_error err;
	sbx_list_filter f = {NULL, SBX_STATE_UNSPECIFIED, 1};
	sbx_result r = sbx_sandbox_list(client, &f, &v, &n, &err);
	if (r != SBX_OK)
		return fs_state_fail(0, "list sandboxes", &err);

	fs_state_merge_list(v, n, start);
	sbx_sandbox_list_free(v, n);
	return 0;
}

void fs_state_merge_list(sbx_sandbox *const *v, size_t n, int64_t start_ms)
{
	pthread_mutex_lock(&lock);
	for (uint32_t i = 1; i < nslots; i++)
		if (slots[i] && slots[i]->listed && slots[i]->added_ms < start_ms && slots[i]->fetched_ms < start_ms) {
			slots[i]->listed = 0;
			slots[i]->was_listed = 1;
			names_dirty = 1;
		}
	for (size_t k = 0; k < n; k++)
		put_locked(v[k]);
	/* Gone from the service while the kernel holds its nodes: the entry
	 * should go (by its name as the kernel knew it, before the renaming
	 * below; a sandbox deleted here lost its entry at the delete). */
	for (uint32_t i = 1; i < nslots; i++) {
		sb *s = slots[i];
		if (!s || !s->was_listed)
			continue;
		s->was_listed = 0;
		if (unlisted_hook && !s->listed && s->nlookup && !s->hidden && s->dirname)
			unlisted_hook(i, s->dirname);
	}
	/* What the service no longer lists and the kernel holds no node of
	 * is gone for good. */
	for (uint32_t i = 1; i < nslots; i++)
		reclaim_locked(i);
	assign_dirnames();
	listed_ms = fs_now_ms();
	pthread_mutex_unlock(&lock);
}

int fs_state_lookup(const char *name, uint32_t *slot)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&lock);
	sb *s = wire_strtab_get(&by_dir, name);
	if (s && is_visible(s)) {
		*slot = s->num;
		rc = 0;
	}
	for (uint32_t i = 1; by_dir_stale && rc && i < nslots; i++) {
		if (is_visible(slots[i]) && strcmp(slots[i]->dirname, name) == 0) {
			*slot = i;
			rc = 0;
		}
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

void fs_state_foreach(void (*fn)(void *ud, uint32_t slot, const char *dirname), void *ud)
{
	pthread_mutex_lock(&lock);
	for (uint32_t i = 1; i < nslots; i++)
		if (is_visible(slots[i]))
			fn(ud, i, slots[i]->dirname);
	pthread_mutex_unlock(&lock);
}

void fs_state_hide(uint32_t slot)
{
	pthread_mutex_lock(&lock);
	sb *s = get_sb(slot);
	if (s && !s->hidden) {
		s->hidden = 1;
		names_dirty = 1;
	}
	assign_dirnames();
	uint32_t tombs = 0;
	for (uint32_t i = 1; i < nslots; i++)
		if (slots[i] && slots[i]->hidden && slots[i]->listed)
			tombs++;
	int sweep = tombs > tombs_sweep_at;
	pthread_mutex_unlock(&lock);
	if (!sweep)
		return;
	/* Deleted sandboxes wait for a listing to see the service forget
	 * them; a mount that never lists its root gets one now and then. */
	fs_state_refresh(0);
	pthread_mutex_lock(&lock);
	tombs = 0;
	for (uint32_t i = 1; i < nslots; i++)
		if (slots[i] && slots[i]->hidden && slots[i]->listed)
			tombs++;
	tombs_sweep_at = tombs * 2 > TOMBS_SWEEP_MIN ? tombs * 2 : TOMBS_SWEEP_MIN;
	pthread_mutex_unlock(&lock);
}

int fs_state_sandbox(uint32_t slot, fs_sb_view *out)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&lock);
	sb *s = get_sb(slot);
	if (s) {
		memset(out, 0, sizeof *out);
		snprintf(out->id, sizeof out->id, "%s", s->id);
		out->state = s->state;
		out->exit_code = s->exit_code;
		out->have_record = s->have_record;
		out->create_ns = s->create_ns;
		for (int i = 0; i < 3; i++) {
			out->main_bytes[i] = s->main_bytes[i];
			out->main_eof[i] = s->main_eof[i];
			out->main_mtime_ns[i] = s->main_mtime_ns[i];
		}
		out->last_pid = s->last_pid;
		out->info_len = s->info_len;
		snprintf(out->reason, sizeof out->reason, "%s", s->reason ? s->reason : "");
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

char *fs_state_dirname(uint32_t slot)
{
	char *d = NULL;
	pthread_mutex_lock(&lock);
	sb *s = get_slot(slot);
	if (s && s->dirname)
		d = strdup(s->dirname);
	pthread_mutex_unlock(&lock);
	return d;
}

int fs_state_sandbox_id(uint32_t slot, char id[FS_ID_MAX])
{
	pthread_mutex_lock(&lock);
	sb *s = get_sb_id(slot, id);
	pthread_mutex_unlock(&lock);
	return s ? 0 : -ENOENT;
}

int fs_state_images(char **text)
{
	sbx_error err;
	*text = NULL;
	if (sbx_images_list(client, text, &err) != SBX_OK)
		return fs_state_fail(0, "images", &err);
	return 0;
}

int fs_state_snapshots(uint32_t slot, char **text)
{
	char id[FS_ID_MAX] = "";
	sbx_error err;
	*text = NULL;
	if (slot && fs_state_sandbox_id(slot, id) != 0)
		return -ENOENT;
	sbx_snapshot **v = NULL;
	size_t n = 0;
	if (sbx_snapshot_list(client, slot ? id : NULL, &v, &n, &err) != SBX_OK)
		return fs_state_fail(slot, "snapshots", &err);
	size_t cap = 1, used = 0;
	for (size_t i = 0; i < n; i++)
		cap += strlen(v[i]->id) + strlen(v[i]->sandbox_id) + strlen(v[i]->volume) + 64;
	char *t = malloc(cap);
	if (!t) {
		sbx_snapshot_list_free(v, n);
		return -ENOMEM;
	}
	t[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(t + used, cap - used, "%s %s %lld %s %s %s\n", v[i]->id,
		                 sbx_snap_state_word(v[i]->state), (long long)v[i]->size_bytes,
		                 *v[i]->sandbox_id ? v[i]->sandbox_id : "-", *v[i]->volume ? v[i]->volume : "-",
		                 v[i]->on_delete ? "on-delete" : "manual");
		if (k > 0 && (size_t)k < cap - used)
			used += (size_t)k;
	}
	sbx_snapshot_list_free(v, n);
	*text = t;
	return 0;
}

int fs_state_foreach_snapshot(void (*fn)(void *ud, const char *id), void *ud)
{
	sbx_snapshot **v = NULL;
	size_t n = 0;
	sbx_error err;
	if (sbx_snapshot_list(client, NULL, &v, &n, &err) != SBX_OK)
		return fs_state_fail(0, "snapshots", &err);
	for (size_t i = 0; i < n; i++)
		fn(ud, v[i]->id);
	sbx_snapshot_list_free(v, n);
	return 0;
}

int fs_state_snapshot_get(const char *id, char **json)
{
	sbx_snapshot *s = NULL;
	sbx_error err;
	if (json)
		*json = NULL;
	if (sbx_snapshot_get(client, id, &s, &err) != SBX_OK) {
		/* a name that is no id of the service's is as absent as an
		 * unknown id */
		if (err.code == SBX_E_NOT_FOUND || err.code == SBX_E_INVALID)
			return -ENOENT;
		return fs_state_fail(0, "snapshot", &err);
	}
	if (json) {
		*json = strdup(s->json ? s->json : "{}\n");
		if (!*json) {
			sbx_snapshot_free(s);
			return -ENOMEM;
		}
	}
	sbx_snapshot_free(s);
	return 0;
}

int fs_state_snapshot_delete(const char *id)
{
	sbx_error err;
	if (sbx_snapshot_delete(client, id, 0, &err) != SBX_OK)
		return fs_state_fail(0, "delete snapshot", &err);
	return 0;
}

int fs_state_snapshot(uint32_t slot, const char *volume)
{
	char id[FS_ID_MAX];
	sbx_error err;
	if (fs_state_sandbox_id(slot, id) != 0)
		return -ENOENT;
	sbx_snapshot *s = NULL;
	if (sbx_snapshot_create(client, id, volume, &s, &err) != SBX_OK)
		return fs_state_fail(slot, "snapshot", &err);
	sbx_snapshot_free(s);
	return 0;
}

int fs_state_info(uint32_t slot, char **json)
{
	char id[FS_ID_MAX];
	if (fs_state_sandbox_id(slot, id) != 0)
		return -ENOENT;
	sbx_sandbox *r = NULL;
	sbx_error err;
	if (sbx_sandbox_get(client, id, 0, &r, &err) != SBX_OK)
		return fs_state_fail(slot, "info", &err);
	fs_state_put_sandbox(r);
	*json = strdup(r->json ? r->json : "{}\n");
	sbx_sandbox_free(r);
	return *json ? 0 : -ENOMEM;
}

int fs_state_fetch_sandbox(uint32_t slot, int max_age_ms)
{
	char id[FS_ID_MAX];
	pthread_mutex_lock(&lock);
	sb *s = get_sb_id(slot, id);
	int fresh = s && (fs_now_ms() - s->fetched_ms < max_age_ms ||
	                  (s->have_record && sbx_state_is_terminal(s->state)));
	pthread_mutex_unlock(&lock);
	if (!s)
		return -ENOENT;
	if (fresh)
		return 0;
	sbx_sandbox *r = NULL;
	sbx_error err;
	if (sbx_sandbox_get(client, id, 0, &r, &err) != SBX_OK)
		return fs_state_fail(slot, "status", &err);
	fs_state_put_sandbox(r);
	sbx_sandbox_free(r);
	return 0;
}

/* ------------------------------------------------------------ processes */

static proc *proc_slot(sb *s, int64_t pid, int create)
{
	if (pid < 1 || pid > PROCS_MAX)
		return NULL;
	if (pid > s->nprocs) {
		if (!create)
			return NULL;
		int64_t nc = s->nprocs ? s->nprocs : 8;
		while (nc < pid)
			nc *= 2;
		proc *np = realloc(s->procs, (size_t)nc * sizeof *np);
		if (!np)
			return NULL;
		memset(np + s->nprocs, 0, (size_t)(nc - s->nprocs) * sizeof *np);
		s->procs = np;
		s->nprocs = nc;
	}
	return &s->procs[pid - 1];
}

int fs_proc_final(const fs_proc_view *p)
{
	return p->known && p->state != SBX_PROC_RUNNING && p->state != SBX_PROC_UNSPECIFIED;
}

static void put_proc_locked(sb *s, const sbx_process *r)
{
	proc *p = proc_slot(s, r->id, 1);
	if (!p)
		return;
	int64_t now = fs_realtime_ns();
	for (int k = 1; k <= 2; k++) {
		int64_t b = k == SBX_STDOUT ? r->stdout_bytes : r->stderr_bytes;
		if (!p->v.known || b > p->v.bytes[k]) {
			p->v.mtime_ns[k] = r->end_time_ns && r->state != SBX_PROC_RUNNING ? r->end_time_ns : now;
			p->v.bytes[k] = b;
		}
	}
	p->v.known = 1;
	p->v.state = r->state;
	p->v.exit_code = r->exit_code;
	p->v.signal = r->signal;
	p->v.has_stdin = r->has_stdin;
	snprintf(p->v.reason, sizeof p->v.reason, "%s", r->state_reason ? r->state_reason : "");
	p->v.start_ns = r->start_time_ns;
	p->v.end_ns = r->end_time_ns;
	if (!p->v.mtime_ns[1])
		p->v.mtime_ns[1] = p->v.mtime_ns[2] = r->start_time_ns ? r->start_time_ns : now;
	if (!p->cmd && r->argv)
		p->cmd = sbx_argv_to_line(r->argv);
	p->fetched_ms = fs_now_ms();
	if (r->id > s->last_pid)
		s->last_pid = r->id;
}

void fs_state_put_proc(uint32_t slot, const sbx_process *r)
{
	pthread_mutex_lock(&lock);
	sb *s = get_sb(slot);
	if (s)
		put_proc_locked(s, r);
	pthread_mutex_unlock(&lock);
}

int fs_state_proc(uint32_t slot, int64_t pid, fs_proc_view *out)
{
	int rc = -ENOENT;
	pthread_mutex_lock(&lock);
	sb *s = get_sb(slot);
	proc *p = s ? proc_slot(s, pid, 0) : NULL;
	if (p && p->v.known) {
		*out = p->v;
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

char *fs_state_proc_cmd(uint32_t slot, int64_t pid)
{
	char *c = NULL;
	pthread_mutex_lock(&lock);
	sb *s = get_sb(slot);
	proc *p = s ? proc_slot(s, pid, 0) : NULL;
	if (p && p->cmd)
		c = strdup(p->cmd);
	pthread_mutex_unlock(&lock);
	return c;
}

/* 1 when process pid exists (cached afterwards), 0 when the service has
 * none, else -errno, recorded in the sandbox's error file unless quiet
 * (the background check's failures are nobody's call; a lookup asks
 * again and reports them). */
/* 1 when process pid of the sandbox exists (its record cached), 0 when
 * not (*next: the id the service's next start gets, when it says: 0 when
 * not), else -errno. */
static int proc_exists(uint32_t slot, const char *id, int64_t pid, int quiet, int64_t *next)
{
	sbx_process *r = NULL;
	sbx_error err;
	sbx_result res = sbx_process_get(client, id, pid, 0, &r, &err);
	if (res == SBX_E_NOT_FOUND) {
		*next = err.next_process_id;
		return 0;
	}
	if (res != SBX_OK && quiet)
		return -EIO;
	if (res != SBX_OK)
		return fs_state_fail(slot, "process", &err);
	fs_state_put_proc(slot, r);
	sbx_process_free(r);
	return 1;
}

int fs_state_fetch_proc(uint32_t slot, int64_t pid, int max_age_ms)
{
	char id[FS_ID_MAX];
	pthread_mutex_lock(&lock);
	sb *s = get_sb_id(slot, id);
	proc *p = s ? proc_slot(s, pid, 0) : NULL;
	int fresh = p && (fs_proc_final(&p->v) || (p->v.known && fs_now_ms() - p->fetched_ms < max_age_ms));
	pthread_mutex_unlock(&lock);
	if (!s)
		return -ENOENT;
	if (fresh)
		return 0;
	int64_t next;
	int e = proc_exists(slot, id, pid, 0, &next);
	return e < 0 ? e : e ? 0 : -ENOENT;   /* a lookup of a name that is not there */
}

int fs_state_fetch_procs(uint32_t slot, int max_age_ms)
{
	char id[FS_ID_MAX];
	int64_t start = fs_now_ms();
	pthread_mutex_lock(&lock);
	sb *s = get_sb_id(slot, id);
	int fresh = s && start - s->procs_listed_ms < max_age_ms;
	pthread_mutex_unlock(&lock);
	if (!s)
		return -ENOENT;
	if (fresh)
		return 0;
	sbx_process **v = NULL;
	size_t n = 0;
	sbx_error err;
	if (sbx_process_list(client, id, &v, &n, &err) != SBX_OK)
		return fs_state_fail(slot, "list processes", &err);
	pthread_mutex_lock(&lock);
	s = get_slot(slot);
	for (size_t k = 0; s && k < n; k++)
		put_proc_locked(s, v[k]);
	if (s)
		s->procs_listed_ms = fs_now_ms();
	pthread_mutex_unlock(&lock);
	sbx_process_list_free(v, n);
	return 0;
}

static int fetch_newest(uint32_t slot, int max_age_ms, int used)
{
	char id[FS_ID_MAX];
	int64_t start = fs_now_ms();
	pthread_mutex_lock(&lock);
	sb *s = get_sb_id(slot, id);
	if (s && used)
		s->newest_used_ms = start;
	int fresh = s && (start - s->procs_listed_ms < max_age_ms || start - s->newest_ms < max_age_ms);
	int64_t lo = s ? s->last_pid : 0;   /* exists (or 0) */
	pthread_mutex_unlock(&lock);
	if (!s)
		return -ENOENT;
	if (fresh)
		return 0;
	/* Gallop: hi is the first id found missing. */
	int64_t step = 1, hi = 0;
	for (int k = 0; k < 40 && !hi; k++) {   /* 2^40 processes: never */
		int64_t next = 0, n2;
		int e = proc_exists(slot, id, lo + step, !used, &next);
		if (e < 0)
			return used ? fs_state_fetch_procs(slot, 0) : e;
		if (e) {
			lo += step, step *= 2;
			continue;
		}
		hi = lo + step;
		/* Missing below the newest the service ever started (sbxd
		 * says which: nextProcessId): forgotten (--keep-processes,
		 * oldest first), not yet to come; the newest is always kept. */
		if (next - 1 > hi && (e = proc_exists(slot, id, next - 1, !used, &n2)) > 0)
			lo = next - 1, hi = next;
		else if (e < 0 && next - 1 > hi)
			return used ? fs_state_fetch_procs(slot, 0) : e;
	}
	/* Bisect (lo exists or is 0, hi is missing). */
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		int64_t next;
		int e = proc_exists(slot, id, mid, !used, &next);
		if (e < 0)
			return used ? fs_state_fetch_procs(slot, 0) : e;
		if (e)
			lo = mid;
		else
			hi = mid;
	}
	pthread_mutex_lock(&lock);
	s = get_slot(slot);
	if (s)
		s->newest_ms = fs_now_ms();
	pthread_mutex_unlock(&lock);
	return 0;
}

int fs_state_fetch_newest(uint32_t slot, int max_age_ms)
{
	return fetch_newest(slot, max_age_ms, 1);
}

/* exec/last in use, kept fresh off the lookup path. A LOOKUP of exec/last
 * must reflect every start up to a second before it, and asking the
 * service then costs a round trip whose two thread wake-ups (sbxd's worker,
 * then the FUSE thread) are most of a lookup's time on an idle machine
 * (a get answers in 0.03 ms back to back, 1-3 ms after a second's quiet).
 * So a sandbox whose exec/last was looked up in the last NEWEST_HOT_MS is
 * checked by this thread every NEWEST_TICK_MS (one small get when nothing
 * started: the gallop above), and its lookups find the answer fresh. The
 * same one-second rule holds; what changes is who pays the wait. */
#define NEWEST_HOT_MS 10000
#define NEWEST_TICK_MS 400
#define NEWEST_BATCH 64         /* sandboxes checked per tick, at most */

static pthread_t newest_th;
static int newest_started, newest_stop;
static pthread_cond_t newest_cv = PTHREAD_COND_INITIALIZER;

static void *newest_main(void *arg)
{
	(void)arg;
	uint32_t hot[NEWEST_BATCH];
	pthread_mutex_lock(&lock);
	while (!newest_stop) {
		int64_t now = fs_now_ms();
		size_t n = 0;
		for (uint32_t i = 1; i < nslots && n < NEWEST_BATCH; i++) {
			sb *s = slots[i];
			if (s && !s->hidden && s->newest_used_ms && now - s->newest_used_ms < NEWEST_HOT_MS &&
			    now - s->newest_ms >= NEWEST_TICK_MS)
				hot[n++] = i;
		}
		pthread_mutex_unlock(&lock);
		for (size_t k = 0; k < n; k++)
			fetch_newest(hot[k], NEWEST_TICK_MS, 0);
		/* (and the connections a burst of lookups left idle go) */
		sbx_client_trim(client);
		pthread_mutex_lock(&lock);
		if (newest_stop)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)NEWEST_TICK_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&newest_cv, &lock, &ts);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

void fs_state_start_refresh(void)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&newest_cv);
	pthread_cond_init(&newest_cv, &ca);
	pthread_condattr_destroy(&ca);
	newest_stop = 0;
	newest_started = client && pthread_create(&newest_th, NULL, newest_main, NULL) == 0;
}

void fs_state_stop_refresh(void)
{
	if (!newest_started)
		return;
	pthread_mutex_lock(&lock);
	newest_stop = 1;
	pthread_cond_signal(&newest_cv);
	pthread_mutex_unlock(&lock);
	pthread_join(newest_th, NULL);
	newest_started = 0;
}

int fs_state_find_name(const char *name)
{
	sbx_sandbox *one = NULL;
	sbx_error err;
	/* (A name libsbx would not put in a URL answers INVALID: then the
	 * tag alone.) */
	sbx_result r = sbx_sandbox_get(client, name, 0, &one, &err);
	if (r == SBX_OK) {
		fs_state_put_sandbox(one);
		sbx_sandbox_free(one);
		return 0;
	}
	if (r != SBX_E_NOT_FOUND && r != SBX_E_INVALID)
		return fs_state_fail(0, "get sandbox", &err);
	char tag[FS_TAG_LEN_MAX + 1];
	int n = snprintf(tag, sizeof tag, "sbxfs-name=%s", name);
	if (n < 0 || (size_t)n >= sizeof tag)
		return -ENOENT;
	const char *tags[] = {tag, NULL};
	sbx_list_filter f = {tags, SBX_STATE_UNSPECIFIED, 1};
	sbx_sandbox **v = NULL;
	size_t nv = 0;
	if (sbx_sandbox_list(client, &f, &v, &nv, &err) != SBX_OK)
		return fs_state_fail(0, "list sandboxes", &err);
	pthread_mutex_lock(&lock);
	for (size_t k = 0; k < nv; k++)
		put_locked(v[k]);
	assign_dirnames();
	pthread_mutex_unlock(&lock);
	sbx_sandbox_list_free(v, nv);
	return nv ? 0 : -ENOENT;
}

void fs_state_foreach_proc(uint32_t slot, void (*fn)(void *ud, int64_t pid), void *ud)
{
	pthread_mutex_lock(&lock);
	sb *s = get_sb(slot);
	if (s)
		for (int64_t i = 0; i < s->nprocs; i++)
			if (s->procs[i].v.known)
				fn(ud, i + 1);
	pthread_mutex_unlock(&lock);
}

void fs_state_stream_seen(uint32_t slot, int64_t pid, sbx_stream st, int64_t size, int eof)
{
	if (st != SBX_STDOUT && st != SBX_STDERR)
		return;
	pthread_mutex_lock(&lock);
	sb *s = get_sb(slot);
	if (s && pid == SBX_MAIN) {
		if (size > s->main_bytes[st]) {
			s->main_bytes[st] = size;
			s->main_mtime_ns[st] = fs_realtime_ns();
		}
		if (eof)
			s->main_eof[st] = 1;
		s->main_fetched_ms[st] = fs_now_ms();
	} else if (s) {
		proc *p = proc_slot(s, pid, 0);
		if (p && p->v.known && size > p->v.bytes[st]) {
			p->v.bytes[st] = size;
			p->v.mtime_ns[st] = fs_realtime_ns();
		}
	}
	pthread_mutex_unlock(&lock);
}

int fs_state_fetch_main_size(uint32_t slot, sbx_stream st, int max_age_ms)
{
	char id[FS_ID_MAX];
	pthread_mutex_lock(&lock);
	sb *s = get_sb_id(slot, id);
	int fresh = s && (s->main_eof[st] || fs_now_ms() - s->main_fetched_ms[st] < max_age_ms);
	int64_t off = s ? s->main_bytes[st] : 0;
	pthread_mutex_unlock(&lock);
	if (!s)
		return -ENOENT;
	if (fresh)
		return 0;
	char byte;
	sbx_chunk ch;
	sbx_error err;
	sbx_result r = sbx_output_read(client, id, SBX_MAIN, st, off, &byte, 1, 0, &ch, &err);
	if (r != SBX_OK) {
		/* An idle sandbox may have no main output at all: size 0, and
		 * no need to ask again for a while. */
		pthread_mutex_lock(&lock);
		s = get_sb(slot);
		if (s)
			s->main_fetched_ms[st] = fs_now_ms();
		pthread_mutex_unlock(&lock);
		return 0;
	}
	fs_state_stream_seen(slot, SBX_MAIN, st, ch.size, ch.eof && ch.offset + (int64_t)ch.len >= ch.size);
	return 0;
}

/* ------------------------------------------------------------ errors */

/* The newest message of any slot, for a failure logged where the node is
 * not known (reqlog.c: a waiting read answered from another thread). */
static char last_error[FS_ERROR_MAX];
static int64_t last_error_ns;

static void set_error_locked(uint32_t slot, const char *msg)
{
	snprintf(last_error, sizeof last_error, "%s", msg);
	last_error_ns = fs_realtime_ns();
	sb *s = get_slot(slot);
	if (!s)
		return;
	char *m = strdup(msg);
	if (m) {
		free(s->error);
		s->error = m;
	}
	/* A repeated message is a new event: its mtime moves too. */
	s->error_ns = fs_realtime_ns();
}

void fs_state_set_error(uint32_t slot, const char *fmt, ...)
{
	char buf[FS_ERROR_MAX];
	/* Stamped with the time (UTC): a message stays until the next
	 * failure, so a later success does not make it look current. */
	time_t now = time(NULL);
	struct tm tm;
	size_t at = gmtime_r(&now, &tm) ? strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ ", &tm) : 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + at, sizeof buf - at, fmt, ap);
	va_end(ap);
	size_t n = strlen(buf);
	if (n == 0 || buf[n - 1] != '\n') {
		if (n + 1 >= sizeof buf)
			n = sizeof buf - 2;
		buf[n] = '\n';
		buf[n + 1] = '\0';
	}
	pthread_mutex_lock(&lock);
	set_error_locked(slot, buf);
	pthread_mutex_unlock(&lock);
	if (error_hook)
		error_hook(slot);
}

void fs_state_on_error(void (*fn)(uint32_t slot))
{
	error_hook = fn;
}

int64_t fs_state_error_ns(uint32_t slot)
{
	int64_t t = 0;
	pthread_mutex_lock(&lock);
	sb *s = get_slot(slot);
	if (s)
		t = s->error_ns;
	pthread_mutex_unlock(&lock);
	return t;
}

int fs_state_fail(uint32_t slot, const char *what, const sbx_error *err)
{
	int e = sbx_error_errno(err);
	if (e <= 0)
		e = EIO;
	/* ENOSYS means "operation not implemented" to the kernel's FUSE
	 * client, which then never sends that operation again: an ENOSYS
	 * answered to OPENDIR or OPEN makes every later one succeed with no
	 * handle (sbxfs crashed on the next readdir), to FLUSH ends the clone
	 * files' close protocol, to CREATE every create. A sandbox's kernel
	 * (or any service) may well say ENOSYS: it is told as ENOTSUP. */
	if (e == ENOSYS)
		e = ENOTSUP;
	const char *msg = err->message[0] ? err->message : sbx_result_str(err->code);
	/* The service names the sandbox by its id; the user knows it by the
	 * directory's name, so that is what the message says. */
	char id[FS_ID_MAX] = "";
	char *d = slot ? fs_state_dirname(slot) : NULL;
	const char *at = NULL;
	if (d && fs_state_sandbox_id(slot, id) == 0 && *id && strcmp(id, d) != 0)
		at = strstr(msg, id);
	if (at)
		fs_state_set_error(slot, "%s: %.*s%s%s (%s)", what, (int)(at - msg), msg, d, at + strlen(id),
				   strerror(e));
	else
		fs_state_set_error(slot, "%s: %s (%s)", what, msg, strerror(e));
	free(d);
	return -e;
}

char *fs_state_last_error(int64_t since_ns)
{
	char *m = NULL;
	pthread_mutex_lock(&lock);
	if (last_error_ns >= since_ns && last_error[0])
		m = strdup(last_error);
	pthread_mutex_unlock(&lock);
	return m;
}

char *fs_state_error(uint32_t slot)
{
	char *m = NULL;
	pthread_mutex_lock(&lock);
	sb *s = get_slot(slot);
	if (s)
		m = strdup(s->error ? s->error : "");
	pthread_mutex_unlock(&lock);
	return m;
}

void fs_state_note_failed(uint32_t slot, const char *reason)
{
	fs_state_set_error(slot, "returncode: sandbox failed: %s", reason && *reason ? reason : "no reason given");
}

/* ------------------------------------------------------------ start retries */

/* FNV-1a: the retry key only has to tell one user's requests apart. */
static uint64_t bytes_hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ull;
	}
	return h;
}

void fs_state_start_unsure(uint32_t slot, const char *req, size_t len, const char *rid)
{
	pthread_mutex_lock(&lock);
	sb *s = get_sb(slot);
	if (s && rid && strlen(rid) <= SBX_REQUEST_ID_MAX) {
		s->unsure_hash = bytes_hash(req, len);
		s->unsure_len = len;
		snprintf(s->unsure_rid, sizeof s->unsure_rid, "%s", rid);
	}
	pthread_mutex_unlock(&lock);
}

int fs_state_start_retry_id(uint32_t slot, const char *req, size_t len, char rid[SBX_REQUEST_ID_MAX + 1])
{
	int found = 0;
	uint64_t h = bytes_hash(req, len);
	pthread_mutex_lock(&lock);
	sb *s = get_sb(slot);
	if (s && s->unsure_rid[0] && s->unsure_len == len && s->unsure_hash == h) {
		memcpy(rid, s->unsure_rid, SBX_REQUEST_ID_MAX + 1);
		found = 1;
	}
	pthread_mutex_unlock(&lock);
	return found;
}

void fs_state_start_sure(uint32_t slot)
{
	pthread_mutex_lock(&lock);
	sb *s = get_sb(slot);
	if (s)
		s->unsure_rid[0] = '\0';
	pthread_mutex_unlock(&lock);
}

/* ------------------------------------------------------------ tags */

char *fs_state_tags(uint32_t slot)
{
	char *t = NULL;
	pthread_mutex_lock(&lock);
	sb *s = get_sb(slot);
	if (s)
		t = strdup(s->tags ? s->tags : "");
	pthread_mutex_unlock(&lock);
	return t;
}

/* Whether the tags text (one a line) holds tag. */
static int tags_have(const char *text, const char *tag)
{
	size_t n = strlen(tag);
	for (const char *l = text; l && *l;) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		if (len == n && memcmp(l, tag, n) == 0)
			return 1;
		l = e ? e + 1 : NULL;
	}
	return 0;
}

int fs_state_has_tag(uint32_t slot, const char *tag)
{
	pthread_mutex_lock(&lock);
	sb *s = get_sb(slot);
	int has = s && is_visible(s) && tags_have(s->tags, tag);
	pthread_mutex_unlock(&lock);
	return has;
}

void fs_state_foreach_tag(void (*fn)(void *ud, const char *tag, size_t len), void *ud)
{
	pthread_mutex_lock(&lock);
	for (uint32_t i = 1; i < nslots; i++) {
		if (!is_visible(slots[i]))
			continue;
		for (const char *l = slots[i]->tags; l && *l;) {
			const char *e = strchr(l, '\n');
			size_t len = e ? (size_t)(e - l) : strlen(l);
			if (len)
				fn(ud, l, len);
			l = e ? e + 1 : NULL;
		}
	}
	pthread_mutex_unlock(&lock);
}

int fs_state_list_tag(const char *tag, void (*fn)(void *ud, uint32_t slot, const char *dirname), void *ud)
{
	sbx_sandbox **v = NULL;
	size_t n = 0;
	sbx_error err;
	const char *tags[2] = {tag, NULL};
	sbx_list_filter f = {tags, SBX_STATE_UNSPECIFIED, 1};
	if (sbx_sandbox_list(client, &f, &v, &n, &err) != SBX_OK)
		return fs_state_fail(0, "list by tag", &err);
	uint32_t *got = n ? calloc(n, sizeof *got) : NULL;
	pthread_mutex_lock(&lock);
	for (size_t k = 0; k < n; k++) {
		uint32_t i = put_locked(v[k]);
		if (got)
			got[k] = i;
	}
	assign_dirnames();
	for (size_t k = 0; got && k < n; k++)
		if (got[k] && is_visible(slots[got[k]]))
			fn(ud, got[k], slots[got[k]]->dirname);
	pthread_mutex_unlock(&lock);
	free(got);
	sbx_sandbox_list_free(v, n);
	return n && !got ? -ENOMEM : 0;
}
