//! Friendships, friend requests and blocks: each write one transaction that first locks
//! both people's `users` rows (in id order, as `events::append` would), so a request and
//! the reverse request made at once cannot both wait; reads are the shared queries of
//! `rows`.

use async_trait::async_trait;
use hilo_core::{EventKind, EventRecord, FriendRequestResult, Relation, Timestamp, User, UserId};
use hilo_store::{Delivery, Since, SocialStore, StoreResult};
use sqlx::PgConnection as Conn;

use crate::{PostgresStore, db_error, decode, events, rows};

async fn relation(
    conn: impl sqlx::PgExecutor<'_>,
    viewer: &UserId,
    other: &UserId,
) -> StoreResult<Relation> {
    let row = sqlx::query(rows::RELATION)
        .bind(viewer.as_str())
        .bind(other.as_str())
        .fetch_one(conn)
        .await
        .map_err(db_error)?;
    decode::relation(&row)
}

/// Runs one of the social statements binding two ids (and a time, when given).
async fn run(
    conn: &mut Conn,
    statement: &'static str,
    a: &UserId,
    b: &UserId,
    now: Option<Timestamp>,
) -> StoreResult<u64> {
    let mut query = sqlx::query(statement).bind(a.as_str()).bind(b.as_str());
    if let Some(now) = now {
        query = query.bind(now.millis());
    }
    Ok(query
        .execute(&mut *conn)
        .await
        .map_err(db_error)?
        .rows_affected())
}

/// Locks both people's rows and reads `a`'s relation to `b`.
async fn lock_pair(conn: &mut Conn, a: &UserId, b: &UserId) -> StoreResult<Relation> {
    events::lock_users(conn, &[a.clone(), b.clone()]).await?;
    relation(&mut *conn, a, b).await
}

/// Appends an event about `subject` to `user`'s stream.
async fn tell(
    conn: &mut Conn,
    user: &UserId,
    kind: EventKind,
    subject: &UserId,
    number: Option<i64>,
    now: Timestamp,
) -> StoreResult<Vec<Delivery>> {
    let mut record = EventRecord::new(kind);
    record.subject_user_id = Some(subject.clone());
    record.number = number;
    events::append(conn, std::slice::from_ref(user), &record, now).await
}

/// Ends a friendship or a request between `user` and `other` as `user` asks; see
/// [`SocialStore::remove_friend`].
async fn end_relation(
    conn: &mut Conn,
    user: &UserId,
    other: &UserId,
    relation: &Relation,
    now: Timestamp,
) -> StoreResult<Vec<Delivery>> {
    let tell_other = if relation.friends {
        run(conn, rows::DELETE_FRIENDS, user, other, None).await?;
        true
    } else if relation.request_sent {
        run(conn, rows::DELETE_FRIEND_REQUEST, user, other, None).await?;
        true
    } else if relation.request_received {
        sqlx::query(rows::DECLINE_FRIEND_REQUEST)
            .bind(now.millis())
            .bind(other.as_str())
            .bind(user.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        false
    } else {
        return Ok(Vec::new());
    };
    let mut deliveries = tell(conn, user, EventKind::FriendRemoved, other, None, now).await?;
    if tell_other {
        deliveries.extend(tell(conn, other, EventKind::FriendRemoved, user, None, now).await?);
    }
    Ok(deliveries)
}

async fn request_friend(
    conn: &mut Conn,
    from: &UserId,
    to: &UserId,
    now: Timestamp,
) -> StoreResult<(FriendRequestResult, Vec<Delivery>)> {
    let relation = lock_pair(conn, from, to).await?;
    if relation.blocking || relation.blocked_by {
        return Ok((FriendRequestResult::Blocked, Vec::new()));
    }
    if relation.friends {
        return Ok((FriendRequestResult::AlreadyFriends, Vec::new()));
    }
    // Asking someone who had asked (even if declined then) makes friends.
    if relation.request_received || relation.declined {
        run(conn, rows::DELETE_FRIEND_REQUEST, to, from, None).await?;
        // A request of one's own that they had not answered goes too.
        run(conn, rows::DELETE_FRIEND_REQUEST, from, to, None).await?;
        run(conn, rows::INSERT_FRIENDS, from, to, Some(now)).await?;
        let mut deliveries = tell(conn, to, EventKind::FriendAccepted, from, None, now).await?;
        deliveries.extend(tell(conn, from, EventKind::FriendAccepted, to, None, now).await?);
        return Ok((FriendRequestResult::Accepted, deliveries));
    }
    if relation.request_sent {
        return Ok((FriendRequestResult::AlreadySent, Vec::new()));
    }
    run(conn, rows::INSERT_FRIEND_REQUEST, from, to, Some(now)).await?;
    let mut deliveries = tell(conn, to, EventKind::FriendRequest, from, Some(1), now).await?;
    deliveries.extend(tell(conn, from, EventKind::FriendRequest, to, Some(0), now).await?);
    Ok((FriendRequestResult::Sent, deliveries))
}

async fn block(
    conn: &mut Conn,
    blocker: &UserId,
    blocked: &UserId,
    now: Timestamp,
) -> StoreResult<Vec<Delivery>> {
    let relation = lock_pair(conn, blocker, blocked).await?;
    if run(conn, rows::INSERT_BLOCK, blocker, blocked, Some(now)).await? == 0 {
        return Ok(Vec::new());
    }
    // A friendship or request ends as if the blocker had removed it (a request from the
    // blocked person is declined without telling them).
    let mut deliveries = end_relation(conn, blocker, blocked, &relation, now).await?;
    deliveries.extend(
        tell(
            conn,
            blocker,
            EventKind::BlockUpdated,
            blocked,
            Some(1),
            now,
        )
        .await?,
    );
    Ok(deliveries)
}

async fn people(
    pool: &sqlx::PgPool,
    query: &'static str,
    user: &UserId,
) -> StoreResult<Vec<Since>> {
    let rows = sqlx::query(query)
        .bind(user.as_str())
        .fetch_all(pool)
        .await
        .map_err(db_error)?;
    rows.iter().map(decode::since).collect()
}

#[async_trait]
impl SocialStore for PostgresStore {
    async fn relation(&self, viewer: &UserId, other: &UserId) -> StoreResult<Relation> {
        relation(&self.pool, viewer, other).await
    }

    async fn request_friend(
        &self,
        from: &UserId,
        to: &UserId,
        now: Timestamp,
    ) -> StoreResult<(FriendRequestResult, Vec<Delivery>)> {
        in_transaction!(self, conn => request_friend(conn, from, to, now))
    }

    async fn remove_friend(
        &self,
        user: &UserId,
        other: &UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>> {
        in_transaction!(self, conn => async {
            let relation = lock_pair(conn, user, other).await?;
            end_relation(conn, user, other, &relation, now).await
        })
    }

    async fn friends(&self, user: &UserId) -> StoreResult<Vec<Since>> {
        people(&self.pool, rows::FRIENDS, user).await
    }

    async fn friend_requests(&self, user: &UserId) -> StoreResult<(Vec<Since>, Vec<Since>)> {
        Ok((
            people(&self.pool, rows::INCOMING_REQUESTS, user).await?,
            people(&self.pool, rows::OUTGOING_REQUESTS, user).await?,
        ))
    }

    async fn block(
        &self,
        blocker: &UserId,
        blocked: &UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>> {
        in_transaction!(self, conn => block(conn, blocker, blocked, now))
    }

    async fn unblock(
        &self,
        blocker: &UserId,
        blocked: &UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>> {
        in_transaction!(self, conn => async {
            if run(conn, rows::DELETE_BLOCK, blocker, blocked, None).await? == 0 {
                return Ok(Vec::new());
            }
            tell(conn, blocker, EventKind::BlockUpdated, blocked, Some(0), now).await
        })
    }

    async fn blocked_users(&self, user: &UserId) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(rows::BLOCKED_USERS)
            .bind(user.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(decode::user).collect()
    }

    async fn blockers_of(&self, user: &UserId) -> StoreResult<Vec<UserId>> {
        let ids: Vec<String> = sqlx::query_scalar(rows::BLOCKERS_OF)
            .bind(user.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(ids.into_iter().map(UserId::new).collect())
    }

    async fn presence_audience(&self, user: &UserId) -> StoreResult<Vec<UserId>> {
        let ids: Vec<String> = sqlx::query_scalar(rows::PRESENCE_AUDIENCE)
            .bind(user.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(ids.into_iter().map(UserId::new).collect())
    }

    async fn count_dropped(&self, blocker: &UserId, sender: &UserId) -> StoreResult<()> {
        sqlx::query(rows::COUNT_DROPPED)
            .bind(blocker.as_str())
            .bind(sender.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn dropped_count(&self, blocker: &UserId, sender: &UserId) -> StoreResult<i64> {
        let count: Option<i64> = sqlx::query_scalar(rows::DROPPED)
            .bind(blocker.as_str())
            .bind(sender.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(count.unwrap_or(0))
    }
}
