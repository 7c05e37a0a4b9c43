//! `KeyedState`: per-key state shared by the hot path, in a plain map under a
//! read-write lock. Finding an existing entry takes a read lock and one reference
//! count; only a key's first use takes the write lock. Cheaper than a cache with
//! eviction bookkeeping, for state that its owner prunes itself.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use uuid::Uuid;

/// Per-key state.
pub struct KeyedState<T> {
    map: RwLock<HashMap<Uuid, Arc<T>>>,
}

impl<T> Default for KeyedState<T> {
    fn default() -> Self {
        Self {
            map: RwLock::default(),
        }
    }
}

impl<T> KeyedState<T> {
    /// The state of `key`, if it has any.
    pub fn get(&self, key: Uuid) -> Option<Arc<T>> {
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .cloned()
    }

    /// The state of `key`, made by `init` on first use.
    pub fn get_or_insert_with(&self, key: Uuid, init: impl FnOnce() -> T) -> Arc<T> {
        if let Some(found) = self
            .map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
        {
            return Arc::clone(found);
        }
        let mut map = self
            .map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(map.entry(key).or_insert_with(|| Arc::new(init())))
    }

    /// Every entry (a snapshot).
    pub fn entries(&self) -> Vec<Arc<T>> {
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// Keeps the entries `keep` accepts.
    pub fn retain(&self, mut keep: impl FnMut(&T) -> bool) {
        self.map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, state| keep(state));
    }

    /// How many keys have state.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_state_per_key_until_pruned() {
        let state: KeyedState<u32> = KeyedState::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let first = state.get_or_insert_with(a, || 1);
        let again = state.get_or_insert_with(a, || 2);
        assert!(Arc::ptr_eq(&first, &again));
        assert!(
            state
                .get(a)
                .is_some_and(|found| Arc::ptr_eq(&found, &first))
        );
        assert!(state.get(b).is_none());
        state.get_or_insert_with(b, || 3);
        assert_eq!(state.len(), 2);
        state.retain(|v| *v != 3);
        assert_eq!(state.entries().len(), 1);
    }
}
