/*
 * txn.c -- transaction modes of scripts.  See txn.h for the rules.
 */
#include "txn.h"

#include "classify.h"

typedef struct planner {
    const char *path;
    const char *text;
    size_t len;
    migc_format format;
    bool down;
    mc_diag *diag;
    bool ok;
} planner;

static void mixed_error(planner *p, const mc_stmt *st)
{
    mc_diag_at(p->diag, MC_ERROR, p->path, p->text, p->len, st->start,
               "%s cannot run inside a transaction block, and this "
               "migration runs in one; move it to a migration of its own, or "
               "add \"%s\" to run this script statement by statement without "
               "a transaction",
               st->what, mc_no_transaction_directive(p->format, p->down));
    p->ok = false;
}

/* Walks a transactional script (between any absorbed wrapper) and accepts
 * only the COMMIT ... BEGIN pattern around non-transactional statements.
 * Returns true when the script must run as written. */
static bool walk_transactional(planner *p, mc_stmt *st, size_t from,
                               size_t to)
{
    bool in_txn = true;
    bool as_written = false;
    const mc_stmt *first_commit = NULL;
    const mc_stmt *open_commit = NULL;
    for (size_t i = from; i < to; i++) {
        uint32_t f = st[i].flags;
        if (f & MIGC_STMT_BEGIN) {
            if (in_txn) {
                mc_diag_at(p->diag, MC_ERROR, p->path, p->text, p->len,
                           st[i].start,
                           "%s inside the migration's own transaction "
                           "(transactions do not nest); remove it",
                           st[i].what);
                p->ok = false;
            }
            in_txn = true;
            open_commit = NULL;
        } else if (f & MIGC_STMT_COMMIT) {
            if (!in_txn) {
                mc_diag_at(p->diag, MC_ERROR, p->path, p->text, p->len,
                           st[i].start,
                           "%s with no transaction open (the previous COMMIT "
                           "already ended it)",
                           st[i].what);
                p->ok = false;
            }
            in_txn = false;
            as_written = true;
            open_commit = &st[i];
            if (!first_commit)
                first_commit = &st[i];
        } else if (f & MC_CLASS_ROLLBACK) {
            mc_diag_at(p->diag, MC_ERROR, p->path, p->text, p->len,
                       st[i].start,
                       "%s in a migration would silently undo it while its "
                       "history says applied; remove it",
                       st[i].what);
            p->ok = false;
        } else if (f & MC_CLASS_PREPARE_TXN) {
            mc_diag_at(p->diag, MC_ERROR, p->path, p->text, p->len,
                       st[i].start,
                       "PREPARE TRANSACTION in a migration leaves its changes "
                       "in a prepared transaction nobody commits; remove it");
            p->ok = false;
        } else if ((f & MIGC_STMT_NO_TRANSACTION) && in_txn) {
            mixed_error(p, &st[i]);
        }
    }
    if (open_commit) {
        mc_diag_at(p->diag, MC_ERROR, p->path, p->text, p->len,
                   open_commit->start,
                   "after this %s the script runs to its end without a "
                   "transaction; write BEGIN; after the statements that must "
                   "run outside one, or add \"%s\"",
                   open_commit->what,
                   mc_no_transaction_directive(p->format, p->down));
        p->ok = false;
    }
    if (as_written && p->ok) {
        mc_diag_at(p->diag, MC_WARNING, p->path, p->text, p->len,
                   first_commit->start,
                   "%s ends the migration's transaction: the script runs as "
                   "written, statement by statement, and what ran before "
                   "line %u stays committed if a later statement fails",
                   first_commit->what, (unsigned)first_commit->line);
    }
    return as_written;
}

/* Walks a script that runs without migc's transaction: its own BEGIN and
 * COMMIT run as written, but must pair up, and nothing may roll back. */
static void walk_untransacted(planner *p, const mc_stmt *st, size_t n)
{
    const mc_stmt *open_begin = NULL;
    for (size_t i = 0; i < n; i++) {
        uint32_t f = st[i].flags;
        if (f & MIGC_STMT_BEGIN) {
            if (open_begin) {
                mc_diag_at(p->diag, MC_ERROR, p->path, p->text, p->len,
                           st[i].start,
                           "%s while the BEGIN at line %u is still open "
                           "(transactions do not nest)",
                           st[i].what, (unsigned)open_begin->line);
                p->ok = false;
            }
            open_begin = &st[i];
        } else if (f & MIGC_STMT_COMMIT) {
            if (!open_begin) {
                mc_diag_at(p->diag, MC_ERROR, p->path, p->text, p->len,
                           st[i].start, "%s with no transaction open",
                           st[i].what);
                p->ok = false;
            }
            open_begin = NULL;
        } else if (f & (MC_CLASS_ROLLBACK | MC_CLASS_PREPARE_TXN)) {
            mc_diag_at(p->diag, MC_ERROR, p->path, p->text, p->len,
                       st[i].start,
                       "%s in a migration would silently undo its work while "
                       "its history says applied; remove it",
                       st[i].what);
            p->ok = false;
        } else if ((f & MIGC_STMT_NO_TRANSACTION) && open_begin) {
            mc_diag_at(p->diag, MC_ERROR, p->path, p->text, p->len,
                       st[i].start,
                       "%s cannot run inside the transaction block opened "
                       "at line %u",
                       st[i].what, (unsigned)open_begin->line);
            p->ok = false;
        }
    }
    if (open_begin) {
        mc_diag_at(p->diag, MC_ERROR, p->path, p->text, p->len,
                   open_begin->start,
                   "this %s is never committed: the script ends inside its "
                   "transaction",
                   open_begin->what);
        p->ok = false;
    }
}

bool mc_plan_transaction(const char *path, const char *text, size_t len,
                         migc_format format, bool down, mc_section *sec,
                         mc_txn_plan *plan, mc_diag *d)
{
    planner p = {path, text, len, format, down, d, true};
    plan->mode = MIGC_TRANSACTION_SINGLE;
    plan->auto_no_transaction = false;
    mc_stmt *st = sec->stmts;
    size_t n = sec->count;

    if (sec->no_transaction) {
        if (sec->transaction_on) {
            mc_diag_at(d, MC_ERROR, path, text, len, sec->transaction_on_at,
                       "transaction:true contradicts the no-transaction "
                       "annotation of this file");
            return false;
        }
        plan->mode = MIGC_TRANSACTION_NONE;
        walk_untransacted(&p, st, n);
        return p.ok;
    }

    size_t from = 0, to = n;
    bool wrapped = n >= 2 && (st[0].flags & MIGC_STMT_BEGIN) &&
                   (st[n - 1].flags & MIGC_STMT_COMMIT);
    if (wrapped && !mc_is_bare_begin(text, len, st[0].start, st[0].end)) {
        mc_diag_at(d, MC_ERROR, path, text, len, st[0].start,
                   "a BEGIN with transaction options cannot be absorbed: migc "
                   "runs each migration in its own transaction at the "
                   "server's default isolation; remove the options, or the "
                   "BEGIN and COMMIT");
        return false;
    }
    if (wrapped) {
        st[0].flags |= MIGC_STMT_SKIP;
        st[n - 1].flags |= MIGC_STMT_SKIP;
        from = 1;
        to = n - 1;
    }

    if (to - from == 1 && (st[from].flags & MIGC_STMT_NO_TRANSACTION)) {
        if (wrapped) {
            mc_diag_at(d, MC_ERROR, path, text, len, st[from].start,
                       "%s cannot run inside a transaction block, and this "
                       "script wraps it in BEGIN ... COMMIT; remove the "
                       "BEGIN and COMMIT",
                       st[from].what);
            return false;
        }
        plan->mode = MIGC_TRANSACTION_NONE;
        plan->auto_no_transaction = true;
        mc_diag_at(d, MC_NOTE, path, text, len, st[from].start,
                   "%s cannot run inside a transaction block; this script "
                   "runs without one",
                   st[from].what);
        return true;
    }

    if (walk_transactional(&p, st, from, to))
        plan->mode = MIGC_TRANSACTION_AS_WRITTEN;
    return p.ok;
}
