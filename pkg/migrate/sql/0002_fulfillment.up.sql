-- Fulfillment: users, physical items and loans (Loan Anonymization's population).

CREATE TABLE users (
    id           bigserial PRIMARY KEY,
    institution  text NOT NULL,
    primary_id   text NOT NULL,
    full_name    text NOT NULL,
    stat_category text NOT NULL DEFAULT '',
    UNIQUE (institution, primary_id)
);

CREATE TABLE items (
    id          bigserial PRIMARY KEY,
    institution text NOT NULL,
    barcode     text NOT NULL,
    title       text NOT NULL,
    UNIQUE (institution, barcode)
);

-- A loan keeps its item, dates and an anonymized statistics category after
-- anonymization; user_id is what anonymization removes.
CREATE TABLE loans (
    id            bigserial PRIMARY KEY,
    institution   text NOT NULL,
    item_id       bigint NOT NULL REFERENCES items (id),
    user_id       bigint REFERENCES users (id),
    loan_date     timestamptz NOT NULL,
    due_date      timestamptz NOT NULL,
    return_date   timestamptz,
    stat_category text NOT NULL DEFAULT '',
    anonymized_at timestamptz
);
CREATE INDEX loans_patron_linked ON loans (institution, id) WHERE user_id IS NOT NULL;
