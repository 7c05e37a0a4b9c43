//! What instances hear on the invalidation channel, in one place: the channel's name and
//! the three kinds of message. The database announces `key:<digest hex>:<keyspace
//! id>:<key id>` and `verifier:<digest hex>` when a cached row changes (the triggers of
//! migrations 5, 13 and 19; before migration 19 a key was announced by its digest
//! alone, which still reads); an instance announces `sync:<instance>:<n>` to learn that
//! its listener has caught up ([`super::barrier::Barrier`]). Anything else means "drop
//! everything".

use uuid::Uuid;

use crate::keys::digest::Digest;

/// The channel of every announcement (`LISTEN locksmith_invalidate`).
pub const CHANNEL: &str = "locksmith_invalidate";

const KEY: &str = "key:";
const VERIFIER: &str = "verifier:";
const SYNC: &str = "sync:";

/// Which key an announcement names, for those outside the instance (services' clients
/// know a key by its id, never by its digest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef {
    /// The key's keyspace.
    pub keyspace_id: Uuid,
    /// The key.
    pub key_id: Uuid,
}

/// One announcement, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announcement {
    /// The key with this digest changed (and which key it is, when announced).
    Key(Digest, Option<KeyRef>),
    /// The verifier with this digest changed.
    Verifier(Digest),
    /// An instance's barrier message: its `n`-th.
    Sync {
        /// The instance that sent it.
        instance: Uuid,
        /// Its number.
        n: u64,
    },
    /// Anything else: whatever it meant, the cache cannot trust what it holds.
    Unknown,
}

impl Announcement {
    /// Reads a payload as the channel delivers it.
    pub fn parse(payload: &str) -> Self {
        if let Some(rest) = payload.strip_prefix(KEY) {
            let (hex, ids) = match rest.split_once(':') {
                None => (rest, None),
                Some((hex, ids)) => match parse_ids(ids) {
                    Some(ids) => (hex, Some(ids)),
                    None => return Self::Unknown,
                },
            };
            return parse_hex(hex).map_or(Self::Unknown, |digest| Self::Key(digest, ids));
        }
        if let Some(hex) = payload.strip_prefix(VERIFIER) {
            return parse_hex(hex).map_or(Self::Unknown, Self::Verifier);
        }
        if let Some(rest) = payload.strip_prefix(SYNC) {
            // A barrier message that does not read is nobody's: the nil instance's, which
            // every instance ignores like another instance's.
            return rest
                .split_once(':')
                .and_then(|(instance, n)| Some((Uuid::parse_str(instance).ok()?, n.parse().ok()?)))
                .map_or(
                    Self::Sync {
                        instance: Uuid::nil(),
                        n: 0,
                    },
                    |(instance, n)| Self::Sync { instance, n },
                );
        }
        Self::Unknown
    }

    /// The payload of this announcement.
    pub fn payload(&self) -> String {
        match self {
            Self::Key(digest, None) => format!("{KEY}{}", hex(digest)),
            Self::Key(digest, Some(ids)) => {
                format!("{KEY}{}:{}:{}", hex(digest), ids.keyspace_id, ids.key_id)
            }
            Self::Verifier(digest) => format!("{VERIFIER}{}", hex(digest)),
            Self::Sync { instance, n } => format!("{SYNC}{instance}:{n}"),
            Self::Unknown => String::new(),
        }
    }
}

fn hex(digest: &Digest) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_ids(ids: &str) -> Option<KeyRef> {
    let (keyspace, key) = ids.split_once(':')?;
    Some(KeyRef {
        keyspace_id: Uuid::parse_str(keyspace).ok()?,
        key_id: Uuid::parse_str(key).ok()?,
    })
}

fn parse_hex(hex: &str) -> Option<Digest> {
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_and_anything_else_is_unknown() {
        let digest = [0xab; 32];
        let instance = Uuid::new_v4();
        let ids = KeyRef {
            keyspace_id: Uuid::new_v4(),
            key_id: Uuid::new_v4(),
        };
        for a in [
            Announcement::Key(digest, None),
            Announcement::Key(digest, Some(ids)),
            Announcement::Verifier(digest),
            Announcement::Sync { instance, n: 7 },
        ] {
            assert_eq!(Announcement::parse(&a.payload()), a);
        }
        // As the database's trigger writes it (lower-case hex, then the ids), and as it
        // wrote it before migration 19.
        assert_eq!(
            Announcement::parse(&format!(
                "key:{}:{}:{}",
                "ab".repeat(32),
                ids.keyspace_id,
                ids.key_id
            )),
            Announcement::Key(digest, Some(ids))
        );
        assert_eq!(
            Announcement::parse(&format!("key:{}", "ab".repeat(32))),
            Announcement::Key(digest, None)
        );
        let g = format!("key:{}", "g".repeat(64));
        let bad_ids = format!("key:{}:{}:nope", "ab".repeat(32), ids.keyspace_id);
        for other in ["", "key:00ff", "verifier:zz", "flush", &g, &bad_ids] {
            assert_eq!(Announcement::parse(other), Announcement::Unknown, "{other}");
        }
        assert_eq!(
            Announcement::parse("sync:not-a-uuid:1"),
            Announcement::Sync {
                instance: Uuid::nil(),
                n: 0
            },
            "a barrier message that does not read is nobody's"
        );
    }
}
