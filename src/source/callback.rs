//! The refresh callback, and the promise that it never runs once its
//! source is closed: a close waits for a call under way on another thread,
//! and no call starts after it.

use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::gate::CallGate;

/// Called after each successful fetch, outside any lock of the source.
pub type RefreshCallback<T> = dyn Fn(&Arc<T>) + Send + Sync;

/// The callback of one source, and the gate that keeps it from running
/// once the source is closed.
pub(super) struct Callbacks<T> {
    /// Read without a lock: set from any thread, and fork-safe.
    registered: ArcSwapOption<Box<RefreshCallback<T>>>,
    gate: CallGate,
}

impl<T> Callbacks<T> {
    pub(super) fn new() -> Self {
        Callbacks {
            registered: ArcSwapOption::empty(),
            gate: CallGate::new(),
        }
    }

    pub(super) fn set(&self, callback: Option<Box<RefreshCallback<T>>>) {
        self.registered.store(callback.map(Arc::new));
    }

    /// Calls the callback with `token`, unless there is none or the source
    /// is closed. Calls never overlap: the source's fetches are one at a
    /// time, and each calls this before it counts as done.
    pub(super) fn announce(&self, token: &Arc<T>) {
        if let Some(callback) = self.registered.load_full() {
            self.gate.run(|| callback(token));
        }
    }

    /// No call starts after this returns, and a call under way on another
    /// thread has ended. (Called from inside the callback itself, it
    /// returns at once: the call under way is the caller's own.)
    pub(super) fn close(&self) {
        self.gate.close();
        self.registered.store(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;
    use std::time::Duration;

    #[test]
    fn close_waits_for_a_call_under_way_and_no_call_starts_after_it() {
        let callbacks = Arc::new(Callbacks::<()>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let ended = Arc::new(AtomicUsize::new(0));
        let (started, wait_started) = std::sync::mpsc::channel();
        let (calls_in, ended_in) = (Arc::clone(&calls), Arc::clone(&ended));
        callbacks.set(Some(Box::new(move |_| {
            calls_in.fetch_add(1, Ordering::SeqCst);
            let _ = started.send(());
            thread::sleep(Duration::from_millis(300));
            ended_in.fetch_add(1, Ordering::SeqCst);
        })));
        let announcer = Arc::clone(&callbacks);
        let running = thread::spawn(move || announcer.announce(&Arc::new(())));
        wait_started.recv().unwrap();
        callbacks.close();
        assert_eq!(ended.load(Ordering::SeqCst), 1, "close waited for the call");
        callbacks.announce(&Arc::new(()));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "no call after close");
        running.join().unwrap();
    }

    #[test]
    fn close_from_inside_the_callback_returns() {
        let callbacks = Arc::new(Callbacks::<()>::new());
        let inner = Arc::downgrade(&callbacks);
        callbacks.set(Some(Box::new(move |_| {
            if let Some(callbacks) = inner.upgrade() {
                callbacks.close();
            }
        })));
        callbacks.announce(&Arc::new(()));
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        callbacks.set(Some(Box::new(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        })));
        callbacks.announce(&Arc::new(()));
        assert_eq!(calls.load(Ordering::SeqCst), 0, "closed stays closed");
    }
}
