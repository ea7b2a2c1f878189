/*
 * source.h -- reading a migration file and normalizing its text.
 *
 * The normalized text is what migc hashes AND what the runtime executes, so
 * a checkout with CRLF line endings or a UTF-8 byte order mark builds the
 * same catalog as any other: the BOM is removed and every CRLF becomes LF.
 * The text must be valid UTF-8 without NUL bytes (PostgreSQL rejects both in
 * SQL text); a violation is an error at its file:line:col.
 */
#ifndef MIGC_SOURCE_H
#define MIGC_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

/* Reads the whole file at `path` into a NUL-terminated buffer the caller
 * frees.  On failure reports an I/O error to `d`, sets *io_error and returns
 * NULL.  `max_bytes` > 0 reads at most that many bytes (for sniffing). */
char *mc_read_file(const char *path, size_t max_bytes, size_t *len_out,
                   mc_diag *d, bool *io_error);

/* Normalizes text in place: drops a leading UTF-8 BOM and turns CRLF into
 * LF.  Returns the new length; the buffer stays NUL-terminated. */
size_t mc_normalize(char *text, size_t len);

/* Checks that text is valid UTF-8 without NUL bytes.  Reports the first
 * problem at its line and column and returns false; true when valid. */
bool mc_validate_text(const char *path, const char *text, size_t len,
                      mc_diag *d);

#endif /* MIGC_SOURCE_H */
