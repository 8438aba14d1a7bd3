//! What users teach the spam filter, and the sender behaviour it weighs.

use async_trait::async_trait;
use hilo_core::spam::{Behaviour, Counts};
use hilo_core::{Timestamp, UserId};
use hilo_store::{SpamStore, StoreResult};

use crate::{PostgresStore, db_error, rows};

#[async_trait]
impl SpamStore for PostgresStore {
    async fn learned(&self, features: &[String]) -> StoreResult<Counts> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT feature, spam, ham FROM spam_features WHERE feature = '' OR feature = ANY($1)",
        )
        .bind(features)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(hilo_store::sql::spam_counts(rows))
    }

    async fn teach(&self, lessons: Vec<Vec<String>>, spam: bool) -> StoreResult<()> {
        let (s, h) = if spam { (1_i64, 0_i64) } else { (0, 1) };
        let mut tx = self.begin().await?;
        for features in &lessons {
            // Features in a fixed order, so concurrent lessons lock rows in the same order.
            let mut sorted: Vec<&str> = features.iter().map(String::as_str).collect();
            sorted.sort_unstable();
            sorted.insert(0, "");
            for feature in sorted {
                sqlx::query(rows::TEACH_FEATURE)
                    .bind(feature)
                    .bind(s)
                    .bind(h)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
            }
        }
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    async fn behaviour(
        &self,
        sender: &UserId,
        text: &str,
        hour_ago: Timestamp,
        day_ago: Timestamp,
    ) -> StoreResult<Behaviour> {
        let opened: i64 = sqlx::query_scalar(rows::OPENED_SINCE)
            .bind(sender.as_str())
            .bind(hour_ago.millis())
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        let same: i64 = sqlx::query_scalar(rows::SAME_TEXT_SINCE)
            .bind(sender.as_str())
            .bind(day_ago.millis())
            .bind(text)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(Behaviour {
            new_conversations_last_hour: opened,
            same_text_recipients_last_day: same,
        })
    }
}
