/* ttywire.c: frames of an attached command's stream (ttywire.h). */
#include "common/ttywire.h"

#include <errno.h>
#include <string.h>

#include "common/upgrade.h"

void tty_frame_put(gt_buf_t *b, char type, const void *data, size_t len)
{
    char h[TTY_HDR] = {type, (char)(len >> 24), (char)(len >> 16), (char)(len >> 8), (char)len};
    gt_buf_append(b, h, sizeof(h));
    if (len)
        gt_buf_append(b, data, len);
}

void tty_reader_feed(tty_reader_t *r, const void *data, size_t len)
{
    if (r->off && r->off == r->buf.len) { /* all consumed: start over */
        r->buf.len = 0;
        r->off = 0;
    } else if (r->off > 65536) { /* drop what is consumed */
        memmove(r->buf.data, r->buf.data + r->off, r->buf.len - r->off);
        r->buf.len -= r->off;
        r->off = 0;
    }
    gt_buf_append(&r->buf, data, len);
}

static size_t frame_len(const unsigned char *h)
{
    return (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 | h[4];
}

int tty_reader_next(tty_reader_t *r, char *type, const char **data, size_t *len)
{
    size_t avail = r->buf.len - r->off;
    if (avail < TTY_HDR)
        return 0;
    const unsigned char *h = (const unsigned char *)r->buf.data + r->off;
    size_t n = frame_len(h);
    if (n > TTY_FRAME_MAX) {
        errno = EPROTO;
        return -1;
    }
    if (avail < TTY_HDR + n)
        return 0;
    *type = (char)h[0];
    *data = (const char *)h + TTY_HDR;
    *len = n;
    r->off += TTY_HDR + n;
    return 1;
}

void tty_reader_free(tty_reader_t *r)
{
    gt_buf_free(&r->buf);
    memset(r, 0, sizeof(*r));
}

int tty_reader_drain(tty_reader_t *r, struct gt_upgrade *u)
{
    char buf[16384];
    for (;;) {
        ssize_t n = gt_upgrade_recv(u, buf, sizeof(buf));
        if (n > 0) {
            tty_reader_feed(r, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n == 0)
            errno = EPIPE;
        return -1;
    }
}

int tty_frame_send(struct gt_upgrade *u, char type, const void *data, size_t len)
{
    gt_buf_t b = {0};
    tty_frame_put(&b, type, data, len);
    int rc = gt_upgrade_send(u, b.data, b.len);
    int e = errno;
    gt_buf_free(&b);
    errno = e;
    return rc;
}

bool tty_scan_at_boundary(const tty_scan_t *s) { return s->have == 0 && s->left == 0; }

size_t tty_scan_skip(tty_scan_t *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t off = 0;
    while (off < len && !tty_scan_at_boundary(s)) {
        /* within a payload: all of it at once; within a header: a byte at a time */
        size_t k = s->have == 0 ? (len - off < s->left ? len - off : s->left) : 1;
        tty_scan_input(s, p + off, k);
        off += k;
    }
    return off;
}

size_t tty_scan_input(tty_scan_t *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t input = 0;
    while (len) {
        if (s->left) {
            size_t k = len < s->left ? len : s->left;
            if (s->type == TTY_IN)
                input += k;
            s->left -= k;
            p += k;
            len -= k;
            continue;
        }
        s->hdr[s->have++] = *p++;
        len--;
        if (s->have == TTY_HDR) {
            s->type = (char)s->hdr[0];
            s->left = frame_len(s->hdr);
            s->have = 0;
        }
    }
    return input;
}
