//! Attachments' records: uploads, who may read them, and the sweeps that retire them.

use async_trait::async_trait;
use hilo_core::{Attachment, AttachmentId, Timestamp, UserId};
use hilo_store::{AttachmentStore, StoreResult};

use crate::{SqliteStore, reads, tx};

#[async_trait]
impl AttachmentStore for SqliteStore {
    async fn create_attachment(&self, attachment: &Attachment) -> StoreResult<()> {
        let attachment = attachment.clone();
        in_writer!(self, (), conn => tx::create_attachment(conn, &attachment))
    }

    async fn attachment_for(
        &self,
        id: &AttachmentId,
        viewer: &UserId,
    ) -> StoreResult<Option<Attachment>> {
        in_reader!(self, (id, viewer), conn => reads::attachment_for(conn, &id, &viewer))
    }

    async fn doom_orphans(&self, cutoff: Timestamp, now: Timestamp) -> StoreResult<u64> {
        in_writer!(self, (), conn => tx::doom_orphans(conn, cutoff, now))
    }

    async fn doomed_attachments(&self, limit: i64) -> StoreResult<Vec<AttachmentId>> {
        in_reader!(self, (), conn => reads::doomed_attachments(conn, limit))
    }

    async fn forget_attachment(&self, id: &AttachmentId) -> StoreResult<()> {
        in_writer!(self, (id), conn => tx::forget_attachment(conn, &id))
    }
}
