//! "Download your data": one zip archive of everything the caller's account holds or can
//! read — profile, sessions, friends, blocks, security log, every conversation they are in
//! with all the history they can see, and the files they sent.
//!
//! The data is gathered through the same reads the API serves (so the archive holds
//! exactly what the caller may see) and written by a blocking thread into an unnamed
//! temporary file, which the caller streams out; nothing of it stays on disk once the
//! file is closed.

use std::io::{Seek, Write};

use futures::TryStreamExt;
use hilo_core::{AttachmentId, Folder};
use hilo_proto::{AuditEventDto, ConversationDto, MeDto, MessageDto, SessionDto, rfc3339};
use serde_json::json;

use crate::{Caller, Error, Hilo, Result};

/// Exports one person may start per hour.
const EXPORTS_PER_HOUR: u32 = 5;
/// Rows read per page while gathering.
const PAGE: i64 = 200;

/// A finished archive: an unnamed temporary file, at its start.
#[derive(Debug)]
pub struct Export {
    /// The zip file.
    pub file: std::fs::File,
    /// Its size in bytes.
    pub size: u64,
    /// A file name for it.
    pub name: String,
}

/// One entry of the archive.
struct Entry {
    path: String,
    bytes: Vec<u8>,
    /// Compress (JSON) or store (files, mostly compressed already).
    deflate: bool,
}

fn json_entry(path: String, value: &serde_json::Value) -> Entry {
    Entry {
        path,
        bytes: serde_json::to_vec_pretty(value).unwrap_or_default(),
        deflate: true,
    }
}

/// An attachment's name as a path segment: no separators, no dot-only names, no control
/// characters.
fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | ':') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if cleaned.trim_matches('.').trim().is_empty() {
        "file".to_owned()
    } else {
        cleaned
    }
}

fn storage(error: impl std::fmt::Display) -> Error {
    Error::Store(hilo_store::StoreError::Other(error.to_string().into()))
}

/// Writes entries as they arrive into a zip in an unnamed temporary file.
fn write_archive(
    mut entries: tokio::sync::mpsc::Receiver<Entry>,
) -> std::io::Result<(std::fs::File, u64)> {
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(tempfile::tempfile()?);
    while let Some(entry) = entries.blocking_recv() {
        let method = if entry.deflate {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(entry.bytes.len() > u32::MAX as usize);
        zip.start_file(entry.path, options)
            .map_err(std::io::Error::other)?;
        zip.write_all(&entry.bytes)?;
    }
    let mut file = zip.finish().map_err(std::io::Error::other)?;
    let size = file.stream_position()?;
    file.rewind()?;
    Ok((file, size))
}

impl Hilo {
    /// Builds the caller's archive (at most five an hour).
    pub async fn export(&self, caller: &Caller) -> Result<Export> {
        let key = format!("export:{}", caller.user.id);
        self.within(key, EXPORTS_PER_HOUR, 3600 * 1000, "exports")
            .await?;
        // A bounded channel whose sender waits asynchronously: a slow disk holds up the
        // gathering, never a runtime thread.
        let (sender, receiver) = tokio::sync::mpsc::channel::<Entry>(4);
        let writer = tokio::task::spawn_blocking(move || write_archive(receiver));
        let gathered = self.gather(caller, &sender).await;
        drop(sender);
        let written = writer.await.map_err(storage)?;
        gathered?;
        let (file, size) = written.map_err(storage)?;
        let date = rfc3339(self.inner.clock.now());
        Ok(Export {
            file,
            size,
            name: format!("hilo-{}-{}.zip", caller.user.username, &date[..10]),
        })
    }

    /// Sends every entry of the caller's archive to the writer.
    async fn gather(&self, caller: &Caller, out: &tokio::sync::mpsc::Sender<Entry>) -> Result<()> {
        let send = async |entry: Entry| {
            out.send(entry)
                .await
                .map_err(|_| storage("the archive writer stopped"))
        };
        let me = self.me(caller).await?;
        let mail_domain = &self.inner.config.mail_domain;
        send(json_entry(
            "profile.json".into(),
            &json!(MeDto::new(&me, mail_domain)),
        ))
        .await?;

        let sessions: Vec<SessionDto> = self
            .sessions(caller)
            .await?
            .iter()
            .map(|s| SessionDto::new(s, s.id == caller.session_id))
            .collect();
        send(json_entry("sessions.json".into(), &json!(sessions))).await?;

        let friends: Vec<serde_json::Value> = self
            .friends(caller)
            .await?
            .iter()
            .map(|(profile, since)| {
                json!({"username": profile.user.username, "display_name": profile.user.display_name, "since": rfc3339(*since)})
            })
            .collect();
        send(json_entry("friends.json".into(), &json!(friends))).await?;
        let blocks = self.blocks(caller).await?;
        let blocked: Vec<&str> = blocks.iter().map(|p| p.user.username.as_str()).collect();
        send(json_entry("blocked.json".into(), &json!(blocked))).await?;
        let addresses: Vec<_> = self
            .blocked_addresses(caller)
            .await?
            .into_iter()
            .map(|b| json!({"address": b.address, "blocked_at": rfc3339(b.created_at), "dropped": b.dropped}))
            .collect();
        send(json_entry(
            "blocked-addresses.json".into(),
            &json!(addresses),
        ))
        .await?;
        let emails: Vec<_> = self
            .emails(caller)
            .await?
            .into_iter()
            .map(|e| json!({"address": e.address, "added_at": rfc3339(e.created_at), "verified_at": e.verified_at.map(rfc3339)}))
            .collect();
        send(json_entry("emails.json".into(), &json!(emails))).await?;

        let mut audit = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let page = self.my_audit(caller, before.as_deref(), PAGE).await?;
            let full = page.len() as i64 == PAGE;
            before = page.last().map(|e| e.id.clone());
            audit.extend(page.into_iter().map(|e| AuditEventDto {
                id: e.id,
                kind: e.kind,
                at: rfc3339(e.at),
                ip: e.ip,
                device: e.device,
                detail: e.detail,
                username: None,
                actor_id: e.actor_id.map(|id| id.to_string()),
            }));
            if !full {
                break;
            }
        }
        send(json_entry("security-log.json".into(), &json!(audit))).await?;

        let mut files: Vec<(AttachmentId, String)> = Vec::new();
        for folder in [
            Folder::Inbox,
            Folder::Requests,
            Folder::Archived,
            Folder::Spam,
        ] {
            let mut cursor: Option<String> = None;
            loop {
                let (views, next) = self
                    .conversations(caller, folder.as_str(), cursor.as_deref(), PAGE)
                    .await?;
                for view in &views {
                    let id = view.conversation.id.clone();
                    let mut messages = Vec::new();
                    let mut after = 0;
                    loop {
                        let page = self.messages(caller, &id, None, Some(after), PAGE).await?;
                        after = page.messages.last().map_or(after, |m| m.seq);
                        for message in &page.messages {
                            let sent_by_caller = matches!(&message.sender, Some(hilo_core::Party::User { id, .. }) if *id == caller.user.id);
                            for attachment in &message.attachments {
                                if sent_by_caller && attachment.uploader == caller.user.id {
                                    files.push((attachment.id.clone(), attachment.name.clone()));
                                }
                            }
                        }
                        messages.extend(page.messages.iter().map(MessageDto::from));
                        if !page.has_more || page.messages.is_empty() {
                            break;
                        }
                    }
                    let document = json!({
                        "conversation": ConversationDto::from(view),
                        "messages": messages,
                    });
                    send(json_entry(format!("conversations/{id}.json"), &document)).await?;
                }
                match next {
                    Some(next) if !views.is_empty() => cursor = Some(next),
                    _ => break,
                }
            }
        }

        files.sort();
        files.dedup();
        for (id, name) in files {
            let download = match self.download(caller, &id, false, None).await? {
                Ok(download) => download,
                Err(_) => continue,
            };
            let bytes: Vec<u8> = download
                .body
                .map_ok(|chunk| chunk.to_vec())
                .try_concat()
                .await
                .map_err(storage)?;
            send(Entry {
                path: format!("files/{id}/{}", safe_name(&name)),
                bytes,
                deflate: false,
            })
            .await?;
        }
        send(Entry {
            path: "README.txt".into(),
            bytes: README.as_bytes().to_vec(),
            deflate: true,
        })
        .await?;
        Ok(())
    }
}

const README: &str = "Your data on hilo\n\
\n\
profile.json       your account and settings\n\
sessions.json      the devices logged in to your account\n\
friends.json       your friends, and since when\n\
blocked.json       the people you block\n\
blocked-addresses.json  the email addresses you block, and how many mails each sent since\n\
emails.json        your own email addresses elsewhere, and when you proved them yours\n\
security-log.json  logins, failed logins and other security events of your account\n\
conversations/     one file per conversation you are in: the conversation, and every\n\
                   message of it you can see, oldest first, as the API gives them\n\
files/             the files you sent, by attachment id\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_names_cannot_leave_their_folder() {
        assert_eq!(safe_name("photo.jpg"), "photo.jpg");
        assert_eq!(safe_name("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(safe_name(".."), "file");
        assert_eq!(safe_name(""), "file");
        assert_eq!(safe_name("a\\b\u{0}c"), "a_b_c");
    }
}
