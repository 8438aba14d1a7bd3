-- hilo schema, version 23: a text whose send may have reached the provider unanswered.
--
-- `unsure_at` is when a try was handed over whose answer was lost (timed out, cut off,
-- a 5xx): the provider may hold the text. Every later try looks for it at the provider
-- before sending, so a lost answer does not make a second text.
ALTER TABLE outbound_mail ADD COLUMN unsure_at INTEGER;
