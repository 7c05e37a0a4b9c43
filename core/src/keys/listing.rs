//! What a keys list asks for: its filters, its order (`sort`) and where its previous
//! page ended (the cursor). The SQL that reads it is `store::list`.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{KeyStatus, KeyView};
use crate::error::Error;

/// Filters and order of the keys list; every filter is optional.
#[derive(Debug, Clone, Default)]
pub struct KeyFilter {
    /// One keyspace.
    pub keyspace_id: Option<Uuid>,
    /// One owner.
    pub owner_id: Option<Uuid>,
    /// One status.
    pub status: Option<KeyStatus>,
    /// A substring of the name (case-insensitive) or a prefix of `start`.
    pub q: Option<String>,
    /// The order of the list.
    pub sort: KeySort,
    /// Only keys that still count: active or disabled (neither revoked nor expired).
    pub live_only: bool,
}

/// A column the keys list can be ordered by. Ties are broken by id, in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortColumn {
    /// Creation time.
    Created,
    /// Name (the database's collation).
    Name,
    /// Last verification; keys never used come after every used key when descending.
    LastUsed,
    /// Expiry; keys that never expire come after every expiring key when ascending.
    Expires,
}

impl SortColumn {
    /// Every column, in the order a client lists them.
    pub const ALL: [Self; 4] = [Self::Name, Self::Created, Self::LastUsed, Self::Expires];

    /// The wire name, as in `?sort=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Name => "name",
            Self::LastUsed => "last_used",
            Self::Expires => "expires",
        }
    }

    /// The direction a first click on this column asks for: the most useful end first
    /// (A to Z, newest, most recently used, soonest to expire).
    pub fn natural_descending(self) -> bool {
        matches!(self, Self::Created | Self::LastUsed)
    }

    fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

/// An order of the keys list: `name` is ascending, `-name` descending. The default is
/// `-created`, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeySort {
    /// The column.
    pub column: SortColumn,
    /// Whether the largest value comes first.
    pub descending: bool,
}

impl Default for KeySort {
    fn default() -> Self {
        Self {
            column: SortColumn::Created,
            descending: true,
        }
    }
}

impl KeySort {
    /// `column` in its natural direction.
    pub fn natural(column: SortColumn) -> Self {
        Self {
            column,
            descending: column.natural_descending(),
        }
    }

    /// The same column the other way round.
    pub fn reversed(self) -> Self {
        Self {
            descending: !self.descending,
            ..self
        }
    }
}

impl std::fmt::Display for KeySort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.descending {
            f.write_str("-")?;
        }
        f.write_str(self.column.as_str())
    }
}

impl std::str::FromStr for KeySort {
    type Err = Error;
    fn from_str(raw: &str) -> Result<Self, Error> {
        let (descending, name) = match raw.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        SortColumn::parse(name)
            .map(|column| Self { column, descending })
            .ok_or_else(|| {
                Error::invalid(
                    "sort",
                    "must be name, created, last_used or expires, with a leading - for descending",
                )
            })
    }
}

/// The sort value of the last row of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SortValue {
    /// Of `created`, `last_used` or `expires`; `None` is "never".
    Time(Option<DateTime<Utc>>),
    /// Of `name`.
    Text(String),
}

/// Where the previous page of the keys list ended, in its order. Opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCursor {
    sort: KeySort,
    value: SortValue,
    id: Uuid,
}

/// The longest cursor accepted (a name is at most 200 characters).
const MAX_CURSOR_BYTES: usize = 2048;

impl KeyCursor {
    /// The cursor after `row` in a list ordered by `sort`.
    pub fn after(view: &KeyView, sort: KeySort) -> Self {
        let value = match sort.column {
            SortColumn::Created => SortValue::Time(Some(view.created_at)),
            SortColumn::LastUsed => SortValue::Time(view.last_used_at),
            SortColumn::Expires => SortValue::Time(view.expires_at),
            SortColumn::Name => SortValue::Text(view.name.clone()),
        };
        Self {
            sort,
            value,
            id: view.id,
        }
    }

    /// The order this cursor belongs to.
    pub fn sort(&self) -> KeySort {
        self.sort
    }

    /// The id of the row the page ended with.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The sort value of that row when it is a name.
    pub fn text(&self) -> Option<&str> {
        match &self.value {
            SortValue::Text(t) => Some(t),
            SortValue::Time(_) => None,
        }
    }

    /// The sort value of that row when it is a time (`None` also for "never").
    pub fn time(&self) -> Option<DateTime<Utc>> {
        match self.value {
            SortValue::Time(t) => t,
            SortValue::Text(_) => None,
        }
    }
}

impl std::fmt::Display for KeyCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = match &self.value {
            SortValue::Time(t) => t.map(|t| t.timestamp_micros().to_string()),
            SortValue::Text(t) => Some(t.clone()),
        };
        let raw = format!("{}|{}|{}", self.sort, value.unwrap_or_default(), self.id);
        f.write_str(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
    }
}

fn micros(raw: &str) -> Result<DateTime<Utc>, ()> {
    DateTime::from_timestamp_micros(raw.parse().map_err(|_| ())?)
        .filter(|at| crate::timestamp::in_range(*at))
        .ok_or(())
}

impl std::str::FromStr for KeyCursor {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        if s.len() > MAX_CURSOR_BYTES {
            return Err(());
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| ())?;
        let raw = String::from_utf8(raw).map_err(|_| ())?;
        // Before sorting existed a cursor was `micros.id`, newest first.
        let Some((sort, rest)) = raw.split_once('|') else {
            let (at, id) = raw.split_once('.').ok_or(())?;
            return Ok(Self {
                sort: KeySort::default(),
                value: SortValue::Time(Some(micros(at)?)),
                id: id.parse().map_err(|_| ())?,
            });
        };
        let sort: KeySort = sort.parse().map_err(|_| ())?;
        // A name may hold `|`; the id never does.
        let (value, id) = rest.rsplit_once('|').ok_or(())?;
        let value = match sort.column {
            // Names hold no control characters, so a cursor whose name does was not
            // made here (and a NUL would not even reach PostgreSQL).
            SortColumn::Name if value.chars().any(char::is_control) => return Err(()),
            SortColumn::Name => SortValue::Text(value.to_owned()),
            SortColumn::Created => SortValue::Time(Some(micros(value)?)),
            SortColumn::LastUsed | SortColumn::Expires if value.is_empty() => SortValue::Time(None),
            SortColumn::LastUsed | SortColumn::Expires => SortValue::Time(Some(micros(value)?)),
        };
        Ok(Self {
            sort,
            value,
            id: id.parse().map_err(|_| ())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(sort: &str, value: SortValue) -> KeyCursor {
        KeyCursor {
            sort: sort.parse().expect("sort"),
            value,
            id: Uuid::new_v4(),
        }
    }

    #[test]
    fn sorts_round_trip_and_default_to_newest_first() {
        for column in SortColumn::ALL {
            for sort in [
                KeySort::natural(column),
                KeySort::natural(column).reversed(),
            ] {
                assert_eq!(sort.to_string().parse::<KeySort>().ok(), Some(sort));
            }
        }
        assert_eq!(KeySort::default().to_string(), "-created");
        assert_eq!(KeySort::natural(SortColumn::Name).to_string(), "name");
        assert_eq!(
            KeySort::natural(SortColumn::LastUsed).to_string(),
            "-last_used"
        );
        for bad in [
            "",
            "-",
            "--name",
            "Name",
            "created_at",
            "name;drop",
            "+name",
        ] {
            let err = bad.parse::<KeySort>().expect_err(bad);
            assert!(err.to_string().starts_with("sort: "), "{err}");
        }
    }

    #[test]
    fn cursors_round_trip_in_every_order() {
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).expect("time");
        let cursors = [
            cursor("-created", SortValue::Time(Some(at))),
            cursor("created", SortValue::Time(Some(at))),
            cursor("-last_used", SortValue::Time(None)),
            cursor("last_used", SortValue::Time(Some(at))),
            cursor("expires", SortValue::Time(None)),
            cursor("name", SortValue::Text("a|b|c ünïcode".into())),
            cursor("-name", SortValue::Text(String::new())),
        ];
        for c in cursors {
            assert_eq!(c.to_string().parse::<KeyCursor>(), Ok(c.clone()));
        }
    }

    #[test]
    fn a_name_cursor_with_a_control_character_is_refused() {
        for name in ["a\0b", "tab\there", "\u{7f}"] {
            let raw = cursor("name", SortValue::Text(name.into())).to_string();
            assert!(raw.parse::<KeyCursor>().is_err(), "{name:?}");
        }
    }

    #[test]
    fn cursors_reject_garbage() {
        let b64 = |s: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let id = Uuid::nil();
        let bad = [
            String::new(),
            "abc".into(),
            "MTIz".into(),
            "' OR 1=1".into(),
            b64(format!("-300000000000000000.{id}")),
            b64(format!("-created||{id}")),
            b64(format!("sideways|1|{id}")),
            b64(format!("expires|soon|{id}")),
            b64("name|x|not-an-id".into()),
            "A".repeat(MAX_CURSOR_BYTES + 4),
        ];
        for raw in bad {
            assert!(raw.parse::<KeyCursor>().is_err(), "{raw}");
        }
    }

    #[test]
    fn cursors_of_before_sorting_still_read_as_newest_first() {
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).expect("time");
        let id = Uuid::new_v4();
        let old = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}.{id}", at.timestamp_micros()));
        let c: KeyCursor = old.parse().expect("old cursor");
        assert_eq!(c.sort(), KeySort::default());
        assert_eq!((c.time(), c.id()), (Some(at), id));
    }

    proptest::proptest! {
        /// Whatever a client sends as `cursor`, it is a cursor or refused, never a panic.
        #[test]
        fn any_text_is_a_cursor_or_refused(raw in "\\PC{0,300}") {
            let _ = raw.parse::<KeyCursor>();
        }

        /// Base64 of anything (the layer under the text) never panics the decoder either.
        #[test]
        fn any_decoded_bytes_are_a_cursor_or_refused(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes).parse::<KeyCursor>();
        }

        /// A name cursor comes back as it was, whatever the name holds (`|` included).
        #[test]
        fn name_cursors_round_trip(name in "\\PC{1,200}", descending in proptest::prelude::any::<bool>()) {
            let sort = if descending { "-name" } else { "name" };
            let before = cursor(sort, SortValue::Text(name));
            let after: KeyCursor = before.to_string().parse().expect("parses");
            proptest::prop_assert_eq!(after.text(), before.text());
            proptest::prop_assert_eq!(after.id(), before.id());
            proptest::prop_assert_eq!(after.sort(), before.sort());
        }

        /// A time cursor comes back to the microsecond.
        #[test]
        fn time_cursors_round_trip(micros in 0_i64..4_000_000_000_000_000) {
            let at = DateTime::from_timestamp_micros(micros).expect("in range");
            let before = cursor("-created", SortValue::Time(Some(at)));
            let after: KeyCursor = before.to_string().parse().expect("parses");
            proptest::prop_assert_eq!(after.time(), Some(at));
        }
    }
}
