//! Ordered work on several states side by side. Each [`Chain`] (an output file being written,
//! the report's counts) takes its jobs one at a time, in the order they were added; the jobs
//! of different chains run at once on the worker pool.
//!
//! Before, a batch's rows were encoded into every tier's file and counted, and only then could
//! the next batch's start: each batch waited for its largest tier's file, and that chain of
//! waits set a two-thread run's pace (busy 94% of the time). Now a file takes its next rows as
//! soon as it is done with the last ones, whatever the other files are doing.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::SinkError;

/// The jobs of a run's chains, counted: how many are not done, and the first failure.
pub struct Chains {
    state: Mutex<Outstanding>,
    changed: Condvar,
    /// Each job runs when it is added, on the adding thread (a pool of one thread, which must
    /// not wait for jobs of its own).
    inline: bool,
}

#[derive(Default)]
struct Outstanding {
    /// Jobs added and not yet done.
    jobs: usize,
    /// Pool jobs draining a chain, not yet ended (each holds its chain).
    drainers: usize,
    /// Batches of rows some job still holds ([`Chains::hold`]).
    held: usize,
    /// The first error, until it is returned.
    failed: Option<SinkError>,
    /// Whether a job panicked (the panic hook has shown where).
    panicked: bool,
    /// Whether a job failed or panicked: the jobs after it are dropped.
    stopped: bool,
}

impl Chains {
    /// No jobs yet; `inline` as [`Chains`] says.
    pub fn new(inline: bool) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(Outstanding::default()),
            changed: Condvar::new(),
            inline,
        })
    }

    /// The counts. No job runs while the lock is held, so they are whole even if poisoned.
    fn lock(&self) -> MutexGuard<'_, Outstanding> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until at most `most` batches are held by jobs not yet done ([`Chains::hold`]);
    /// the first error, once a job has failed (nothing more should be added then).
    ///
    /// # Panics
    /// If a job panicked.
    pub fn wait_for_room(&self, most: usize) -> Result<(), SinkError> {
        let state = self
            .changed
            .wait_while(self.lock(), |s| s.held > most && !s.stopped)
            .unwrap_or_else(PoisonError::into_inner);
        Self::outcome(state)
    }

    /// A batch of rows about to be handed to jobs: each job given a clone of the token holds
    /// the batch, and [`Chains::wait_for_room`] counts the batches held until the last clone
    /// is dropped. What bounds the rows waiting in the chains, however they share them out.
    pub fn hold(self: &Arc<Self>) -> Arc<Held> {
        self.lock().held += 1;
        Arc::new(Held(Arc::clone(self)))
    }

    /// Drops every job not yet begun and waits for those running: for a writer giving up
    /// after an error, so that no job outlives the run. Never panics.
    pub fn abandon(&self) {
        self.lock().stopped = true;
        drop(self.idle());
    }

    /// Waits until every job is done (or dropped after a failure) and every chain is free to
    /// be taken apart ([`Chain::into_state`]); the first error.
    ///
    /// # Panics
    /// If a job panicked.
    pub fn finish(&self) -> Result<(), SinkError> {
        Self::outcome(self.idle())
    }

    /// Waits until no job is left and no drainer holds a chain; the counts then.
    fn idle(&self) -> MutexGuard<'_, Outstanding> {
        self.changed
            .wait_while(self.lock(), |s| s.jobs > 0 || s.drainers > 0)
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn outcome(mut state: MutexGuard<'_, Outstanding>) -> Result<(), SinkError> {
        assert!(!state.panicked, "a write panicked");
        state.failed.take().map_or(Ok(()), Err)
    }

    /// Whether the jobs still to run should be dropped.
    fn stopped(&self) -> bool {
        self.lock().stopped
    }

    /// Counts one job done, with how it ended (`None`: it panicked).
    fn done(&self, ended: Option<Result<(), SinkError>>) {
        let mut state = self.lock();
        state.jobs -= 1;
        match ended {
            Some(Ok(())) => {}
            Some(Err(err)) => {
                if !state.stopped {
                    state.failed = Some(err);
                }
                state.stopped = true;
            }
            None => {
                state.panicked = true;
                state.stopped = true;
            }
        }
        drop(state);
        self.changed.notify_all();
    }

    /// Changes a count and wakes the waiters.
    fn count(&self, change: impl FnOnce(&mut Outstanding)) {
        change(&mut self.lock());
        self.changed.notify_all();
    }
}

/// A batch held by jobs (see [`Chains::hold`]); counted until dropped.
pub struct Held(Arc<Chains>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.count(|s| s.held -= 1);
    }
}

/// A job of a chain: what to do with its state.
type Job<S> = Box<dyn FnOnce(&mut S) -> Result<(), SinkError> + Send>;

/// One state and the jobs waiting for it, taken in order by one pool job at a time.
pub struct Chain<S> {
    chains: Arc<Chains>,
    queue: Mutex<Queue<S>>,
}

struct Queue<S> {
    /// The state; out while a job has it.
    state: Option<S>,
    jobs: VecDeque<Job<S>>,
    /// Whether a pool job is draining the queue.
    draining: bool,
}

impl<S: Send + 'static> Chain<S> {
    /// A chain of `state`, its jobs counted in `chains`.
    pub fn new(chains: &Arc<Chains>, state: S) -> Arc<Self> {
        Arc::new(Self {
            chains: Arc::clone(chains),
            queue: Mutex::new(Queue {
                state: Some(state),
                jobs: VecDeque::new(),
                draining: false,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queue<S>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `job` behind the chain's others, holding the batch `held` until it is done or
    /// dropped: run now on this thread when the chains are inline, otherwise on the pool this
    /// is called in (a pool job drains the chain unless one already does). Dropped once a job
    /// of any chain has failed. A job must not use the
    /// pool itself: a pool thread may be waiting for the chains ([`Chains::wait_for_room`]),
    /// and a job waiting inside rayon could take that thread's work and never come back.
    pub fn push(
        self: &Arc<Self>,
        held: &Arc<Held>,
        job: impl FnOnce(&mut S) -> Result<(), SinkError> + Send + 'static,
    ) {
        let held = Arc::clone(held);
        let job = move |state: &mut S| {
            let _held = held;
            job(state)
        };
        self.chains.lock().jobs += 1;
        if self.chains.inline {
            let ended = if self.chains.stopped() {
                Ok(())
            } else {
                let mut queue = self.lock();
                job(queue.state.as_mut().expect("no job holds the state inline"))
            };
            self.chains.done(Some(ended));
            return;
        }
        debug_assert!(
            rayon::current_thread_index().is_some(),
            "chain jobs go to the pool they are added from"
        );
        let mut queue = self.lock();
        queue.jobs.push_back(Box::new(job));
        if queue.draining {
            return;
        }
        queue.draining = true;
        drop(queue);
        self.chains.count(|s| s.drainers += 1);
        let chain = Arc::clone(self);
        rayon::spawn(move || {
            let chains = Arc::clone(&chain.chains);
            chain.drain();
            drop(chain);
            chains.count(|s| s.drainers -= 1);
        });
    }

    /// Runs the queued jobs in order until none is left.
    fn drain(&self) {
        loop {
            let mut queue = self.lock();
            let Some(job) = queue.jobs.pop_front() else {
                queue.draining = false;
                return;
            };
            let mut state = queue.state.take().expect("one drainer at a time");
            drop(queue);
            let ended = if self.chains.stopped() {
                Some(Ok(()))
            } else {
                catch_unwind(AssertUnwindSafe(|| job(&mut state))).ok()
            };
            self.lock().state = Some(state);
            self.chains.done(ended);
        }
    }

    /// The state, once [`Chains::finish`] has returned (every job done).
    pub fn into_state(self: Arc<Self>) -> S {
        let chain = Arc::into_inner(self).expect("Chains::finish waits for every drainer");
        let queue = chain
            .queue
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        queue.state.expect("no job holds the state once finished")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    fn failure(job: u32) -> SinkError {
        SinkError::Arrow(arrow::error::ArrowError::IoError(
            format!("job {job}"),
            std::io::ErrorKind::Other.into(),
        ))
    }

    /// Three chains of 40 jobs each on two threads, the jobs taking 0-300 µs in a pattern
    /// unlike their order: each chain's jobs run in the order they were added, and all of them.
    #[test]
    fn each_chain_takes_its_jobs_in_order_while_chains_run_side_by_side() {
        let pool = pool(2);
        let states = pool.install(|| {
            let chains = Chains::new(false);
            let logs: Vec<_> = (0..3).map(|_| Chain::new(&chains, Vec::new())).collect();
            let most_held = Arc::new(Mutex::new(0));
            for job in 0..40u32 {
                chains.wait_for_room(2).unwrap();
                let held = chains.hold();
                let mut most = most_held.lock().unwrap();
                *most = (*most).max(chains.lock().held);
                drop(most);
                for log in &logs {
                    log.push(&held, move |seen: &mut Vec<u32>| {
                        std::thread::sleep(Duration::from_micros(u64::from(job % 7) * 50));
                        seen.push(job);
                        Ok(())
                    });
                }
            }
            // Never more than the two batches of room and the one being added.
            assert!(*most_held.lock().unwrap() <= 3);
            chains.finish().unwrap();
            logs.into_iter().map(Chain::into_state).collect::<Vec<_>>()
        });
        for seen in states {
            assert_eq!(seen, (0..40).collect::<Vec<_>>());
        }
    }

    /// A failed job: the jobs after it, of its chain and the others, are dropped, and
    /// `wait_for_room` and `finish` return its error (once).
    #[test]
    fn a_failed_job_drops_the_jobs_after_it_and_is_returned() {
        for inline in [true, false] {
            let pool = pool(if inline { 1 } else { 2 });
            let (waited, finished, states) = pool.install(|| {
                let chains = Chains::new(inline);
                let a = Chain::new(&chains, Vec::new());
                let b = Chain::new(&chains, Vec::new());
                for job in 0..3u32 {
                    a.push(&chains.hold(), move |seen: &mut Vec<u32>| {
                        seen.push(job);
                        if job == 1 {
                            return Err(failure(job));
                        }
                        Ok(())
                    });
                }
                let waited = {
                    let _held = chains.hold();
                    while chains.lock().jobs > 0 {
                        std::thread::yield_now();
                    }
                    chains.wait_for_room(usize::MAX).map_err(|e| e.to_string())
                };
                b.push(&chains.hold(), |seen: &mut Vec<u32>| {
                    seen.push(9);
                    Ok(())
                });
                let finished = chains.finish().map_err(|e| e.to_string());
                (waited, finished, (a.into_state(), b.into_state()))
            });
            assert_eq!(waited, Err(failure(1).to_string()), "inline {inline}");
            assert_eq!(
                finished,
                Ok(()),
                "inline {inline}: the error is returned once"
            );
            assert_eq!(states, (vec![0, 1], vec![]), "inline {inline}");
        }
    }

    /// A panicking job on the pool: `finish` panics instead of waiting for ever, and the jobs
    /// after it are dropped.
    #[test]
    fn a_panicking_job_is_raised_by_finish() {
        let pool = pool(2);
        let ran_after = Arc::new(Mutex::new(false));
        let seen = Arc::clone(&ran_after);
        let outcome = pool.install(|| {
            let chains = Chains::new(false);
            let chain = Chain::new(&chains, ());
            chain.push(&chains.hold(), |_: &mut ()| panic!("job 0"));
            chain.push(&chains.hold(), move |_: &mut ()| {
                *seen.lock().unwrap() = true;
                Ok(())
            });
            catch_unwind(AssertUnwindSafe(|| chains.finish()))
        });
        let panic = outcome.expect_err("finish raises the panic");
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"a write panicked"));
        assert!(!*ran_after.lock().unwrap());
    }

    /// Abandoning drops the jobs not yet begun and returns once the running one is done.
    #[test]
    fn abandoning_drops_the_jobs_not_begun_and_waits_for_the_running_one() {
        let pool = pool(2);
        let log = pool.install(|| {
            let chains = Chains::new(false);
            let chain = Chain::new(&chains, Vec::new());
            for job in 0..20u32 {
                chain.push(&chains.hold(), move |seen: &mut Vec<u32>| {
                    std::thread::sleep(Duration::from_millis(5));
                    seen.push(job);
                    Ok(())
                });
            }
            std::thread::sleep(Duration::from_millis(12));
            chains.abandon();
            let state = chains.lock();
            assert_eq!((state.jobs, state.drainers), (0, 0));
            drop(state);
            chain.into_state()
        });
        assert!((1..20).contains(&log.len()), "{log:?}");
        assert_eq!(log, (0..log.len() as u32).collect::<Vec<_>>());
    }

    /// Inline, each job runs as it is added, on the adding thread.
    #[test]
    fn inline_jobs_run_as_they_are_added() {
        let chains = Chains::new(true);
        let chain = Chain::new(&chains, Vec::new());
        let here = std::thread::current().id();
        for job in 0..3u32 {
            chain.push(&chains.hold(), move |seen: &mut Vec<u32>| {
                assert_eq!(std::thread::current().id(), here);
                seen.push(job);
                Ok(())
            });
            assert_eq!(chains.lock().jobs, 0);
        }
        chains.finish().unwrap();
        assert_eq!(chain.into_state(), vec![0, 1, 2]);
    }
}
