//! Attachments: files people upload and then send on messages. The bytes live in an object
//! store; what is here is what the server knows about them and the rules for serving them.

use crate::{AttachmentId, Timestamp, UserId};

/// An uploaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Identifier (also its key in the object store).
    pub id: AttachmentId,
    /// Who uploaded it.
    pub uploader: UserId,
    /// The file name the uploader gave (cleaned).
    pub name: String,
    /// The type sniffed from the bytes, never the one the client claimed.
    pub content_type: String,
    /// Size in bytes, as stored.
    pub size: i64,
    /// Pixel width, for images.
    pub width: Option<i64>,
    /// Pixel height, for images.
    pub height: Option<i64>,
    /// A server-made thumbnail exists.
    pub has_thumbnail: bool,
    /// Upload time.
    pub created_at: Timestamp,
}

/// Longest file name kept, in characters.
pub const FILE_NAME_MAX: usize = 255;

/// The name to keep for an uploaded file: the last path component of what the client
/// sent, without control or invisible formatting characters, at most 255 characters;
/// `file` when nothing is left.
pub fn file_name(given: Option<&str>) -> String {
    let base = given.unwrap_or("").rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !crate::validate::is_invisible_format(*c))
        .take(FILE_NAME_MAX)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        "file".to_owned()
    } else {
        cleaned.to_owned()
    }
}

/// Types a browser may show inline without running anything: pictures, sound, video and
/// plain text. Everything else (HTML, SVG, XML, PDF, scripts, unknown bytes) is only ever
/// served as a download.
pub fn shown_inline(content_type: &str) -> bool {
    const INLINE: &[&str] = &[
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "video/mp4",
        "video/webm",
        "video/quicktime",
        "audio/mpeg",
        "audio/ogg",
        "audio/mp4",
        "audio/x-m4a",
        "audio/webm",
        "audio/wav",
        "audio/x-wav",
        "audio/aac",
        "text/plain; charset=utf-8",
    ];
    INLINE.contains(&content_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_paths_and_control_characters() {
        assert_eq!(file_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(file_name(Some("C:\\fotos\\playa.jpg")), "playa.jpg");
        assert_eq!(file_name(Some("a\u{202e}gpj.exe")), "agpj.exe");
        assert_eq!(file_name(Some("..")), "file");
        assert_eq!(file_name(None), "file");
        assert_eq!(
            file_name(Some(&"x".repeat(300))).chars().count(),
            FILE_NAME_MAX
        );
    }

    #[test]
    fn only_passive_types_show_inline() {
        assert!(shown_inline("image/png"));
        for active in [
            "text/html",
            "image/svg+xml",
            "application/pdf",
            "application/octet-stream",
            "text/xml",
        ] {
            assert!(!shown_inline(active), "{active}");
        }
    }
}
