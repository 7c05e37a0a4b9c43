//! Parsing of portal form fields on the server.

/// A text field, trimmed; `None` when left empty (the forms' "none" / "any").
pub(crate) fn optional(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}
