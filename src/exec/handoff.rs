//! Messages for a writer, written in the order sent by whichever thread comes to them first.
//!
//! A run's writer encodes on the worker pool, where its jobs used to queue behind the scoring
//! lanes already queued there: measured at 10M rows on two threads, the writer's chain then set
//! the pace (BENCHMARKS.md). With a [`Handoff`], a lane about to start a batch first writes what
//! waits ([`Handoff::write_waiting`]), and the writer's own thread puts it on the pool only when
//! no lane has ([`Handoff::drive`]). The writing goes ahead of the lanes, within the pool's
//! threads, so `--threads` still caps the cores a run keeps busy. A run's writer hands each
//! file's rows to that file's chain ([`crate::sink::chain`]), so writing a message is quick
//! unless the chains already hold the rows of two messages before it.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use rayon::ThreadPool;

use crate::sink::SinkError;

/// What a [`Handoff`] writes with: one message at a time, in the order sent.
pub trait Writes: Send {
    type Message: Send;
    /// Writes `message` after those before it; after an error, nothing more is written.
    fn write(&mut self, message: Self::Message) -> Result<(), SinkError>;
    /// Stops whatever a write left running, once a write has failed; returns when it has.
    fn abandon(&mut self) {}
}

/// The writer `W` and the messages waiting for it (see the module's doc).
pub struct Handoff<W: Writes> {
    state: Mutex<State<W>>,
    /// Signalled whenever a message comes or goes, the writer is put back, or it all stops.
    changed: Condvar,
    /// Messages sent and not yet begun, at most: [`Handoff::send`] waits for room beyond it.
    room: usize,
}

struct State<W: Writes> {
    /// `None` while a thread writes with it.
    writer: Option<W>,
    /// Messages in the order sent, not yet begun.
    waiting: VecDeque<W::Message>,
    /// The first error; nothing is written after it.
    failed: Option<SinkError>,
    /// No more messages come ([`Handoff::close`]).
    closed: bool,
    /// A write panicked (the panic is raised where it happened): nothing more is written.
    panicked: bool,
}

impl<W: Writes> State<W> {
    /// Whether writing has stopped on an error or a panic: nothing more is written or taken.
    fn stopped(&self) -> bool {
        self.failed.is_some() || self.panicked
    }
}

impl<W: Writes> Handoff<W> {
    /// `writer` with room for `room` messages waiting (at least one).
    pub fn new(writer: W, room: usize) -> Self {
        Handoff {
            state: Mutex::new(State {
                writer: Some(writer),
                waiting: VecDeque::with_capacity(room),
                failed: None,
                closed: false,
                panicked: false,
            }),
            changed: Condvar::new(),
            room: room.max(1),
        }
    }

    /// The state. No write runs while the lock is held, so the state is whole even if a panic
    /// poisoned the lock.
    fn lock(&self) -> MutexGuard<'_, State<W>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `ready` holds of the state; the state then.
    fn wait_until(&self, ready: impl Fn(&State<W>) -> bool) -> MutexGuard<'_, State<W>> {
        self.changed
            .wait_while(self.lock(), |state| !ready(state))
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `message` behind those sent before, once there is room; `false` (and `message`
    /// dropped) once a write has failed or panicked.
    pub fn send(&self, message: W::Message) -> bool {
        let mut state = self.wait_until(|state| state.stopped() || state.waiting.len() < self.room);
        if state.stopped() {
            return false;
        }
        state.waiting.push_back(message);
        drop(state);
        self.changed.notify_all();
        true
    }

    /// No more messages come: [`Handoff::drive`] returns once what waits is written.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Writes the messages waiting, in order, unless another thread is writing (it goes on
    /// with them then). On a pool thread, the writer's parallel parts run on its pool.
    pub fn write_waiting(&self) {
        let mut state = self.lock();
        while !state.stopped() && !state.waiting.is_empty() {
            let Some(mut writer) = state.writer.take() else {
                return;
            };
            let message = state.waiting.pop_front().expect("checked by the loop");
            drop(state);
            self.changed.notify_all();
            // Records a panic in `write`, so that nobody waits for the writer it took.
            let mark = PanicMark(self);
            let written = writer.write(message);
            std::mem::forget(mark);
            state = self.lock();
            state.writer = Some(writer);
            if let Err(err) = written {
                state.failed = Some(err);
                state.waiting.clear();
            }
            self.changed.notify_all();
        }
    }

    /// The writer's own thread: puts what waits on `pool` whenever no one else writes it,
    /// until [`Handoff::close`]; then the writer, everything sent written, or the first error.
    /// Panics if a write panicked (on whichever thread; the panic itself is raised there).
    pub fn drive(&self, pool: &ThreadPool) -> Result<W, SinkError> {
        loop {
            let mut state = self.wait_until(|state| {
                state.panicked
                    || (state.writer.is_some() && (state.closed || !state.waiting.is_empty()))
            });
            if state.panicked {
                drop(state);
                panic!("a write panicked");
            }
            if state.waiting.is_empty() {
                // Closed, and everything sent written (or refused after an error).
                if let Some(err) = state.failed.take() {
                    // Off the lock: what the writer left running may need the pool's threads.
                    let writer = state.writer.take();
                    drop(state);
                    if let Some(mut writer) = writer {
                        writer.abandon();
                    }
                    return Err(err);
                }
                return Ok(state.writer.take().expect("checked by the wait"));
            }
            drop(state);
            pool.install(|| self.write_waiting());
        }
    }
}

/// Alive while a write runs; dropped only by a panic, which it records.
struct PanicMark<'a, W: Writes>(&'a Handoff<W>);

impl<W: Writes> Drop for PanicMark<'_, W> {
    fn drop(&mut self) {
        self.0.lock().panicked = true;
        self.0.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// Records the messages it writes; fails on `fail_at`, panics on `panic_at`.
    struct Log {
        written: Arc<Mutex<Vec<u32>>>,
        fail_at: Option<u32>,
        panic_at: Option<u32>,
    }

    impl Writes for Log {
        type Message = u32;

        fn write(&mut self, message: u32) -> Result<(), SinkError> {
            if self.fail_at == Some(message) {
                return Err(SinkError::Arrow(arrow::error::ArrowError::IoError(
                    format!("message {message}"),
                    std::io::ErrorKind::Other.into(),
                )));
            }
            assert_ne!(self.panic_at, Some(message), "message {message}");
            // Long enough for the sender to fill the room and the threads to overlap.
            std::thread::sleep(Duration::from_micros(u64::from(message % 7) * 50));
            self.written.lock().unwrap().push(message);
            Ok(())
        }
    }

    fn log(fail_at: Option<u32>, panic_at: Option<u32>) -> (Handoff<Log>, Arc<Mutex<Vec<u32>>>) {
        let written = Arc::new(Mutex::new(Vec::new()));
        let writer = Log {
            written: Arc::clone(&written),
            fail_at,
            panic_at,
        };
        (Handoff::new(writer, 2), written)
    }

    fn pool() -> ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
    }

    /// Three threads write (the driver and two helpers on the pool, as lanes do) while the
    /// sender waits for room: every message is written once, in the order sent.
    #[test]
    fn messages_are_written_once_in_the_order_sent_whoever_writes_them() {
        let (handoff, written) = log(None, None);
        let pool = pool();
        let sending = AtomicBool::new(true);
        std::thread::scope(|scope| {
            let driver = scope.spawn(|| handoff.drive(&pool));
            for _ in 0..2 {
                scope.spawn(|| {
                    while sending.load(Ordering::Relaxed) {
                        pool.install(|| handoff.write_waiting());
                        std::thread::yield_now();
                    }
                });
            }
            for message in 0..300 {
                assert!(handoff.send(message));
            }
            sending.store(false, Ordering::Relaxed);
            handoff.close();
            assert!(driver.join().unwrap().is_ok());
        });
        assert_eq!(*written.lock().unwrap(), (0..300).collect::<Vec<_>>());
    }

    /// Whoever calls `write_waiting` writes everything waiting, up to the room.
    #[test]
    fn a_helper_writes_what_waits() {
        let (handoff, written) = log(None, None);
        assert!(handoff.send(0) && handoff.send(1));
        handoff.write_waiting();
        assert_eq!(*written.lock().unwrap(), vec![0, 1]);
        handoff.close();
        assert!(handoff.drive(&pool()).is_ok());
    }

    /// A failed write drops what waits behind it, refuses what comes after, and is what
    /// `drive` returns once closed.
    #[test]
    fn a_failed_write_stops_the_writing_and_is_returned() {
        let (handoff, written) = log(Some(2), None);
        assert!(handoff.send(0) && handoff.send(1));
        handoff.write_waiting();
        assert!(handoff.send(2) && handoff.send(3));
        handoff.write_waiting();
        assert!(!handoff.send(4));
        handoff.close();
        let Err(err) = handoff.drive(&pool()) else {
            panic!("the failed write is returned");
        };
        assert_eq!(
            err.to_string(),
            "cannot assemble output rows: Io error: message 2"
        );
        assert_eq!(*written.lock().unwrap(), vec![0, 1]);
    }

    /// A write panicking on a helper is raised there; the sender and the driver stop instead
    /// of waiting for the writer it took.
    #[test]
    fn a_panicking_write_leaves_no_one_waiting() {
        let (handoff, written) = log(None, Some(1));
        assert!(handoff.send(0) && handoff.send(1));
        let helped = catch_unwind(AssertUnwindSafe(|| handoff.write_waiting()));
        assert!(helped.is_err());
        assert!(!handoff.send(2));
        handoff.close();
        let driven = catch_unwind(AssertUnwindSafe(|| handoff.drive(&pool())));
        let Err(panic) = driven else {
            panic!("drive panics");
        };
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"a write panicked"));
        assert_eq!(*written.lock().unwrap(), vec![0]);
    }
}
