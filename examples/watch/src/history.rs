//! The bounded history of a [store](crate::store): events in revision order, of which only the most recent
//! whole changes are kept, and the *compact revision* below which they are gone.

use std::sync::Arc;

use crate::proto::Event;
use crate::store::State;

/// The revision of an event (its key's `mod_revision`).
pub(crate) fn event_revision(event: &Event) -> i64 {
    event.kv.as_ref().map_or(0, |kv| kv.mod_revision)
}

/// The key an event is about.
pub(crate) fn event_key(event: &Event) -> &str {
    event.kv.as_ref().map_or("", |kv| kv.key.as_str())
}

/// The compact revision once `added` (one change) joins the history and the oldest whole changes are
/// dropped to keep at most `limit` events.
pub(crate) fn trimmed_compact_revision(state: &State, added: &[Arc<Event>], limit: usize) -> i64 {
    let mut total = state.history.len() + added.len();
    let mut compact = state.compact_revision;
    let mut events = state.history.iter().chain(added).peekable();
    while total > limit {
        let Some(first) = events.next() else {
            break;
        };
        let dropped = event_revision(first);
        total -= 1;
        while events.peek().is_some_and(|e| event_revision(e) == dropped) {
            events.next();
            total -= 1;
        }
        compact = compact.max(dropped + 1);
    }
    compact
}

/// Drops the history below `compact` and makes it the compact revision (if it is higher).
pub(crate) fn drop_history_below(state: &mut State, compact: i64) {
    if compact <= state.compact_revision {
        return;
    }
    while state
        .history
        .front()
        .is_some_and(|e| event_revision(e) < compact)
    {
        state.history.pop_front();
    }
    state.compact_revision = compact;
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, VecDeque};

    use super::*;
    use crate::proto::KeyValue;

    fn event(revision: i64) -> Arc<Event> {
        Arc::new(Event {
            kv: Some(KeyValue {
                mod_revision: revision,
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn state(revisions: &[i64]) -> State {
        State {
            revision: revisions.last().copied().unwrap_or(0),
            compact_revision: 1,
            data: Default::default(),
            history: revisions.iter().map(|&r| event(r)).collect::<VecDeque<_>>(),
            live: HashMap::new(),
        }
    }

    #[test]
    fn trimming_drops_whole_changes_oldest_first() {
        // Revision 2 has two events: dropping it drops both.
        let state = state(&[1, 2, 2, 3]);
        assert_eq!(trimmed_compact_revision(&state, &[event(4)], 5), 1);
        assert_eq!(trimmed_compact_revision(&state, &[event(4)], 4), 2);
        assert_eq!(trimmed_compact_revision(&state, &[event(4)], 3), 3);
        assert_eq!(trimmed_compact_revision(&state, &[event(4)], 2), 3);
        assert_eq!(trimmed_compact_revision(&state, &[event(4)], 1), 4);
        // A change larger than the whole limit is not kept either.
        assert_eq!(
            trimmed_compact_revision(&state, &[event(4), event(4)], 1),
            5
        );
    }

    #[test]
    fn dropping_history_only_raises_the_compact_revision() {
        let mut state = state(&[1, 2, 2, 3]);
        drop_history_below(&mut state, 3);
        assert_eq!((state.compact_revision, state.history.len()), (3, 1));
        drop_history_below(&mut state, 2);
        assert_eq!((state.compact_revision, state.history.len()), (3, 1));
    }
}
