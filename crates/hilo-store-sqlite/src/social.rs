//! Friendships, friend requests and blocks: write bodies run on the single writer, reads
//! are the shared queries of `rows`.

use async_trait::async_trait;
use hilo_core::{EventKind, EventRecord, FriendRequestResult, Relation, Timestamp, User, UserId};
use hilo_store::sql;
use hilo_store::{Delivery, Since, SocialStore, StoreError, StoreResult};
use rusqlite::{Connection, params};

use crate::db::{all, column, execute, one, scalar};
use crate::{SqliteStore, events, rows};

fn relation(conn: &Connection, viewer: &UserId, other: &UserId) -> StoreResult<Relation> {
    one(
        conn,
        rows::RELATION,
        [viewer.as_str(), other.as_str()],
        |row| sql::relation(row),
    )?
    .ok_or(StoreError::NotFound)
}

/// Appends an event about `subject` to `user`'s stream.
fn tell(
    conn: &Connection,
    user: &UserId,
    kind: EventKind,
    subject: &UserId,
    number: Option<i64>,
    now: Timestamp,
) -> StoreResult<Vec<Delivery>> {
    let mut record = EventRecord::new(kind);
    record.subject_user_id = Some(subject.clone());
    record.number = number;
    events::append(conn, std::slice::from_ref(user), &record, now)
}

/// Ends a friendship or a request between `user` and `other` as `user` asks; see
/// [`SocialStore::remove_friend`].
fn end_relation(
    conn: &Connection,
    user: &UserId,
    other: &UserId,
    relation: &Relation,
    now: Timestamp,
) -> StoreResult<Vec<Delivery>> {
    let tell_other = if relation.friends {
        execute(conn, rows::DELETE_FRIENDS, [user.as_str(), other.as_str()])?;
        true
    } else if relation.request_sent {
        execute(
            conn,
            rows::DELETE_FRIEND_REQUEST,
            [user.as_str(), other.as_str()],
        )?;
        true
    } else if relation.request_received {
        execute(
            conn,
            rows::DECLINE_FRIEND_REQUEST,
            params![now.millis(), other.as_str(), user.as_str()],
        )?;
        false
    } else {
        return Ok(Vec::new());
    };
    let mut deliveries = tell(conn, user, EventKind::FriendRemoved, other, None, now)?;
    if tell_other {
        deliveries.extend(tell(
            conn,
            other,
            EventKind::FriendRemoved,
            user,
            None,
            now,
        )?);
    }
    Ok(deliveries)
}

fn request_friend(
    conn: &Connection,
    from: &UserId,
    to: &UserId,
    now: Timestamp,
) -> StoreResult<(FriendRequestResult, Vec<Delivery>)> {
    let relation = relation(conn, from, to)?;
    if relation.blocking || relation.blocked_by {
        return Ok((FriendRequestResult::Blocked, Vec::new()));
    }
    if relation.friends {
        return Ok((FriendRequestResult::AlreadyFriends, Vec::new()));
    }
    // Asking someone who had asked (even if declined then) makes friends.
    if relation.request_received || relation.declined {
        execute(
            conn,
            rows::DELETE_FRIEND_REQUEST,
            [to.as_str(), from.as_str()],
        )?;
        // A request of one's own that they had not answered goes too.
        execute(
            conn,
            rows::DELETE_FRIEND_REQUEST,
            [from.as_str(), to.as_str()],
        )?;
        execute(
            conn,
            rows::INSERT_FRIENDS,
            params![from.as_str(), to.as_str(), now.millis()],
        )?;
        let mut deliveries = tell(conn, to, EventKind::FriendAccepted, from, None, now)?;
        deliveries.extend(tell(conn, from, EventKind::FriendAccepted, to, None, now)?);
        return Ok((FriendRequestResult::Accepted, deliveries));
    }
    if relation.request_sent {
        return Ok((FriendRequestResult::AlreadySent, Vec::new()));
    }
    execute(
        conn,
        rows::INSERT_FRIEND_REQUEST,
        params![from.as_str(), to.as_str(), now.millis()],
    )?;
    let mut deliveries = tell(conn, to, EventKind::FriendRequest, from, Some(1), now)?;
    deliveries.extend(tell(
        conn,
        from,
        EventKind::FriendRequest,
        to,
        Some(0),
        now,
    )?);
    Ok((FriendRequestResult::Sent, deliveries))
}

fn block(
    conn: &Connection,
    blocker: &UserId,
    blocked: &UserId,
    now: Timestamp,
) -> StoreResult<Vec<Delivery>> {
    let relation = relation(conn, blocker, blocked)?;
    let inserted = execute(
        conn,
        rows::INSERT_BLOCK,
        params![blocker.as_str(), blocked.as_str(), now.millis()],
    )?;
    if inserted == 0 {
        return Ok(Vec::new());
    }
    // A friendship or request ends as if the blocker had removed it (a request from the
    // blocked person is declined without telling them).
    let mut deliveries = end_relation(conn, blocker, blocked, &relation, now)?;
    deliveries.extend(tell(
        conn,
        blocker,
        EventKind::BlockUpdated,
        blocked,
        Some(1),
        now,
    )?);
    Ok(deliveries)
}

fn unblock(
    conn: &Connection,
    blocker: &UserId,
    blocked: &UserId,
    now: Timestamp,
) -> StoreResult<Vec<Delivery>> {
    if execute(
        conn,
        rows::DELETE_BLOCK,
        [blocker.as_str(), blocked.as_str()],
    )? == 0
    {
        return Ok(Vec::new());
    }
    tell(
        conn,
        blocker,
        EventKind::BlockUpdated,
        blocked,
        Some(0),
        now,
    )
}

fn people(conn: &Connection, query: &str, user: &UserId) -> StoreResult<Vec<Since>> {
    all(conn, query, [user.as_str()], |row| sql::since(row))
}

#[async_trait]
impl SocialStore for SqliteStore {
    async fn relation(&self, viewer: &UserId, other: &UserId) -> StoreResult<Relation> {
        in_reader!(self, (viewer, other), conn => relation(conn, &viewer, &other))
    }

    async fn request_friend(
        &self,
        from: &UserId,
        to: &UserId,
        now: Timestamp,
    ) -> StoreResult<(FriendRequestResult, Vec<Delivery>)> {
        in_writer!(self, (from, to), conn => request_friend(conn, &from, &to, now))
    }

    async fn remove_friend(
        &self,
        user: &UserId,
        other: &UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>> {
        in_writer!(self, (user, other), conn => {
            let relation = relation(conn, &user, &other)?;
            end_relation(conn, &user, &other, &relation, now)
        })
    }

    async fn friends(&self, user: &UserId) -> StoreResult<Vec<Since>> {
        in_reader!(self, (user), conn => people(conn, rows::FRIENDS, &user))
    }

    async fn friend_requests(&self, user: &UserId) -> StoreResult<(Vec<Since>, Vec<Since>)> {
        in_reader!(self, (user), conn => Ok((
            people(conn, rows::INCOMING_REQUESTS, &user)?,
            people(conn, rows::OUTGOING_REQUESTS, &user)?,
        )))
    }

    async fn block(
        &self,
        blocker: &UserId,
        blocked: &UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>> {
        in_writer!(self, (blocker, blocked), conn => block(conn, &blocker, &blocked, now))
    }

    async fn unblock(
        &self,
        blocker: &UserId,
        blocked: &UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<Delivery>> {
        in_writer!(self, (blocker, blocked), conn => unblock(conn, &blocker, &blocked, now))
    }

    async fn blocked_users(&self, user: &UserId) -> StoreResult<Vec<User>> {
        in_reader!(self, (user), conn => all(conn, rows::BLOCKED_USERS, [user.as_str()], |row| sql::user(row)))
    }

    async fn blockers_of(&self, user: &UserId) -> StoreResult<Vec<UserId>> {
        in_reader!(self, (user), conn => {
            let ids: Vec<String> = column(conn, rows::BLOCKERS_OF, [user.as_str()])?;
            Ok(ids.into_iter().map(UserId::new).collect())
        })
    }

    async fn presence_audience(&self, user: &UserId) -> StoreResult<Vec<UserId>> {
        in_reader!(self, (user), conn => {
            let ids: Vec<String> = column(conn, rows::PRESENCE_AUDIENCE, [user.as_str()])?;
            Ok(ids.into_iter().map(UserId::new).collect())
        })
    }

    async fn count_dropped(&self, blocker: &UserId, sender: &UserId) -> StoreResult<()> {
        in_writer!(self, (blocker, sender), conn => {
            execute(conn, rows::COUNT_DROPPED, [blocker.as_str(), sender.as_str()]).map(|_| ())
        })
    }

    async fn dropped_count(&self, blocker: &UserId, sender: &UserId) -> StoreResult<i64> {
        in_reader!(self, (blocker, sender), conn => {
            Ok(scalar(conn, rows::DROPPED, [blocker.as_str(), sender.as_str()])?.unwrap_or(0))
        })
    }
}
