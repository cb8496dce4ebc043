/* test_ttywire.c: the frames of an attached command's stream (src/common/ttywire.c): what is
 * written reads back whole, whatever the chunks it arrives in; an oversized frame is refused;
 * the relay's scan counts input bytes only, and finds the next frame's start in a stream cut
 * inside a frame (a detached session's held output starts there). */
#include <errno.h>
#include <string.h>

#include "common/ttywire.h"
#include "tap.h"

static void test_roundtrip(void)
{
    gt_buf_t b = {0};
    tty_frame_put(&b, TTY_IN, "ls\n", 3);
    unsigned char w[4] = {0, 40, 0, 120};
    tty_frame_put(&b, TTY_WINCH, w, 4);
    tty_frame_put(&b, TTY_EOF, NULL, 0);
    is_int(b.len, 5 + 3 + 5 + 4 + 5, "three frames: headers and payloads");
    /* fed one byte at a time: nothing before a frame is whole, each frame when it is */
    tty_reader_t r = {0};
    char type;
    const char *d;
    size_t n;
    int frames = 0, early = 0;
    for (size_t i = 0; i < b.len; i++) {
        tty_reader_feed(&r, b.data + i, 1);
        int k;
        while ((k = tty_reader_next(&r, &type, &d, &n)) == 1) {
            frames++;
            if (frames == 1)
                ok(type == TTY_IN && n == 3 && !memcmp(d, "ls\n", 3) && i == 7,
                   "the input frame, once its 8th byte is in");
            if (frames == 2)
                ok(type == TTY_WINCH && n == 4 && (unsigned char)d[1] == 40 &&
                       (unsigned char)d[3] == 120,
                   "the window size frame");
            if (frames == 3)
                ok(type == TTY_EOF && n == 0 && i == b.len - 1, "the end-of-input frame, last");
        }
        early += k < 0;
    }
    is_int(frames, 3, "three frames read back");
    is_int(early, 0, "no error on the way");
    is_int(tty_reader_next(&r, &type, &d, &n), 0, "then nothing");
    tty_reader_free(&r);
    gt_buf_free(&b);
}

static void test_oversized(void)
{
    unsigned char h[5] = {TTY_OUT, 0x7f, 0xff, 0xff, 0xff};
    tty_reader_t r = {0};
    tty_reader_feed(&r, h, sizeof(h));
    char type;
    const char *d;
    size_t n;
    errno = 0;
    is_int(tty_reader_next(&r, &type, &d, &n), -1, "a frame announcing 2 GiB is refused");
    is_int(errno, EPROTO, "with EPROTO");
    tty_reader_free(&r);
    unsigned char m[5] = {TTY_OUT, 0, 0x10, 0, 0}; /* TTY_FRAME_MAX exactly: allowed, waits */
    tty_reader_feed(&r, m, sizeof(m));
    is_int(tty_reader_next(&r, &type, &d, &n), 0, "a frame of TTY_FRAME_MAX waits for its bytes");
    tty_reader_free(&r);
}

static void test_scan(void)
{
    gt_buf_t b = {0};
    unsigned char w[4] = {0, 24, 0, 80};
    tty_frame_put(&b, TTY_WINCH, w, 4);
    tty_frame_put(&b, TTY_IN, "abc", 3);
    unsigned char sig = 2;
    tty_frame_put(&b, TTY_SIGNAL, &sig, 1);
    tty_frame_put(&b, TTY_IN, "de", 2);
    tty_scan_t s = {0};
    is_int(tty_scan_input(&s, b.data, b.len), 5, "input bytes of a whole stream: 3 + 2");
    tty_scan_t s2 = {0};
    size_t total = 0;
    for (size_t i = 0; i < b.len; i++)
        total += tty_scan_input(&s2, b.data + i, 1);
    is_int(total, 5, "the same fed a byte at a time");
    tty_scan_t s3 = {0};
    is_int(tty_scan_input(&s3, b.data, 9), 0, "a window size alone is not input");
    gt_buf_free(&b);
}

/* A client's leg cut inside a frame: what the node writes next is held from the next frame's
 * start, so that the next client reads whole frames. */
static void test_skip(void)
{
    gt_buf_t b = {0};
    tty_frame_put(&b, TTY_OUT, "hello", 5);
    tty_frame_put(&b, TTY_OUT, "world!", 6);
    unsigned char x[4] = {0, 0, 0, 3};
    tty_frame_put(&b, TTY_EXIT, x, 4);
    tty_scan_t s = {0};
    ok(tty_scan_at_boundary(&s), "a new scan stands between frames");
    is_int(tty_scan_skip(&s, b.data, b.len), 0, "at a boundary nothing is skipped");
    tty_scan_input(&s, b.data, 7); /* the header and "he" reached the client */
    ok(!tty_scan_at_boundary(&s), "cut inside the first frame's payload");
    size_t off = tty_scan_skip(&s, b.data + 7, b.len - 7);
    is_int(off, 3, "the rest of that frame (llo) is skipped");
    ok(tty_scan_at_boundary(&s), "then the scan stands at the next frame");
    tty_reader_t r = {0};
    tty_reader_feed(&r, b.data + 7 + off, b.len - 7 - off);
    char type;
    const char *d;
    size_t n;
    ok(tty_reader_next(&r, &type, &d, &n) == 1 && type == TTY_OUT && n == 6 &&
           !memcmp(d, "world!", 6),
       "what follows reads as whole frames: the second output");
    ok(tty_reader_next(&r, &type, &d, &n) == 1 && type == TTY_EXIT && n == 4 &&
           (unsigned char)d[3] == 3,
       "and the exit status");
    tty_reader_free(&r);
    tty_scan_t h = {0};
    tty_scan_input(&h, b.data, 2); /* cut inside the first header */
    is_int(tty_scan_skip(&h, b.data + 2, b.len - 2), 3 + 5, "cut in a header: its rest and "
           "its payload are skipped");
    tty_scan_t e = {0};
    tty_scan_input(&e, b.data, 7);
    is_int(tty_scan_skip(&e, b.data + 7, 2), 2, "a chunk that ends inside the frame: all of it");
    ok(!tty_scan_at_boundary(&e), "still inside it");
    is_int(tty_scan_skip(&e, b.data + 9, b.len - 9), 1, "the next chunk: the frame's last byte");
    gt_buf_t z = {0};
    tty_frame_put(&z, TTY_EOF, NULL, 0);
    tty_frame_put(&z, TTY_OUT, "k", 1);
    tty_scan_t zs = {0};
    tty_scan_input(&zs, z.data, 3);
    is_int(tty_scan_skip(&zs, z.data + 3, z.len - 3), 2, "an empty frame cut in its header: "
           "its header's rest only");
    gt_buf_free(&z);
    gt_buf_free(&b);
}

int main(void)
{
    test_roundtrip();
    test_oversized();
    test_scan();
    test_skip();
    return tap_done();
}
