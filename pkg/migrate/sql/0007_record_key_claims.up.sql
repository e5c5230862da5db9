-- Claims on the match keys of records a transaction is about to create
-- (Metadata Import). A chunk inserts one row per match key of its new
-- records and deletes it again in the same transaction, so the table is
-- empty between transactions; what stays until commit is the index entry,
-- which makes a concurrent claimer of the same key wait until the first
-- transaction ends and then look the key up again. Two chunks (of one file
-- or of two jobs) holding the same record cannot both create it.
-- Unlogged: nothing here outlives a transaction.
CREATE UNLOGGED TABLE record_key_claims (
    institution text NOT NULL,
    kind        text NOT NULL,
    value       text NOT NULL,
    PRIMARY KEY (institution, kind, value)
);
