-- Example tables for examples/ (run by the postgres image on its first start, in the billing database).
-- invoices: read by examples/nightly-report.sh; audit: written by examples/borrow-transaction.sh and
-- examples/borrow_transaction.py.
CREATE TABLE invoices (
    id       serial PRIMARY KEY,
    customer text NOT NULL,
    amount   numeric(10,2) NOT NULL
);
INSERT INTO invoices (customer, amount) VALUES ('acme', 120.50), ('acme', 99.50), ('globex', 99.99);

CREATE TABLE audit (
    id     serial PRIMARY KEY,
    actor  text,
    amount numeric(10,2),
    note   text,
    at     timestamptz NOT NULL DEFAULT now()
);
