/*
 * sbxd's local OCI image store: STATE_DIR/oci. Blobs are content-addressed
 * (blobs/sha256/HEX, each digest checked while it is copied in), every layer
 * is unpacked once into its own numbered dir (l/N, named by layers/HEX ->
 * N) that sandboxes share read-only as overlayfs lower layers, and
 * references (Docker's normalised form, docker.io/library/NAME:TAG) map to
 * an image record (images/HEX.json: layers and the config's Env,
 * WorkingDir, User, Entrypoint, Cmd). Imports come from an OCI image
 * layout directory, an oci-archive or a docker-archive tarball; there is no
 * registry client. One lock file (STATE_DIR/oci/lock) serialises writers
 * (sbxd's CLI and the daemon); readers need none, every change lands by
 * rename. Functions return 0 or -1 with a message in err (SRV_OCI_ERRLEN).
 */
#ifndef SRV_OCI_H
#define SRV_OCI_H

#include <stddef.h>
#include <stdint.h>

#include "parse.h"

#define SRV_OCI_ERRLEN 512
#define SRV_OCI_MAX_LAYERS 128

/* A reference taken apart and normalised: name "docker.io/library/python",
 * tag "3.11" ("" with a digest only), digest "sha256:HEX" or "". A bare
 * digest gives an empty name. */
typedef struct srv_oci_ref {
	char name[256];
	char tag[129];
	char digest[72];
} srv_oci_ref;
/* 0, or -1 with a message: the syntax of docker's reference grammar
 * (lower-case path components, a domain when the first component has a '.'
 * or ':' or is localhost, tags [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, sha256
 * digests only). "python" = docker.io/library/python:latest. */
int srv_oci_ref_parse(const char *in, srv_oci_ref *out, char *err);
/* "NAME:TAG", "NAME@DIGEST", "NAME:TAG@DIGEST" or "DIGEST". */
void srv_oci_ref_string(const srv_oci_ref *r, char *buf, size_t len);

typedef struct srv_oci srv_oci;
/* Makes STATE_DIR/oci if needed. */
srv_oci *srv_oci_open(const char *state_dir, char *err);
void srv_oci_close(srv_oci *st);

/* Imports PATH (a directory: an OCI layout; a file: an oci-archive or a
 * docker-archive tar, any compression libarchive reads). ref, when not
 * NULL or "", names the image (needed when the source names none, and
 * chooses one when it holds several). Prints nothing; on success *out
 * (may be NULL) gets "REF DIGEST" lines of what was imported. */
int srv_oci_import(srv_oci *st, const char *path, const char *ref, char *out, size_t outlen, char *err);

/* Drops a reference (a bare digest: every reference of that image). The
 * image's record goes with its last reference; layers no image uses are
 * removed by srv_oci_gc. */
int srv_oci_remove(srv_oci *st, const char *ref, char *err);

/* Removes layers, blobs and records no reference leads to. Only safe when
 * no sandbox runs on them: sbxd calls it at start, `sbxd image rm` when no
 * sbxd holds the state dir. Returns the number of layers removed. */
int srv_oci_gc(srv_oci *st, char *err);

/* A resolved image, what a sandbox is made of. All owned. */
typedef struct srv_oci_image {
	char ref[512];        /* the canonical reference that matched */
	char digest[72];      /* manifest digest */
	char **lowers;        /* absolute layer dirs, topmost first, NULL-ended */
	srv_strv env;         /* config Env, "K=V" */
	char *working_dir;    /* "" when none */
	char *user;           /* "" when none */
	srv_strv entrypoint, cmd;
} srv_oci_image;
/* 0; or -1 with errno ENOENT and a message naming what exists (at most
 * about 400 bytes of names), or another errno (a broken store). */
int srv_oci_resolve(srv_oci *st, const char *ref, srv_oci_image *out, char *err);
void srv_oci_image_free(srv_oci_image *im);

/* The image's User as ids: "" = root (0:0), "N[:M]" numeric, or names
 * looked up in the etc/passwd and etc/group of its topmost layer that has
 * them. -1 with a message when a name is unknown. */
int srv_oci_user(const srv_oci_image *im, int64_t *uid, int64_t *gid, char *err);
/* What runs when the container's command is empty: Entrypoint + Cmd
 * (appended to out; nothing when the image has neither: an idle box). */
int srv_oci_main_argv(const srv_oci_image *im, srv_strv *out);

/* The references the store holds, ", "-separated, cut to fit. */
void srv_oci_names(srv_oci *st, char *buf, size_t len);

/* What the store holds, one entry per image (its references together),
 * in the order of the reference index: what GET /v1/images answers (as
 * sbxd.ext.v1.ListImagesResponse, rpc.c) and `sbxd image list` prints. */
typedef struct srv_oci_entry {
	srv_strv refs;               /* "docker.io/library/tool:1", ... */
	char digest[72];             /* the manifest's, "sha256:HEX" */
	char *config_digest;         /* "" when the record lacks it */
	int layers;
	int64_t size_bytes;          /* unpacked */
	char *created;               /* the config's, as written; "" none */
} srv_oci_entry;
typedef struct srv_oci_listing {
	srv_oci_entry *v;
	size_t n;
} srv_oci_listing;
/* 0, or -1 with a message (the index cannot be read, out of memory); an
 * image whose record is unreadable is left out. */
int srv_oci_list(srv_oci *st, srv_oci_listing *out, char *err);
void srv_oci_listing_free(srv_oci_listing *l);

/* The unpacker alone (for its fuzz target): the tar in fd (any
 * compression) into the dir rootfd, as a layer (1: whiteouts, owners,
 * modes) or an outer archive (0: files and dirs). -1 with a message. */
int srv_oci_unpack_fd(int fd, int rootfd, int layer, int64_t *bytes, char *err);

/* Prints a listing as a table: REFERENCE DIGEST LAYERS SIZE. */
#include <stdio.h>
void srv_oci_list_print(const srv_oci_listing *l, FILE *f);

#endif
