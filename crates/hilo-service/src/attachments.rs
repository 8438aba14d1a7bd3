//! Attachments: uploads streamed into the object store, images cleaned of their metadata
//! and given a thumbnail, downloads only for those allowed, and the sweeps that remove
//! what nobody may read any more.
//!
//! The bytes live in an [`ObjectStore`] (a folder of the data dir, or an S3 bucket) under
//! `attachments/<id>` and `thumbnails/<id>`; the store keeps the record and decides who
//! may read it. An upload is written as it arrives, in parts, so a file never sits whole
//! in memory; only a picture is read back whole (at most the upload limit) to be decoded,
//! stripped of every metadata block by re-encoding its pixels (a photo never says where
//! it was taken) and thumbnailed.

use std::io::Cursor;
use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use hilo_core::attachment::file_name;
use hilo_core::{Attachment, AttachmentId, Timestamp};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStoreExt, PutPayload, WriteMultipart};

use crate::{Caller, Error, Hilo, Result};

/// Largest thumbnail side, in pixels.
pub const THUMBNAIL_MAX: u32 = 320;
/// An upload never put on a message is removed after this long.
pub const ORPHAN_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Largest picture side hilo decodes (a bigger one is refused, not decoded).
const IMAGE_SIDE_MAX: u32 = 20_000;
/// How many bytes the type is sniffed from.
const SNIFF_BYTES: usize = 8 * 1024;

/// What a download streams.
pub struct Download {
    /// The attachment.
    pub attachment: Attachment,
    /// The content type of what is streamed (a thumbnail is always JPEG).
    pub content_type: String,
    /// The bytes of `range`.
    pub body: BoxStream<'static, std::result::Result<Bytes, object_store::Error>>,
    /// Which bytes of the whole are streamed.
    pub range: Range<u64>,
    /// The size of the whole.
    pub total: u64,
}

/// A byte range a client asked for (`Range: bytes=…`), before the size is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// `bytes=a-b` (inclusive).
    Bounded(u64, u64),
    /// `bytes=a-`.
    From(u64),
    /// `bytes=-n`: the last n bytes.
    Last(u64),
}

impl Wanted {
    /// The half-open range of a `total`-byte object this asks for; `None` when none of it
    /// exists (416).
    pub fn resolve(self, total: u64) -> Option<Range<u64>> {
        let range = match self {
            Wanted::Bounded(start, end) => start..end.saturating_add(1).min(total),
            Wanted::From(start) => start..total,
            Wanted::Last(n) => total.saturating_sub(n)..total,
        };
        (range.start < range.end).then_some(range)
    }
}

pub(crate) fn key(id: &AttachmentId) -> Path {
    Path::from(format!("attachments/{id}"))
}

fn thumbnail_key(id: &AttachmentId) -> Path {
    Path::from(format!("thumbnails/{id}"))
}

fn storage(error: object_store::Error) -> Error {
    Error::Store(hilo_store::StoreError::Unavailable(Box::new(error)))
}

impl Hilo {
    /// Stores an upload: streamed into the object store while counted (past the limit:
    /// nothing kept, `TooLarge`), its type sniffed from its first bytes, a picture cleaned
    /// and thumbnailed. The caller can then send it; nobody else can read it until then.
    pub async fn upload_attachment<S, E>(
        &self,
        caller: &Caller,
        name: Option<&str>,
        body: S,
    ) -> Result<Attachment>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        self.store_file(&caller.user.id, name, body).await
    }

    /// [`Hilo::upload_attachment`] for `uploader`, however the file came (an upload, a
    /// mail's attachment).
    pub(crate) async fn store_file<S, E>(
        &self,
        uploader: &hilo_core::UserId,
        name: Option<&str>,
        mut body: S,
    ) -> Result<Attachment>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let max = self.inner.config.attachment_max_bytes;
        let id = AttachmentId::new(self.inner.ids.new_id());
        let blobs = &self.inner.blobs;
        let upload = blobs.put_multipart(&key(&id)).await.map_err(storage)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, 5 * 1024 * 1024);
        let mut head: Vec<u8> = Vec::with_capacity(SNIFF_BYTES);
        let mut size: u64 = 0;
        let failure = loop {
            let chunk = match body.next().await {
                None => break None,
                Some(Ok(chunk)) => chunk,
                Some(Err(error)) => break Some(body_error(&error)),
            };
            size += chunk.len() as u64;
            if size > max {
                break Some(too_large(max));
            }
            if head.len() < SNIFF_BYTES {
                let take = (SNIFF_BYTES - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            if let Err(error) = writer.wait_for_capacity(4).await {
                break Some(storage(error));
            }
            writer.put(chunk);
        };
        let failure = failure
            .or_else(|| (size == 0).then(|| Error::bad_request("empty_file", "the file is empty")));
        if let Some(failure) = failure {
            let _ = writer.abort().await;
            return Err(failure);
        }
        writer.finish().await.map_err(storage)?;

        let mut attachment = Attachment {
            id: id.clone(),
            uploader: uploader.clone(),
            name: file_name(name),
            content_type: sniff(&head),
            size: size as i64,
            width: None,
            height: None,
            has_thumbnail: false,
            created_at: self.inner.clock.now(),
        };
        if let Err(error) = self.clean_picture(&mut attachment).await {
            let _ = blobs.delete(&key(&id)).await;
            let _ = blobs.delete(&thumbnail_key(&id)).await;
            return Err(error);
        }
        if let Err(error) = self.inner.store.create_attachment(&attachment).await {
            let _ = blobs.delete(&key(&id)).await;
            let _ = blobs.delete(&thumbnail_key(&id)).await;
            return Err(error.into());
        }
        Ok(attachment)
    }

    /// For a picture: replaces the stored bytes with the pixels re-encoded (no EXIF, XMP,
    /// comments or anything else survives; the orientation is applied to the pixels) and
    /// stores a thumbnail. A picture type hilo cannot re-encode is refused, since it could
    /// carry a location.
    async fn clean_picture(&self, attachment: &mut Attachment) -> Result<()> {
        let format = match attachment.content_type.as_str() {
            "image/jpeg" => image::ImageFormat::Jpeg,
            "image/png" => image::ImageFormat::Png,
            "image/webp" => image::ImageFormat::WebP,
            "image/gif" => image::ImageFormat::Gif,
            // SVG is markup, not pixels: kept as a file, served only as a download.
            other if other.starts_with("image/") && other != "image/svg+xml" => {
                return Err(Error::UnsupportedMedia {
                    code: "unsupported_image",
                    message: format!(
                        "{other} pictures cannot be cleaned of their metadata here; send JPEG, PNG, WebP or GIF"
                    ),
                });
            }
            _ => return Ok(()),
        };
        let blobs = &self.inner.blobs;
        let original = blobs
            .get(&key(&attachment.id))
            .await
            .map_err(storage)?
            .bytes()
            .await
            .map_err(storage)?;
        let cleaned = tokio::task::spawn_blocking(move || clean(&original, format))
            .await
            .map_err(|e| Error::Store(hilo_store::StoreError::Other(e.into())))?
            .map_err(|e| {
                Error::bad_request("invalid_image", format!("the picture cannot be read: {e}"))
            })?;
        if let Some(bytes) = cleaned.bytes {
            attachment.size = bytes.len() as i64;
            blobs
                .put(&key(&attachment.id), PutPayload::from(bytes))
                .await
                .map_err(storage)?;
        }
        blobs
            .put(
                &thumbnail_key(&attachment.id),
                PutPayload::from(cleaned.thumbnail),
            )
            .await
            .map_err(storage)?;
        attachment.width = Some(i64::from(cleaned.width));
        attachment.height = Some(i64::from(cleaned.height));
        attachment.has_thumbnail = true;
        Ok(())
    }

    /// Opens an attachment (or its thumbnail) the caller may read, streaming `wanted` of
    /// it (all of it when `None`). `NotFound` for anyone else, as for an unknown id.
    /// `Ok(Err(total))` when the range lies outside the object (416).
    pub async fn download(
        &self,
        caller: &Caller,
        id: &AttachmentId,
        thumbnail: bool,
        wanted: Option<Wanted>,
    ) -> Result<std::result::Result<Download, u64>> {
        let attachment = self
            .inner
            .store
            .attachment_for(id, &caller.user.id)
            .await?
            .ok_or(Error::NotFound("attachment"))?;
        let (location, content_type) = if thumbnail {
            if !attachment.has_thumbnail {
                return Err(Error::NotFound("thumbnail"));
            }
            (thumbnail_key(id), "image/jpeg".to_owned())
        } else {
            (key(id), attachment.content_type.clone())
        };
        let blobs = &self.inner.blobs;
        let total = match blobs.head(&location).await {
            Ok(meta) => meta.size,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::NotFound("attachment"));
            }
            Err(error) => return Err(storage(error)),
        };
        let range = match wanted {
            None => 0..total,
            Some(wanted) => match wanted.resolve(total) {
                Some(range) => range,
                None => return Ok(Err(total)),
            },
        };
        let options = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            ..GetOptions::default()
        };
        let result = blobs.get_opts(&location, options).await.map_err(storage)?;
        Ok(Ok(Download {
            attachment,
            content_type,
            body: result.into_stream().boxed(),
            range,
            total,
        }))
    }

    /// Removes what nobody may read any more: uploads never sent within [`ORPHAN_TTL`],
    /// and attachments whose last message was deleted for everyone. Their records are
    /// marked first (so no send can pick them up), then the bytes go, then the records.
    pub async fn sweep_attachments(&self) -> Result<usize> {
        let now = self.inner.clock.now();
        let cutoff = Timestamp(now.millis() - ORPHAN_TTL.as_millis() as i64);
        self.inner.store.doom_orphans(cutoff, now).await?;
        let mut removed = 0;
        loop {
            let doomed = self.inner.store.doomed_attachments(100).await?;
            if doomed.is_empty() {
                return Ok(removed);
            }
            for id in doomed {
                for location in [key(&id), thumbnail_key(&id)] {
                    match self.inner.blobs.delete(&location).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(error) => return Err(storage(error)),
                    }
                }
                self.inner.store.forget_attachment(&id).await?;
                removed += 1;
            }
        }
    }

    /// Sweeps every `every` for as long as the service lives (see
    /// [`Hilo::sweep_attachments`]).
    pub fn sweep_attachments_every(&self, every: Duration) {
        self.every(
            every,
            "attachment sweep failed; retrying next time",
            |hilo| async move { hilo.sweep_attachments().await },
        );
    }

    /// Runs a sweep now, in the background (after a delete for everyone, so the bytes go
    /// at once rather than at the next tick).
    pub(crate) fn sweep_soon(&self) {
        let hilo = self.clone();
        tokio::spawn(async move {
            if let Err(error) = hilo.sweep_attachments().await {
                tracing::warn!(%error, "attachment sweep failed; the periodic one retries");
            }
        });
    }
}

fn too_large(max: u64) -> Error {
    Error::TooLarge {
        code: "attachment_too_large",
        message: format!("an attachment has at most {max} bytes"),
    }
}

fn body_error(error: &impl std::fmt::Display) -> Error {
    Error::bad_request("invalid_upload", format!("the upload broke off: {error}"))
}

/// The type of a file from its first bytes: what the bytes say, never what the client
/// claimed. Text is told apart from binary, and markup (HTML, SVG, XML) from plain text,
/// so active content is known as such.
pub fn sniff(head: &[u8]) -> String {
    // Binary formats by their magic numbers; text (infer calls `<?xml` text/xml, even an
    // SVG) is classified below, where markup is told apart.
    if let Some(kind) = infer::get(head)
        && !kind.mime_type().starts_with("text/")
    {
        return kind.mime_type().to_owned();
    }
    // A multi-byte character may be cut at the end of the sniffed bytes.
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(error) if error.error_len().is_none() => {
            std::str::from_utf8(&head[..error.valid_up_to()]).unwrap_or("")
        }
        Err(_) => return "application/octet-stream".to_owned(),
    };
    if text.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return "application/octet-stream".to_owned();
    }
    let start = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .to_ascii_lowercase();
    if start.starts_with('<') {
        if start.contains("<svg") {
            return "image/svg+xml".to_owned();
        }
        if start.starts_with("<?xml") && !start.contains("<html") {
            return "application/xml".to_owned();
        }
        return "text/html".to_owned();
    }
    if start.contains("<script") || start.contains("<html") || start.contains("<svg") {
        return "text/html".to_owned();
    }
    "text/plain; charset=utf-8".to_owned()
}

/// A cleaned picture: new bytes (none when the original stays, an animated GIF), its
/// size and a JPEG thumbnail.
struct Cleaned {
    bytes: Option<Vec<u8>>,
    width: u32,
    height: u32,
    thumbnail: Vec<u8>,
}

fn clean(original: &[u8], format: image::ImageFormat) -> image::ImageResult<Cleaned> {
    use image::{DynamicImage, ImageDecoder, ImageEncoder};
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(IMAGE_SIDE_MAX);
    limits.max_image_height = Some(IMAGE_SIDE_MAX);
    let mut reader = image::ImageReader::with_format(Cursor::new(original), format);
    reader.limits(limits);
    let mut decoder = reader.into_decoder()?;
    let orientation = decoder.orientation()?;
    let mut picture = DynamicImage::from_decoder(decoder)?;
    picture.apply_orientation(orientation);
    let (width, height) = (picture.width(), picture.height());
    let bytes = match format {
        // GIF has no EXIF; re-encoding would flatten an animation. Kept as sent.
        image::ImageFormat::Gif => None,
        image::ImageFormat::Jpeg => {
            let mut out = Vec::new();
            let rgb = DynamicImage::ImageRgb8(picture.to_rgb8());
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90).write_image(
                rgb.as_bytes(),
                width,
                height,
                rgb.color().into(),
            )?;
            Some(out)
        }
        image::ImageFormat::WebP => {
            let mut out = Vec::new();
            let rgba = DynamicImage::ImageRgba8(picture.to_rgba8());
            image::codecs::webp::WebPEncoder::new_lossless(&mut out).write_image(
                rgba.as_bytes(),
                width,
                height,
                rgba.color().into(),
            )?;
            Some(out)
        }
        _ => {
            let mut out = Cursor::new(Vec::new());
            picture.write_to(&mut out, image::ImageFormat::Png)?;
            Some(out.into_inner())
        }
    };
    let small = picture.thumbnail(THUMBNAIL_MAX, THUMBNAIL_MAX);
    let mut thumbnail = Vec::new();
    let flat = DynamicImage::ImageRgb8(on_white(&small));
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut thumbnail, 80).write_image(
        flat.as_bytes(),
        flat.width(),
        flat.height(),
        flat.color().into(),
    )?;
    Ok(Cleaned {
        bytes,
        width,
        height,
        thumbnail,
    })
}

/// The picture over a white background (a JPEG thumbnail has no transparency).
fn on_white(picture: &image::DynamicImage) -> image::RgbImage {
    let rgba = picture.to_rgba8();
    image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let blend =
            |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        image::Rgb([blend(r), blend(g), blend(b)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(sniff(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(
            sniff("hola, ¿qué tal?".as_bytes()),
            "text/plain; charset=utf-8"
        );
        assert_eq!(sniff(b"  <!DOCTYPE html><p>hi"), "text/html");
        assert_eq!(
            sniff(b"<?xml version='1.0'?><svg xmlns='x'>"),
            "image/svg+xml"
        );
        assert_eq!(sniff(b"<?xml version='1.0'?><a/>"), "application/xml");
        assert_eq!(sniff(b"hello <script>alert(1)</script>"), "text/html");
        assert_eq!(sniff(b"\0\x01\x02binary"), "application/octet-stream");
        // A character cut by the sniffing window is still text.
        assert_eq!(sniff(&"ñ".as_bytes()[..1]), "text/plain; charset=utf-8");
    }

    #[test]
    fn ranges_resolve_against_the_size() {
        assert_eq!(Wanted::Bounded(0, 9).resolve(100), Some(0..10));
        assert_eq!(Wanted::Bounded(90, 200).resolve(100), Some(90..100));
        assert_eq!(Wanted::From(50).resolve(100), Some(50..100));
        assert_eq!(Wanted::Last(10).resolve(100), Some(90..100));
        assert_eq!(Wanted::Last(500).resolve(100), Some(0..100));
        assert_eq!(Wanted::From(100).resolve(100), None);
        assert_eq!(Wanted::Bounded(5, 2).resolve(100), None);
        assert_eq!(Wanted::Last(0).resolve(100), None);
    }
}
