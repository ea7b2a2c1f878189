/*
 * util.h -- small helpers shared by the migc compiler's modules.
 *
 * Allocation that never returns NULL (migc is a short-lived command: running
 * out of memory is reported and ends the run with exit status 3), a growable
 * byte buffer used to build output, and a few string helpers.  Kept apart so
 * that every other module can stay about its own concern.
 */
#ifndef MIGC_UTIL_H
#define MIGC_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit statuses of the migc command, documented in `migc --help`. */
enum {
    MC_EXIT_OK = 0,     /* success */
    MC_EXIT_INPUT = 1,  /* errors in the migrations */
    MC_EXIT_USAGE = 2,  /* bad command line */
    MC_EXIT_IO = 3,     /* I/O error, out of memory, database unreachable */
    MC_EXIT_DATABASE = 4 /* the database refused: a migration failed, or the
                            history shows a problem */
};

/* malloc/realloc/strdup that print a message and exit(MC_EXIT_IO) instead of
 * returning NULL.  The caller owns and frees the result. */
void *mc_xmalloc(size_t size);
void *mc_xcalloc(size_t count, size_t size);
void *mc_xrealloc(void *ptr, size_t size);
char *mc_xstrdup(const char *s);
char *mc_xstrndup(const char *s, size_t n);
/* printf into a new string owned by the caller. */
char *mc_xasprintf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* A growable byte buffer.  `data` is always NUL-terminated when len > 0 or
 * after any append; free with mc_buf_free. */
typedef struct mc_buf {
    char *data;
    size_t len;
    size_t cap;
} mc_buf;

/* Makes room for `extra` more bytes (and the NUL). */
void mc_buf_reserve(mc_buf *b, size_t extra);
/* Appends len bytes (which may contain NULs). */
void mc_buf_append(mc_buf *b, const void *data, size_t len);
/* Appends a C string. */
void mc_buf_puts(mc_buf *b, const char *s);
/* Appends one byte. */
void mc_buf_putc(mc_buf *b, char c);
/* Appends printf-formatted text. */
void mc_buf_printf(mc_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* The va_list form of mc_buf_printf. */
void mc_buf_vprintf(mc_buf *b, const char *fmt, va_list ap)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 0)))
#endif
    ;
/* Frees the buffer's memory and empties it. */
void mc_buf_free(mc_buf *b);

/* ASCII case-insensitive comparison of the n bytes at s with the
 * NUL-terminated lower-case word `lower`; true when they are equal. */
bool mc_word_eq(const char *s, size_t n, const char *lower);

/* Appends `s` to b as JSON string contents (without the quotes). */
void mc_buf_json_string(mc_buf *b, const char *s);

/* Lower-case hex of `n` bytes into out (2n+1 bytes incl. NUL). */
void mc_hex(const unsigned char *bytes, size_t n, char *out);

#endif /* MIGC_UTIL_H */
