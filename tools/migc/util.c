/*
 * util.c -- allocation, growable buffers and string helpers for migc.
 * See util.h for why these exist.
 */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(size_t size)
{
    fprintf(stderr, "migc: error: out of memory (allocating %zu bytes)\n", size);
    exit(MC_EXIT_IO);
}

void *mc_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        out_of_memory(size);
    return p;
}

void *mc_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        out_of_memory(count * size);
    return p;
}

void *mc_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        out_of_memory(size);
    return p;
}

char *mc_xstrdup(const char *s)
{
    return mc_xstrndup(s, strlen(s));
}

char *mc_xstrndup(const char *s, size_t n)
{
    char *p = mc_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *mc_xasprintf(const char *fmt, ...)
{
    mc_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    mc_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    /* Exactly the size of the string: many of these live as long as the
     * folder does. */
    char *s = mc_xstrndup(b.data ? b.data : "", b.len);
    mc_buf_free(&b);
    return s;
}

void mc_buf_reserve(mc_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    b->data = mc_xrealloc(b->data, cap);
    b->cap = cap;
}

void mc_buf_append(mc_buf *b, const void *data, size_t len)
{
    mc_buf_reserve(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void mc_buf_puts(mc_buf *b, const char *s)
{
    mc_buf_append(b, s, strlen(s));
}

void mc_buf_putc(mc_buf *b, char c)
{
    mc_buf_append(b, &c, 1);
}

void mc_buf_vprintf(mc_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n > 0) {
        mc_buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

void mc_buf_printf(mc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mc_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void mc_buf_free(mc_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

bool mc_word_eq(const char *s, size_t n, const char *lower)
{
    size_t i = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (lower[i] == '\0' || c != lower[i])
            return false;
    }
    return lower[i] == '\0';
}

/* Length of the well-formed UTF-8 sequence at p (1-4), or 0. */
static size_t utf8_length(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n = p[0] >= 0xF0 && p[0] <= 0xF4   ? 4
               : p[0] >= 0xE0                  ? 3
               : p[0] >= 0xC2 && p[0] <= 0xDF ? 2
                                               : 0;
    if (n == 0 || p[0] > 0xF4)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

void mc_buf_json_string(mc_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        switch (*p) {
        case '"': mc_buf_puts(b, "\\\""); p++; continue;
        case '\\': mc_buf_puts(b, "\\\\"); p++; continue;
        case '\n': mc_buf_puts(b, "\\n"); p++; continue;
        case '\r': mc_buf_puts(b, "\\r"); p++; continue;
        case '\t': mc_buf_puts(b, "\\t"); p++; continue;
        default: break;
        }
        if (*p < 0x20) {
            mc_buf_printf(b, "\\u%04x", *p);
            p++;
            continue;
        }
        size_t n = utf8_length(p);
        if (n == 0) {
            /* JSON is UTF-8: a byte that is not (a file name, say) becomes
             * the replacement character. */
            mc_buf_puts(b, "\\ufffd");
            p++;
            continue;
        }
        mc_buf_append(b, p, n);
        p += n;
    }
}

void mc_hex(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}
