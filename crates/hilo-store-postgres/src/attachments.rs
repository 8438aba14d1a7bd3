//! Attachments' records: uploads, who may read them, and the sweeps that retire them.

use async_trait::async_trait;
use hilo_core::{Attachment, AttachmentId, Timestamp, UserId};
use hilo_store::{AttachmentStore, StoreResult};

use crate::{PostgresStore, reads, tx};

#[async_trait]
impl AttachmentStore for PostgresStore {
    async fn create_attachment(&self, attachment: &Attachment) -> StoreResult<()> {
        in_transaction!(self, conn => tx::create_attachment(conn, attachment))
    }

    async fn attachment_for(
        &self,
        id: &AttachmentId,
        viewer: &UserId,
    ) -> StoreResult<Option<Attachment>> {
        reads::attachment_for(&self.pool, id, viewer).await
    }

    async fn doom_orphans(&self, cutoff: Timestamp, now: Timestamp) -> StoreResult<u64> {
        in_transaction!(self, conn => tx::doom_orphans(conn, cutoff, now))
    }

    async fn doomed_attachments(&self, limit: i64) -> StoreResult<Vec<AttachmentId>> {
        reads::doomed_attachments(&self.pool, limit).await
    }

    async fn forget_attachment(&self, id: &AttachmentId) -> StoreResult<()> {
        in_transaction!(self, conn => tx::forget_attachment(conn, id))
    }
}
