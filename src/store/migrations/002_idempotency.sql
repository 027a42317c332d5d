-- Idempotency-Key: the first answer to a request is kept for a day and replayed
-- to retries, so a client retry after a lost answer is applied once.
CREATE TABLE idempotency_keys (
  user_id      integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  key          text NOT NULL,
  request_hash text NOT NULL,
  status_code  integer,
  response     text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
