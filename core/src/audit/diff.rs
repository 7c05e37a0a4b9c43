//! What an audit entry changed: its before and after states compared field by field, so
//! a reader sees the two fields a `key.update` touched rather than two whole documents.

use std::collections::BTreeMap;

use serde_json::Value;

/// How one field differs between before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Only after has it.
    Added,
    /// Only before has it.
    Removed,
    /// Both have it, with different values.
    Changed,
    /// Both have it, equal.
    Same,
}

impl Change {
    /// The word for it, as the portal shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Removed => "removed",
            Self::Changed => "changed",
            Self::Same => "unchanged",
        }
    }
}

/// One field: its dotted path (`quota.limit`), and its values on either side.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDiff {
    /// The path of the field in the object, with nested objects joined by `.`; empty when
    /// a side is not an object at all.
    pub path: String,
    /// How it differs.
    pub change: Change,
    /// The value before, if the field existed.
    pub before: Option<Value>,
    /// The value after, if the field exists.
    pub after: Option<Value>,
}

/// Every field of `before` and `after`, compared, in path order. Objects are compared
/// member by member, however deep; arrays and scalars as whole values (a scope list that
/// gained an entry is one changed field).
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldDiff> {
    let mut old = BTreeMap::new();
    let mut new = BTreeMap::new();
    if let Some(v) = before {
        flatten(String::new(), v, &mut old);
    }
    if let Some(v) = after {
        flatten(String::new(), v, &mut new);
    }
    let mut paths: Vec<&String> = old.keys().chain(new.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .map(|path| {
            let (b, a) = (old.get(path), new.get(path));
            let change = match (b, a) {
                (None, _) => Change::Added,
                (_, None) => Change::Removed,
                (Some(b), Some(a)) if b == a => Change::Same,
                _ => Change::Changed,
            };
            FieldDiff {
                path: path.clone(),
                change,
                before: b.cloned(),
                after: a.cloned(),
            }
        })
        .collect()
}

fn flatten(path: String, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                flatten(sub, v, out);
            }
        }
        _ => {
            out.insert(path, value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn summary(d: &[FieldDiff]) -> Vec<(String, &'static str)> {
        d.iter()
            .map(|f| (f.path.clone(), f.change.as_str()))
            .collect()
    }

    #[test]
    fn an_update_names_what_changed_and_keeps_the_rest_as_unchanged() {
        let before = json!({
            "name": "old", "enabled": true, "scopes": ["a"],
            "quota": { "limit": 100, "period": "day" }, "expires_at": null,
        });
        let after = json!({
            "name": "new", "enabled": true, "scopes": ["a", "b"],
            "quota": { "limit": 500, "period": "day" }, "rate_limit": { "limit": 5 },
        });
        let d = diff(Some(&before), Some(&after));
        assert_eq!(
            summary(&d),
            [
                ("enabled".into(), "unchanged"),
                ("expires_at".into(), "removed"),
                ("name".into(), "changed"),
                ("quota.limit".into(), "changed"),
                ("quota.period".into(), "unchanged"),
                ("rate_limit.limit".into(), "added"),
                ("scopes".into(), "changed"),
            ]
        );
        let limit = &d[3];
        assert_eq!(
            (limit.before.clone(), limit.after.clone()),
            (Some(json!(100)), Some(json!(500)))
        );
        assert_eq!(d[1].before, Some(Value::Null), "a null is a value");
    }

    #[test]
    fn a_creation_adds_every_field_and_a_deletion_removes_them() {
        let state = json!({ "email": "a@b.test", "role": "owner", "meta": {} });
        let created = diff(None, Some(&state));
        assert!(created.iter().all(|f| f.change == Change::Added));
        assert_eq!(created.len(), 3, "an empty object is one value");
        let deleted = diff(Some(&state), None);
        assert!(deleted.iter().all(|f| f.change == Change::Removed));
        assert!(diff(None, None).is_empty());
    }

    #[test]
    fn non_objects_compare_as_one_value_and_type_changes_show() {
        let d = diff(Some(&json!("on")), Some(&json!({ "state": "on" })));
        assert_eq!(
            summary(&d),
            [("".into(), "removed"), ("state".into(), "added")]
        );
        let d = diff(Some(&json!({ "a": 1 })), Some(&json!({ "a": "1" })));
        assert_eq!(d[0].change, Change::Changed);
    }
}
