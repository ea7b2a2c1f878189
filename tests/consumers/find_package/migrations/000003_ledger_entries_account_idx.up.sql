-- migc:no-transaction
CREATE INDEX CONCURRENTLY ledger_entries_account_idx
    ON ledger_entries (account_id);
