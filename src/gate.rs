//! A gate for calls into the program's code (the refresh callback, the
//! trace callback), so that they never run once their owner is closed:
//! closing waits for the calls under way on other threads, and no call
//! starts after it.
//!
//! Per process: in a child of `fork()` no call is under way (the threads
//! that made them are not there), and the parent's lock may have been
//! held at the fork.

use std::cell::RefCell;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::process::PerProcess;

pub(crate) struct CallGate {
    gate: PerProcess<Gate>,
}

#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    call_ended: Condvar,
}

#[derive(Default)]
struct GateState {
    closed: bool,
    running: usize,
}

thread_local! {
    /// The gates whose calls this thread is inside, by address. Plain
    /// numbers: asking for the thread's id would allocate a handle that a
    /// thread made by C never frees.
    static RUNNING_HERE: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

impl CallGate {
    pub(crate) fn new() -> Self {
        CallGate {
            gate: PerProcess::new(Gate::default()),
        }
    }

    /// Runs `call` unless the gate is closed. A panic in it is caught: it
    /// must not strand a thread waiting to close.
    pub(crate) fn run(&self, call: impl FnOnce()) {
        let gate = self.gate.get(Gate::default);
        {
            let mut state = gate.lock();
            if state.closed {
                return;
            }
            state.running += 1;
        }
        RUNNING_HERE.with(|here| here.borrow_mut().push(gate.address()));
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(call));
        RUNNING_HERE.with(|here| here.borrow_mut().pop());
        gate.lock().running -= 1;
        gate.call_ended.notify_all();
    }

    /// No call starts after this returns, and the calls under way on other
    /// threads have ended. (From inside a call, that call is not waited
    /// for: it is the caller's own.)
    pub(crate) fn close(&self) {
        let gate = self.gate.get(Gate::default);
        let own = RUNNING_HERE.with(|here| {
            here.borrow()
                .iter()
                .filter(|&&address| address == gate.address())
                .count()
        });
        let mut state = gate.lock();
        state.closed = true;
        while state.running > own {
            state = gate
                .call_ended
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Gate {
    fn address(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        // Every change is a plain assignment: a panic cannot leave it torn.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
