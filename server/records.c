/*
 * The sandbox table and the records in it: making and freeing sandbox
 * and process records, the table in creation (seq) order, and finding
 * sandboxes by id or seq and processes by id, runtime token, event uid or
 * requestId. No I/O beyond closing a freed record's fds, no runtime
 * calls: below the lifecycle, spools and persistence of core.c
 * (docs/internals/server.md, "The core's modules"). All under srv_lock.
 */
#include "records.h"
#include "state.h"
#include "strtab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The one mutex of sbxd's state: the table, every record, and what the
 * modules around them keep (core.h, "Threads and the one lock"). */
pthread_mutex_t srv_lock = PTHREAD_MUTEX_INITIALIZER;

static srv_sbx **boxes;
static size_t nboxes, capboxes;
static uint32_t next_uid = 1;
static uint32_t next_seq = 1;

void srv_proc_free(srv_proc *p)
{
	if (!p)
		return;
	srv_strv_free(&p->argv);
	srv_strv_free(&p->env);
	free(p->cwd);
	free(p->request_id);
	free(p->pending);
	if (p->stdin_fd >= 0)
		close(p->stdin_fd);
	for (int i = 1; i <= 2; i++)
		if (p->out_fd[i] >= 0)
			close(p->out_fd[i]);
	free(p);
}

srv_proc *srv_proc_new(void)
{
	srv_proc *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->stdin_fd = -1;
	p->out_fd[0] = p->out_fd[1] = p->out_fd[2] = -1;
	p->uid = next_uid++ & 0xffffff;
	if (!p->uid)
		p->uid = next_uid++ & 0xffffff;
	return p;
}

void srv_exec_free_close(srv_sbx *s)
{
	while (s->nexec_free > 0)
		close(s->exec_free[--s->nexec_free]);
}

void srv_sbx_free(srv_sbx *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nprocs; i++)
		srv_proc_free(s->procs[i]);
	free(s->procs);
	for (size_t i = 0; i < s->nexecs; i++)
		srv_proc_free(s->execs[i]);
	free(s->execs);
	free(s->live);
	free(s->rid_tab);
	srv_spec_free(&s->spec);
	srv_strv_free(&s->img_env);
	free(s->img_cwd);
	srv_exec_free_close(s);
	if (s->dirfd >= 0)
		close(s->dirfd);
	if (s->log_open)
		close(s->log_fd);
	srv_drop_files(s);
	free(s);
}

void srv_drop_files(srv_sbx *s)
{
	s->drop_files = 1;
	if (s->keep_root >= 0)
		close(s->keep_root);
	if (s->keep_ns >= 0)
		close(s->keep_ns);
	s->keep_root = s->keep_ns = -1;
}

static const char *sbx_key(const void *e)
{
	return ((const srv_sbx *)e)->id;
}

/* The tag index: one entry a tag in use, its sandboxes in seq order. */
typedef struct tag_ent {
	char *tag;
	srv_sbx **v;
	size_t n, cap;
} tag_ent;

static const char *tag_key(const void *e)
{
	return ((const tag_ent *)e)->tag;
}

/* The id index (srv_find) and the tag index (srv_tagged). */
static wire_strtab by_id = {.key = sbx_key}, by_tag = {.key = tag_key};

static tag_ent *tag_find(const char *tag)
{
	return wire_strtab_get(&by_tag, tag);
}

/* s out of tag's entry (the entry freed once empty). */
static void tag_del(const char *tag, const srv_sbx *s)
{
	tag_ent *e = tag_find(tag);
	if (!e)
		return;
	/* the entry just past s's seq: s is the one before it */
	size_t i = srv_seq_after(e->v, e->n, s->seq);
	if (i == 0 || e->v[i - 1] != s)
		return;
	memmove(&e->v[i - 1], &e->v[i], (e->n - i) * sizeof *e->v);
	if (--e->n)
		return;
	wire_strtab_del(&by_tag, e);
	free(e->tag);
	free(e->v);
	free(e);
}

/* s into tag's entry, in seq order; -1 out of memory. */
static int tag_add(const char *tag, srv_sbx *s)
{
	tag_ent *e = tag_find(tag);
	if (!e) {
		if (!(e = calloc(1, sizeof *e)))
			return -1;
		e->cap = 4; /* so a new entry is never left empty */
		if (!(e->tag = strdup(tag)) || !(e->v = malloc(e->cap * sizeof *e->v))) {
			free(e->tag);
			free(e);
			return -1;
		}
		if (wire_strtab_put(&by_tag, e) != 0) {
			free(e->tag);
			free(e->v);
			free(e);
			return -1;
		}
	}
	size_t i = srv_seq_after(e->v, e->n, s->seq);
	if (i > 0 && e->v[i - 1] == s)
		return 0; /* a tag given twice */
	if (e->n == e->cap) {
		size_t nc = e->cap * 2;
		srv_sbx **nv = realloc(e->v, nc * sizeof *nv);
		if (!nv)
			return -1;
		e->v = nv;
		e->cap = nc;
	}
	memmove(&e->v[i + 1], &e->v[i], (e->n - i) * sizeof *e->v);
	e->v[i] = s;
	e->n++;
	return 0;
}

static void index_del(srv_sbx *s)
{
	for (size_t k = 0; k < s->spec.tags.n; k++)
		tag_del(s->spec.tags.v[k], s);
	wire_strtab_del(&by_id, s);
}

static int index_add(srv_sbx *s)
{
	if (wire_strtab_put(&by_id, s) != 0)
		return -1;
	for (size_t k = 0; k < s->spec.tags.n; k++) {
		if (tag_add(s->spec.tags.v[k], s) != 0) {
			index_del(s);
			return -1;
		}
	}
	return 0;
}

int srv_sbx_add(srv_sbx *s)
{
	if (nboxes == capboxes) {
		size_t nc = capboxes ? capboxes * 2 : 64;
		srv_sbx **nb = realloc(boxes, nc * sizeof *nb);
		if (!nb)
			return -1;
		boxes = nb;
		capboxes = nc;
	}
	if (index_add(s) != 0)
		return -1;
	/* Keep creation order (seq) even when loading in directory order. */
	size_t i = nboxes;
	while (i > 0 && boxes[i - 1]->seq > s->seq) {
		boxes[i] = boxes[i - 1];
		i--;
	}
	boxes[i] = s;
	nboxes++;
	return 0;
}

srv_sbx **srv_all(size_t *n)
{
	*n = nboxes;
	return boxes;
}

srv_sbx *srv_find_seq(uint32_t seq)
{
	size_t i = seq ? srv_seq_after(boxes, nboxes, seq - 1) : 0;
	return i < nboxes && boxes[i]->seq == seq ? boxes[i] : NULL;
}

srv_sbx *srv_find(const char *id)
{
	return wire_strtab_get(&by_id, id);
}

srv_sbx **srv_tagged(const char *tag, size_t *n)
{
	tag_ent *e = tag_find(tag);
	*n = e ? e->n : 0;
	return e ? e->v : NULL;
}

size_t srv_seq_after(srv_sbx *const *v, size_t n, uint32_t seq)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid]->seq <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

srv_sbx *srv_find_for(const char *id, uint32_t uid)
{
	srv_sbx *s = srv_find(id);
	return s && (uid == 0 || s->owner == uid) ? s : NULL;
}

static size_t keep_procs = 4096;

void srv_procs_keep_set(size_t n)
{
	keep_procs = n;
}

size_t srv_procs_keep(void)
{
	return keep_procs;
}

srv_proc *srv_proc_get(srv_sbx *s, int64_t id)
{
	if (id < 0 || s->nprocs == 0)
		return NULL;
	if (id == 0)
		return s->procs[0];
	size_t lo = 1, hi = s->nprocs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->procs[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->nprocs && s->procs[lo]->id == id ? s->procs[lo] : NULL;
}

int srv_proc_append(srv_sbx *s, srv_proc *p)
{
	size_t need = (s->nprocs ? s->nprocs : 1) + (p->id > 0);
	srv_proc **np = realloc(s->procs, need * sizeof *np);
	if (!np)
		return -1;
	s->procs = np;
	if (s->nprocs == 0)
		s->procs[s->nprocs++] = NULL;
	if (p->id == 0)
		s->procs[0] = p;
	else
		s->procs[s->nprocs++] = p;
	if (p->id >= s->next_id)
		s->next_id = p->id + 1;
	return 0;
}

int srv_proc_live_add(srv_sbx *s, srv_proc *p)
{
	if (s->nlive == s->caplive) {
		size_t nc = s->caplive ? s->caplive * 2 : 8;
		srv_proc **nl = realloc(s->live, nc * sizeof *nl);
		if (!nl)
			return -1;
		s->live = nl;
		s->caplive = nc;
	}
	s->live[s->nlive++] = p;
	return 0;
}

void srv_proc_live_del(srv_sbx *s, srv_proc *p)
{
	for (size_t i = 0; i < s->nlive; i++) {
		if (s->live[i] == p) {
			s->live[i] = s->live[--s->nlive];
			return;
		}
	}
}

int srv_running_procs(const srv_sbx *s)
{
	int n = 0;
	for (size_t i = 0; i < s->nlive; i++)
		if (s->live[i]->state == PS_RUNNING)
			n++;
	for (size_t i = 0; i < s->nexecs; i++)
		if (s->execs[i]->state == PS_RUNNING)
			n++;
	return n;
}

srv_proc *srv_proc_by_token(srv_sbx *s, int64_t token)
{
	for (size_t i = 0; i < s->nlive; i++)
		if (s->live[i]->state == PS_RUNNING && s->live[i]->token == token)
			return s->live[i];
	for (size_t i = 0; i < s->nexecs; i++)
		if (s->execs[i]->state == PS_RUNNING && s->execs[i]->token == token)
			return s->execs[i];
	return NULL;
}

srv_proc *srv_proc_by_uid(srv_sbx *s, uint32_t uid)
{
	for (size_t i = 0; i < s->nexecs; i++)
		if (s->execs[i]->uid == uid)
			return s->execs[i];
	for (size_t i = s->nprocs; i > 0; i--)
		if (s->procs[i - 1] && s->procs[i - 1]->uid == uid)
			return s->procs[i - 1];
	return NULL;
}

/* The process an earlier start with this requestId made, if any: a client
 * that timed out may send the same start again and must not run the
 * command twice (the extension's answer to create's requestId). */
srv_proc *srv_proc_by_request(srv_sbx *s, const char *rid)
{
	if (!rid || !*rid || !s->rid_cap)
		return NULL;
	for (size_t i = wire_str_hash(rid) & (s->rid_cap - 1);; i = (i + 1) & (s->rid_cap - 1)) {
		int64_t v = s->rid_tab[i];
		if (!v)
			return NULL;
		srv_proc *p = srv_proc_get(s, v - 1);
		if (p && p->request_id && strcmp(p->request_id, rid) == 0)
			return p;
	}
}

static void rid_put(int64_t *tab, size_t cap, const char *rid, int64_t v)
{
	size_t i = wire_str_hash(rid) & (cap - 1);
	while (tab[i])
		i = (i + 1) & (cap - 1);
	tab[i] = v;
}

int srv_proc_rid_add(srv_sbx *s, const srv_proc *p)
{
	if (!p->request_id || !*p->request_id || p->id < 1) /* 0: the main command */
		return 0;
	if (2 * (s->rid_n + 1) > s->rid_cap) {
		/* Rebuilt from what is still kept: forgotten processes' slots
		 * go, so the table is bounded by the kept records too. */
		size_t live = 0, nc = 16;
		for (size_t i = 0; i < s->rid_cap; i++)
			live += s->rid_tab[i] && srv_proc_get(s, s->rid_tab[i] - 1);
		while (nc < 4 * (live + 1))
			nc *= 2;
		int64_t *nt = calloc(nc, sizeof *nt);
		if (!nt)
			return -1;
		for (size_t i = 0; i < s->rid_cap; i++) {
			srv_proc *q = s->rid_tab[i] ? srv_proc_get(s, s->rid_tab[i] - 1) : NULL;
			if (q && q->request_id)
				rid_put(nt, nc, q->request_id, s->rid_tab[i]);
		}
		free(s->rid_tab);
		s->rid_tab = nt;
		s->rid_cap = nc;
		s->rid_n = live;
	}
	rid_put(s->rid_tab, s->rid_cap, p->request_id, p->id + 1);
	s->rid_n++;
	return 0;
}

uint32_t srv_proc_next_uid(void)
{
	return next_uid;
}

void srv_sbx_take(size_t idx)
{
	index_del(boxes[idx]);
	memmove(&boxes[idx], &boxes[idx + 1], (nboxes - idx - 1) * sizeof *boxes);
	nboxes--;
}

void srv_sbx_free_all(void)
{
	for (size_t i = 0; i < nboxes; i++)
		srv_sbx_free(boxes[i]);
	free(boxes);
	boxes = NULL;
	nboxes = capboxes = 0;
	for (size_t i = 0; i < by_tag.cap; i++) {
		tag_ent *e = by_tag.v[i];
		if (e) {
			free(e->tag);
			free(e->v);
			free(e);
		}
	}
	wire_strtab_free(&by_tag);
	wire_strtab_free(&by_id);
}

uint32_t srv_seq_next(void)
{
	return next_seq++;
}

uint32_t srv_seq_peek(void)
{
	return next_seq;
}

void srv_seq_seen(uint32_t seq)
{
	if (seq >= next_seq)
		next_seq = seq + 1;
}

void srv_set_reason(char *dst, size_t cap, const char *r)
{
	snprintf(dst, cap, "%s", r ? r : "");
}

