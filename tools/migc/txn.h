/*
 * txn.h -- deciding how each script runs with respect to transactions.
 *
 * PostgreSQL refuses some statements inside a transaction block, and users of
 * the four tools write transaction control in their files in several ways.
 * This module turns a split section into one of the catalog's transaction
 * modes, or explains precisely why it cannot:
 *
 *  - default: one transaction with the history row (MIGC_TRANSACTION_SINGLE);
 *    a leading BEGIN and trailing COMMIT (golang-migrate users write them)
 *    are absorbed and not sent;
 *  - an explicit annotation: statement by statement, no transaction;
 *  - a lone statement that cannot run in a transaction: no transaction,
 *    automatically, with a note;
 *  - COMMIT; <statements>; BEGIN; inside a transactional script (written for
 *    sql-migrate): run as written, statement by statement, with a warning;
 *  - anything else mixing the two: an error at the statement, saying how to
 *    fix it.
 */
#ifndef MIGC_TXN_H
#define MIGC_TXN_H

#include <stdbool.h>

#include <migc/catalog.h>

#include "diag.h"
#include "split.h"

typedef struct mc_txn_plan {
    migc_transaction_mode mode;
    bool auto_no_transaction;  /* MIGC_SCRIPT_AUTO_NO_TRANSACTION */
} mc_txn_plan;

/* Plans section `sec` of the file at `path` (normalized text, len bytes) in
 * `format`; `down` tells which half it is (for the advice in messages).
 * Marks absorbed wrapper statements MIGC_STMT_SKIP.  Reports diagnostics to
 * d; returns false when an error was reported. */
bool mc_plan_transaction(const char *path, const char *text, size_t len,
                         migc_format format, bool down, mc_section *sec,
                         mc_txn_plan *plan, mc_diag *d);

#endif /* MIGC_TXN_H */
