//! What users teach the spam filter, and the sender behaviour it weighs.

use async_trait::async_trait;
use hilo_core::spam::{Behaviour, Counts};
use hilo_core::{Timestamp, UserId};
use hilo_store::sql::Columns as _;
use hilo_store::{SpamStore, StoreResult};
use rusqlite::params;

use crate::db::{all, execute, scalar};
use crate::{SqliteStore, rows};

#[async_trait]
impl SpamStore for SqliteStore {
    async fn learned(&self, features: &[String]) -> StoreResult<Counts> {
        let wanted = crate::db::json_list(features.iter().map(String::as_str));
        in_reader!(self, (wanted), conn => {
            let rows = all(
                conn,
                concat!(
                    "SELECT feature, spam, ham FROM spam_features WHERE feature = '' OR ",
                    id_in!("feature", "?1")
                ),
                [wanted.as_str()],
                |row| Ok((row.text("feature")?, row.int("spam")?, row.int("ham")?)),
            )?;
            Ok(hilo_store::sql::spam_counts(rows))
        })
    }

    async fn teach(&self, lessons: Vec<Vec<String>>, spam: bool) -> StoreResult<()> {
        let (s, h) = if spam { (1_i64, 0_i64) } else { (0, 1) };
        in_writer!(self, (), conn => {
            for features in &lessons {
                execute(conn, rows::TEACH_FEATURE, params!["", s, h])?;
                for feature in features {
                    execute(conn, rows::TEACH_FEATURE, params![feature, s, h])?;
                }
            }
            Ok(())
        })
    }

    async fn behaviour(
        &self,
        sender: &UserId,
        text: &str,
        hour_ago: Timestamp,
        day_ago: Timestamp,
    ) -> StoreResult<Behaviour> {
        in_reader!(self, (sender, text), conn => Ok(Behaviour {
            new_conversations_last_hour: scalar(conn, rows::OPENED_SINCE, params![sender.as_str(), hour_ago.millis()])?.unwrap_or(0),
            same_text_recipients_last_day: scalar(conn, rows::SAME_TEXT_SINCE, params![sender.as_str(), day_ago.millis(), text])?.unwrap_or(0),
        }))
    }
}
