-- migc:no-transaction
DROP INDEX CONCURRENTLY ledger_entries_account_idx;
