/*
 * diag.c -- printing diagnostics with file:line:col, the source line and a
 * caret.  See diag.h.
 */
#include "diag.h"

#include <stdarg.h>
#include <string.h>

static const char *severity_word(mc_severity sev)
{
    switch (sev) {
    case MC_NOTE: return "note";
    case MC_WARNING: return "warning";
    case MC_ERROR: return "error";
    }
    return "error";
}

/* Counts the diagnostic; returns false when it is not to be printed. */
static bool count(mc_diag *d, mc_severity sev)
{
    switch (sev) {
    case MC_NOTE:
        d->notes++;
        return d->show_notes;
    case MC_WARNING:
        d->warnings++;
        return true;
    case MC_ERROR:
        d->errors++;
        return true;
    }
    return true;
}

static bool is_continuation(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

void mc_position_init(mc_position *p, const char *text)
{
    p->text = text;
    p->offset = 0;
    p->line = 1;
    p->column = 1;
}

void mc_position_advance(mc_position *p, size_t offset)
{
    const unsigned char *s = (const unsigned char *)p->text;
    for (size_t i = p->offset; i < offset; i++) {
        if (s[i] == '\n') {
            p->line++;
            p->column = 1;
        } else if (!is_continuation(s[i])) {
            p->column++;
        }
    }
    p->offset = offset;
}

/* Prints the line of text containing offset, then a caret under it. */
static void print_source_line(FILE *out, const char *text, size_t len,
                              size_t offset)
{
    size_t start = offset > len ? len : offset;
    while (start > 0 && text[start - 1] != '\n')
        start--;
    size_t end = start;
    while (end < len && text[end] != '\n')
        end++;
    fputs("    ", out);
    for (size_t i = start; i < end; i++) {
        unsigned char c = (unsigned char)text[i];
        /* Control characters would garble the terminal: show them as '?'. */
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            fputc('?', out);
        else
            fputc(c, out);
    }
    fputs("\n    ", out);
    for (size_t i = start; i < offset && i < end; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\t')
            fputc('\t', out);
        else if (!is_continuation(c))
            fputc(' ', out);
    }
    fputs("^\n", out);
}

void mc_diag_at(mc_diag *d, mc_severity sev, const char *path,
                const char *text, size_t len, size_t offset,
                const char *fmt, ...)
{
    if (!count(d, sev))
        return;
    if (offset > len)
        offset = len;
    if (d->last.text != text || d->last.offset > offset ||
        strncmp(d->last_path, path, sizeof d->last_path) != 0) {
        mc_position_init(&d->last, text);
        snprintf(d->last_path, sizeof d->last_path, "%s", path);
    }
    mc_position_advance(&d->last, offset);
    uint32_t line = d->last.line, column = d->last.column;
    fprintf(d->out, "%s:%u:%u: %s: ", path, (unsigned)line, (unsigned)column,
            severity_word(sev));
    va_list ap;
    va_start(ap, fmt);
    vfprintf(d->out, fmt, ap);
    va_end(ap);
    fputc('\n', d->out);
    print_source_line(d->out, text, len, offset);
}

void mc_diag_file(mc_diag *d, mc_severity sev, const char *path,
                  const char *fmt, ...)
{
    if (!count(d, sev))
        return;
    fprintf(d->out, "%s: %s: ", path ? path : "migc", severity_word(sev));
    va_list ap;
    va_start(ap, fmt);
    vfprintf(d->out, fmt, ap);
    va_end(ap);
    fputc('\n', d->out);
}
