//! The hash chain: `hash = SHA-256(prev_hash ‖ canonical JSON of the row's fields)`.
//!
//! The canonical form sorts object keys and fixes the timestamp format, so that the hash
//! computed when writing equals the one recomputed from what PostgreSQL gives back
//! (`jsonb` does not keep key order).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The `prev_hash` of the first row.
pub const GENESIS: [u8; 32] = [0; 32];

/// The fields a row's hash covers: everything but `id` and `hash` itself.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor_id: Option<Uuid>,
    /// What.
    pub action: &'a str,
    /// Kind of target.
    pub target_type: &'a str,
    /// Which target.
    pub target_id: Option<&'a str>,
    /// From where.
    pub source_ip: Option<&'a str>,
    /// Which request (Locksmith's id).
    pub request_id: Option<&'a str>,
    /// Which request, as the caller named it. Rows from before it existed have none,
    /// and their hash covers nine fields: it is appended only when present.
    pub client_request_id: Option<&'a str>,
    /// State before.
    pub before: Option<&'a Value>,
    /// State after.
    pub after: Option<&'a Value>,
}

/// The hash of a row given the previous row's hash.
pub fn digest(prev: &[u8], fields: &Fields<'_>) -> [u8; 32] {
    let mut text = String::new();
    let opt = |v: Option<&str>| v.map_or(Value::Null, |s| Value::String(s.to_owned()));
    let mut array = vec![
        Value::String(fields.at.to_rfc3339_opts(SecondsFormat::Micros, true)),
        fields
            .actor_id
            .map_or(Value::Null, |id| Value::String(id.to_string())),
        Value::String(fields.action.to_owned()),
        Value::String(fields.target_type.to_owned()),
        opt(fields.target_id),
        opt(fields.source_ip),
        opt(fields.request_id),
        fields.before.cloned().unwrap_or(Value::Null),
        fields.after.cloned().unwrap_or(Value::Null),
    ];
    if let Some(client) = fields.client_request_id {
        array.push(Value::String(client.to_owned()));
    }
    canonical(&Value::Array(array), &mut text);
    let mut hasher = Sha256::new();
    hasher.update(prev);
    hasher.update(text.as_bytes());
    hasher.finalize().into()
}

/// JSON with object keys sorted at every level.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of a hex string; `None` when it is not one.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields<'a>(before: Option<&'a Value>) -> Fields<'a> {
        Fields {
            at: DateTime::from_timestamp(1_700_000_000, 123_456_000).expect("time"),
            actor_id: None,
            action: "user.create",
            target_type: "user",
            target_id: Some("42"),
            source_ip: Some("203.0.113.7"),
            request_id: Some("req-1"),
            client_request_id: None,
            before,
            after: None,
        }
    }

    #[test]
    fn key_order_does_not_change_the_hash() {
        let a = json!({"email": "a@example.com", "role": "owner", "nested": {"x": 1, "a": [1, {"z": 0, "b": 1}]}});
        let b: Value = serde_json::from_str(
            r#"{"role":"owner","nested":{"a":[1,{"b":1,"z":0}],"x":1},"email":"a@example.com"}"#,
        )
        .expect("json");
        assert_eq!(
            digest(&GENESIS, &fields(Some(&a))),
            digest(&GENESIS, &fields(Some(&b)))
        );
    }

    #[test]
    fn every_field_and_the_previous_hash_count() {
        let base = digest(&GENESIS, &fields(None));
        assert_ne!(base, digest(&[1; 32], &fields(None)));
        let mut f = fields(None);
        f.action = "user.update";
        assert_ne!(base, digest(&GENESIS, &f));
        let mut f = fields(None);
        f.at += chrono::Duration::microseconds(1);
        assert_ne!(base, digest(&GENESIS, &f));
        let mut f = fields(None);
        f.target_id = None;
        assert_ne!(base, digest(&GENESIS, &f));
        let after = json!({"role": "admin"});
        let mut f = fields(None);
        f.after = Some(&after);
        assert_ne!(base, digest(&GENESIS, &f));
        let mut f = fields(None);
        f.client_request_id = Some("req-1");
        assert_ne!(base, digest(&GENESIS, &f));
    }

    /// Rows written before `client_request_id` existed hash as they did then: nine
    /// fields, the same canonical text.
    #[test]
    fn a_row_without_a_client_id_hashes_as_before() {
        let text = r#"["2023-11-14T22:13:20.123456Z",null,"user.create","user","42","203.0.113.7","req-1",null,null]"#;
        let mut hasher = Sha256::new();
        hasher.update(GENESIS);
        hasher.update(text.as_bytes());
        let before: [u8; 32] = hasher.finalize().into();
        assert_eq!(digest(&GENESIS, &fields(None)), before);
    }

    #[test]
    fn hex_is_lower_case_and_padded() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}
