-- Set in the same transaction as the write an Idempotency-Key guards: a key
-- whose request was applied is never run again, even when its answer was lost.
ALTER TABLE idempotency_keys ADD COLUMN applied boolean NOT NULL DEFAULT false;
