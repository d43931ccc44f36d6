-- Values the whole installation shares, such as the master-key check.
CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) STRICT;
