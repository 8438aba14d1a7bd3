-- hilo schema, version 11: what this server's users taught the spam filter.
--
-- Per feature (see hilo_core::spam), how many messages marked spam and not spam held it;
-- the row with the empty feature counts the messages themselves. These counts are added
-- to the model hilo ships (crates/hilo-core/data/spam-model.tsv).
CREATE TABLE spam_features (
    feature TEXT PRIMARY KEY,
    spam    BIGINT NOT NULL DEFAULT 0,
    ham     BIGINT NOT NULL DEFAULT 0
);

-- A sender's recent messages: the filter's behaviour signals (conversations opened, the
-- same text to many) and search's sender filter.
CREATE INDEX messages_by_sender ON messages(sender_user_id, created_at);
