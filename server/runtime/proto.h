/*
 * The wire format between sbxd and the init (PID 1) of each sandbox. Two
 * SOCK_SEQPACKET socketpairs connect them: "ctl" carries requests from sbxd
 * and one reply per request, "evt" carries exit events from init. Keeping
 * replies and events on separate sockets lets sbxd block for a reply without
 * having to buffer events, so the event socket alone tells poll() whether
 * exits are pending. Messages are fixed little structs plus, for a spawn, a
 * block of NUL-terminated strings (cwd, argv, env) with hard caps, because
 * init must parse them without allocating (it is a copy of a threaded
 * process, so malloc locks may be held).
 */
#ifndef SRV_PROTO_H
#define SRV_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Caps on one spawn request. A SEQPACKET message must fit the socket's send
 * buffer (about 208 KiB by default), so the string block stays below that. */
#define SRV_PROTO_MAX_STRINGS (128 * 1024)
#define SRV_PROTO_MAX_ARGS 4096
#define SRV_PROTO_MAX_ENV 4096
#define SRV_PROTO_MSGLEN 64

enum srv_msg_type {
	SRV_MSG_SPAWN = 1,
	SRV_MSG_SIGNAL = 2,
	SRV_MSG_REPLY = 3,
	SRV_MSG_ATTACHED = 4, /* sbxd -> init, once: init is in all its cgroups */
	SRV_MSG_MAPPED = 5,   /* sbxd -> init, first of all in a user namespace:
	                         its uid/gid maps are written; argc idmapped
	                         lower layers ride along as SCM_RIGHTS */
	SRV_MSG_ADOPT = 6,    /* a new sbxd -> init, on a connection to the
	                         box's live socket (srv_msg_adopt) */
	SRV_MSG_ADOPTED = 7,  /* init -> that sbxd, on the new ctl */
};

/* Live restore (runtime.h, srv_box_adopt): a box made restorable holds a
 * listening SEQPACKET socket STATE_DIR/live/<id>.sock (0700 dir) and a
 * 32-byte secret that only sbxd knows (STATE_DIR/live/<id>.key). A new
 * sbxd connects and sends srv_msg_adopt with the secret and two fds (the
 * init ends of fresh ctl and evt socketpairs); init checks version and
 * secret in constant time, drops anything else, switches to the new
 * sockets, answers srv_msg_adopted on the new ctl (the box's root and
 * mount namespace fds ride along, as with the ready reply) and replays
 * its last exit events before the queued ones (sbxd may have died with
 * some unread), so sbxd must take an exit of a finished token as a no-op. */
#define SRV_LIVE_VERSION 1u
#define SRV_LIVE_SECRET 32
typedef struct srv_msg_adopt {
	uint32_t type;    /* SRV_MSG_ADOPT */
	uint32_t version; /* SRV_LIVE_VERSION: an init of another layout refuses */
	unsigned char secret[SRV_LIVE_SECRET];
} srv_msg_adopt;

typedef struct srv_msg_adopted {
	uint32_t type;    /* SRV_MSG_ADOPTED */
	uint32_t nprocs;  /* processes it started that still run */
	int64_t next_token; /* above every token it was ever given */
	uint32_t replay;  /* exit events it replays before the queued ones */
	uint32_t queued;  /* exits that came while no sbxd was attached */
} srv_msg_adopted;

/* Spawn flags: which descriptors ride along (in this order) as SCM_RIGHTS. */
#define SRV_SPAWN_STDOUT 0x1u
#define SRV_SPAWN_STDERR 0x2u
#define SRV_SPAWN_STDIN 0x4u
#define SRV_SPAWN_DEFENV 0x8u   /* env NULL: init supplies a default one */
#define SRV_SPAWN_ALLFLAGS 0xfu

typedef struct srv_msg_hdr {
	uint32_t type;
	uint32_t flags;
	int64_t token;
	int32_t sig;      /* SIGNAL */
	uint32_t argc;    /* SPAWN: strings = cwd, argv[argc], env[envc] */
	uint32_t envc;
	uint32_t len;     /* bytes of the string block that follows */
	uint32_t seq;     /* echoed in the reply: a late reply to a request
	                     sbxd gave up on is never taken for a newer one */
	uint32_t keep;    /* SPAWN: bytes of each relayed stream to store, 0 = all */
} srv_msg_hdr;

typedef struct srv_msg_reply {
	uint32_t type;    /* SRV_MSG_REPLY */
	int32_t err;      /* 0 or an errno value */
	int32_t pid;      /* SPAWN: pid inside the sandbox */
	uint32_t seq;     /* the request's seq; 0 for the ready message */
	char msg[SRV_PROTO_MSGLEN + 160]; /* NUL-terminated detail on failure */
} srv_msg_reply;

typedef struct srv_exit_event {
	int64_t token;
	int32_t wstatus;
	uint32_t flags;   /* SRV_EXIT_OUTPUT_DONE, SRV_EXIT_LOST_* (runtime.h);
	                     with SRV_EVT_NOTE not an exit: news of a running
	                     process (wstatus 0) */
} srv_exit_event;

#define SRV_EVT_NOTE 0x80000000u

/* A decoded spawn request; every pointer points into the message buffer. */
typedef struct srv_spawn_req {
	int64_t token;
	uint32_t flags;
	const char *cwd;          /* "" means "/" */
	const char **argv;        /* NULL-terminated, argc >= 1 */
	const char **env;         /* NULL-terminated, or NULL with DEFENV */
	uint32_t argc, envc;
	uint32_t keep;            /* see srv_msg_hdr */
} srv_spawn_req;

/* Size of the encoded message, or 0 when a cap is exceeded / argv empty. */
size_t srv_proto_spawn_size(const char *cwd, const char *const *argv, const char *const *env);

/* Encodes a spawn request into buf (cap bytes). Returns its length or 0.
 * The header's seq is 0; srv_proto_set_seq sets it. */
void srv_proto_set_seq(void *buf, uint32_t seq);
size_t srv_proto_encode_spawn(void *buf, size_t cap, int64_t token, uint32_t flags, uint32_t keep,
                              const char *cwd, const char *const *argv, const char *const *env);

/* Decodes a spawn request of n bytes in place. argv_store/env_store hold
 * SRV_PROTO_MAX_ARGS+1 / SRV_PROTO_MAX_ENV+1 pointers. Returns 0 or -1 for
 * any malformed message (bad counts, missing NULs, trailing bytes, flags). */
int srv_proto_decode_spawn(const void *buf, size_t n, srv_spawn_req *req,
                           const char **argv_store, const char **env_store);

/* Takes the NUL-terminated string at s + *pos (of a len-byte block) into
 * *out and moves *pos past it; -1 when none is left. Init's and the
 * zygote's decoders both read their string blocks with it. */
int srv_proto_take(const char *s, size_t len, size_t *pos, const char **out);

/* One recvmsg of a request with up to maxfds SCM_RIGHTS descriptors (init's
 * and the zygote's requests both carry them). Fills fds[0..*nfds); extra
 * descriptors are closed and, like a truncated message, set *bad. Returns
 * recvmsg's result (errno set when < 0). */
ssize_t srv_proto_recv_fds(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds, int *bad);

#endif
