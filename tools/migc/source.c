/*
 * source.c -- reading, normalizing and validating migration files.
 * See source.h.
 */
#include "source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

char *mc_read_file(const char *path, size_t max_bytes, size_t *len_out,
                   mc_diag *d, bool *io_error)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        mc_diag_file(d, MC_ERROR, path, "cannot open: %s", strerror(errno));
        *io_error = true;
        return NULL;
    }
    mc_buf b = {0};
    char chunk[65536];
    for (;;) {
        size_t want = sizeof chunk;
        if (max_bytes && max_bytes - b.len < want)
            want = max_bytes - b.len;
        if (want == 0)
            break;
        size_t n = fread(chunk, 1, want, f);
        mc_buf_append(&b, chunk, n);
        if (n < want)
            break;
    }
    bool failed = ferror(f) != 0;
    int err = errno;
    fclose(f);
    if (failed) {
        mc_diag_file(d, MC_ERROR, path, "cannot read: %s", strerror(err));
        *io_error = true;
        mc_buf_free(&b);
        return NULL;
    }
    if (!b.data) {
        mc_buf_reserve(&b, 0);
        b.data[0] = '\0';
    }
    *len_out = b.len;
    return b.data;
}

size_t mc_normalize(char *text, size_t len)
{
    size_t r = 0;
    if (len >= 3 && (unsigned char)text[0] == 0xEF &&
        (unsigned char)text[1] == 0xBB && (unsigned char)text[2] == 0xBF)
        r = 3;
    size_t w = 0;
    for (; r < len; r++) {
        if (text[r] == '\r' && r + 1 < len && text[r + 1] == '\n')
            continue;
        text[w++] = text[r];
    }
    text[w] = '\0';
    return w;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid.
 * Rejects overlong forms, surrogates and code points above U+10FFFF. */
static size_t utf8_sequence(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

bool mc_validate_text(const char *path, const char *text, size_t len,
                      mc_diag *d)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        if (s[i] == 0) {
            mc_diag_at(d, MC_ERROR, path, text, len, i,
                       "NUL byte in SQL text (PostgreSQL cannot store or run it)");
            return false;
        }
        size_t n = utf8_sequence(s + i, len - i);
        if (n == 0) {
            mc_diag_at(d, MC_ERROR, path, text, len, i,
                       "invalid UTF-8 byte 0x%02X (migration files must be UTF-8)",
                       s[i]);
            return false;
        }
        i += n;
    }
    return true;
}
