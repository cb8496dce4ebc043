/* ttywire.h: the frames an attached command's stream is made of (gantry exec, gantry run -it),
 * between the CLI and the agent, relayed unchanged by the server (docs/interactive.md).
 *
 * A frame is a type byte, a 4-byte big-endian length, then that many bytes. The client sends
 * input (TTY_IN), window sizes (TTY_WINCH), signals (TTY_SIGNAL) and the end of its input
 * (TTY_EOF); the node sends output (TTY_OUT, and TTY_ERR for a command without a terminal), a
 * line of its own for a person (TTY_MSG: why the command could not start) and, last, the
 * command's status (TTY_EXIT: its exit code, or 128 + the signal that ended it). A port
 * forward carries raw bytes instead: no frames. */
#ifndef GANTRY_TTYWIRE_H
#define GANTRY_TTYWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define TTY_IN 'i'
#define TTY_WINCH 'w'     /* 4 bytes: rows, cols (16-bit big-endian each) */
#define TTY_SIGNAL 's'    /* 1 byte: the signal's number */
#define TTY_EOF 'e'       /* no payload: the client's input ended */
#define TTY_OUT 'o'
#define TTY_ERR 'r'
#define TTY_MSG 'm'       /* text for a person */
#define TTY_EXIT 'x'      /* 4 bytes: the status (0..255) */
/* From the server to the client of a session that outlives its client (gantry exec -it): the
 * session's id (32 hex digits), first on each client's leg, for `gantry attach --exec`. */
#define TTY_SESSION 'S'
#define TTY_HDR 5
/* The largest frame accepted: a peer that announces more is broken (or hostile). */
#define TTY_FRAME_MAX (1024 * 1024)

/* Appends one frame to b. */
void tty_frame_put(gt_buf_t *b, char type, const void *data, size_t len);

/* A reader of frames from a byte stream: feed what arrives, take whole frames out. */
typedef struct tty_reader {
    gt_buf_t buf;
    size_t off;           /* consumed bytes at the start of buf */
} tty_reader_t;

void tty_reader_feed(tty_reader_t *r, const void *data, size_t len);
/* The next whole frame: 1 with *type, *data (inside the reader, valid until the next call) and
 * *len; 0 when none is whole yet; -1 (EPROTO) when the stream announces a frame larger than
 * TTY_FRAME_MAX. */
int tty_reader_next(tty_reader_t *r, char *type, const char **data, size_t *len);
void tty_reader_free(tty_reader_t *r);

struct gt_upgrade;
/* Reads everything the stream u holds now into r (TLS may hold more than its socket shows):
 * 0 when nothing more is there now (poll its fd); -1 when the stream ended or broke (what came
 * before is in r). The agent's and the CLI's relay loops both read through it. */
int tty_reader_drain(tty_reader_t *r, struct gt_upgrade *u);
/* Sends one frame on u: 0, or -1 with errno (gt_upgrade_send). */
int tty_frame_send(struct gt_upgrade *u, char type, const void *data, size_t len);

/* Tracks frame boundaries in a stream without keeping it (the server's relay): how many input
 * bytes (TTY_IN payload) a chunk carries. */
typedef struct tty_scan {
    unsigned char hdr[TTY_HDR];
    size_t have;          /* header bytes seen of the current frame */
    size_t left;          /* payload bytes still to come of the current frame */
    char type;
} tty_scan_t;
/* Returns the TTY_IN payload bytes in data[0..len). */
size_t tty_scan_input(tty_scan_t *s, const void *data, size_t len);
/* Whether s stands between two frames. */
bool tty_scan_at_boundary(const tty_scan_t *s);
/* Advances s over data[0..len) up to the first frame boundary: returns how many bytes that is
 * (0 when s is at one; len when data ends inside the frame). What follows is whole frames. */
size_t tty_scan_skip(tty_scan_t *s, const void *data, size_t len);

#endif
