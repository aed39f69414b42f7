//! Batches worked on side by side and taken back in run order.
//!
//! A run's batches go through per-batch work that needs no other batch (scoring, laying out the
//! output rows) and then through steps that must see them in order (counting, the reject
//! budget, encoding into files). With [`in_order`], each batch's per-batch work is one job on
//! the worker pool, a few batches ahead of the one taken back: a core that would wait for the
//! ordered steps takes the next batch instead.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::Scope;

use rayon::ThreadPool;

/// Runs `work` on each of `items` and hands the results to `take` in the items' order.
///
/// With `ahead` above 1, up to `ahead` items are worked on at once, each as one job on `pool`,
/// while this thread only waits and takes the results in order. With `ahead` of 0 or 1, or
/// when called on one of `pool`'s own threads (which must not block waiting for its jobs),
/// everything runs in turn on this thread.
///
/// `take` returns whether to go on. The first error (of an item, or of `take`) ends the run:
/// the results of the items before a failed item are taken first, so the error a caller sees
/// is the one it would see taking every item in turn. Once the taking stops, the jobs not yet
/// begun skip their work. A panic in `work` is raised again here.
pub fn in_order<T: Send, R: Send, E>(
    pool: &ThreadPool,
    ahead: usize,
    items: impl Iterator<Item = Result<T, E>>,
    work: impl Fn(T) -> R + Sync,
    mut take: impl FnMut(R) -> Result<bool, E>,
) -> Result<(), E> {
    if ahead <= 1 || pool.current_thread_index().is_some() {
        for item in items {
            if !take(work(item?))? {
                break;
            }
        }
        return Ok(());
    }
    let work = &work;
    let stopped = &AtomicBool::new(false);
    pool.in_place_scope(|scope| {
        // Each job's result, `None` if it skipped its work; in the items' order.
        let mut pending: VecDeque<Receiver<Option<R>>> = VecDeque::with_capacity(ahead);
        // The next result in order; `None` also if its job panicked (the scope raises the
        // panic again when it ends).
        let next = |pending: &mut VecDeque<Receiver<Option<R>>>| {
            pending.pop_front()?.recv().ok().flatten()
        };
        let take_all = || -> Result<(), E> {
            // An item's error, raised once the results before it are taken.
            let mut failed = None;
            for item in items {
                let item = match item {
                    Ok(item) => item,
                    Err(err) => {
                        failed = Some(err);
                        break;
                    }
                };
                let (done, result) = sync_channel(1);
                scope.spawn(move |_| {
                    let result = (!stopped.load(Ordering::Relaxed)).then(|| work(item));
                    // The receiver is gone only once the taking stopped; nothing waits for it.
                    let _ = done.send(result);
                });
                pending.push_back(result);
                if pending.len() == ahead {
                    let Some(result) = next(&mut pending) else {
                        return Ok(());
                    };
                    if !take(result)? {
                        return Ok(());
                    }
                }
            }
            while let Some(result) = next(&mut pending) {
                if !take(result)? {
                    return Ok(());
                }
            }
            failed.map_or(Ok(()), Err)
        };
        let taken = take_all();
        stopped.store(true, Ordering::Relaxed);
        taken
    })
}

/// Batches a pass's lanes work on beyond one a thread, so cores stay busy while the batch
/// taken back waits for its counting or for room at the writer. Measured at 10M rows on 2
/// threads (BENCHMARKS.md): with the writer's jobs queued behind the lanes, two spare lanes
/// ran 4% faster than none; since lanes write what waits first ([`super::handoff`]), one spare lane
/// is as fast as two (wall 0.996x and 1.002x in two sets) for 22 MiB less, none 1.006x.
pub const SPARE_LANES: usize = 1;

/// A pass of a run over `items` in lanes on `pool`, taken back in order by `take`. With more
/// than one thread, the items are read ahead on a thread of `scope`'s own ([`read_ahead`]) and
/// worked on `threads + SPARE_LANES` at a time, while the calling thread, off the pool, only
/// takes the results: a thread waiting for an item or for room further on would otherwise hold
/// one of the pool's threads idle (while, in the scoring pass, the writer's encoding waits for
/// one). With one thread, everything runs in turn on the pool's thread, so `--threads 1` uses
/// one core.
pub fn pass<'scope, T: Send + 'scope, R: Send, E: Send + 'scope>(
    pool: &ThreadPool,
    scope: &'scope Scope<'scope, '_>,
    items: impl Iterator<Item = Result<T, E>> + Send + 'scope,
    work: impl Fn(T) -> R + Sync + Send,
    take: impl FnMut(R) -> Result<bool, E> + Send,
) -> Result<(), E> {
    let threads = pool.current_num_threads();
    if threads > 1 {
        in_order(
            pool,
            threads + SPARE_LANES,
            read_ahead(scope, items),
            work,
            take,
        )
    } else {
        pool.install(|| in_order(pool, 1, items, work, take))
    }
}

/// `items` taken on a thread of `scope`'s own, ahead of the caller (two waiting in a channel,
/// a third as the thread waits to hand it over): a pass's decoding overlaps its lanes, and the
/// thread handing items to [`in_order`] only waits. The thread stops once the caller drops the
/// iterator.
pub fn read_ahead<'scope, T: Send + 'scope>(
    scope: &'scope Scope<'scope, '_>,
    items: impl Iterator<Item = T> + Send + 'scope,
) -> impl Iterator<Item = T> + Send + 'scope {
    let (sender, receiver) = sync_channel(2);
    scope.spawn(move || {
        for item in items {
            if sender.send(item).is_err() {
                break;
            }
        }
    });
    receiver.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    /// Items 0 to 9, item `at` an error (`item {at}`).
    fn failing_at(at: u64) -> impl Iterator<Item = Result<u64, String>> {
        (0..10u64).map(move |i| {
            if i == at {
                Err(format!("item {i}"))
            } else {
                Ok(i)
            }
        })
    }

    fn pool(threads: usize) -> ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    /// Items finish out of order (each sleeps 0-4 ms, in a different pattern than their
    /// order); they are still taken in order.
    #[test]
    fn results_are_taken_in_the_items_order_whatever_finishes_first() {
        for (threads, ahead) in [(1, 1), (2, 2), (2, 4), (4, 3)] {
            let mut taken = Vec::new();
            let result: Result<(), String> = in_order(
                &pool(threads),
                ahead,
                (0..20u64).map(Ok),
                |i| {
                    std::thread::sleep(Duration::from_millis((20 - i) % 5));
                    i * 10
                },
                |r| {
                    taken.push(r);
                    Ok(true)
                },
            );
            assert_eq!(result, Ok(()));
            assert_eq!(
                taken,
                (0..20).map(|i| i * 10).collect::<Vec<_>>(),
                "{ahead}"
            );
        }
    }

    /// What `take` is given when `in_order` runs the identity over `items` on 2 threads, with
    /// `take` failing on `fail_at`; and how the run ends.
    fn taken(
        ahead: usize,
        items: impl Iterator<Item = Result<u64, String>>,
        fail_at: Option<u64>,
    ) -> (Result<(), String>, Vec<u64>) {
        let mut taken = Vec::new();
        let result = in_order(
            &pool(2),
            ahead,
            items,
            |i| i,
            |r| {
                taken.push(r);
                if fail_at == Some(r) {
                    Err(format!("take {r}"))
                } else {
                    Ok(true)
                }
            },
        );
        (result, taken)
    }

    /// An item's error comes after the results of the items before it, and nothing after it
    /// is taken.
    #[test]
    fn an_items_error_comes_after_the_results_before_it() {
        for ahead in [1, 3] {
            let (result, taken) = taken(ahead, failing_at(6), None);
            assert_eq!(result, Err("item 6".to_string()));
            assert_eq!(taken, vec![0, 1, 2, 3, 4, 5], "{ahead}");
        }
    }

    /// `take`'s error stops the run at that result, and an earlier `take` error wins over an
    /// item's later one.
    #[test]
    fn takes_error_stops_the_run_there() {
        for ahead in [1, 4] {
            let (result, taken) = taken(ahead, failing_at(5), Some(3));
            assert_eq!(result, Err("take 3".to_string()));
            assert_eq!(taken, vec![0, 1, 2, 3], "{ahead}");
        }
    }

    /// `take` returning false stops taking: no later result is taken.
    #[test]
    fn take_returning_false_stops_taking() {
        for ahead in [1, 4] {
            let mut taken = Vec::new();
            let result: Result<(), String> = in_order(
                &pool(2),
                ahead,
                (0..10u64).map(Ok),
                |i| i,
                |r| {
                    taken.push(r);
                    Ok(r < 2)
                },
            );
            assert_eq!(result, Ok(()));
            assert_eq!(taken, vec![0, 1, 2], "{ahead}");
        }
    }

    /// Once `take` fails, the jobs not yet begun skip their work. One thread works on 4 items
    /// of 100 ms each; `take` fails on the first. The thread may begin the second before the
    /// failure is seen (it is free as soon as the first is done), never the third or fourth,
    /// unless this thread waits 100 ms to take a result it was waiting for.
    #[test]
    fn jobs_not_yet_begun_skip_their_work_once_the_taking_stops() {
        let worked = std::sync::atomic::AtomicUsize::new(0);
        let result = in_order(
            &pool(1),
            4,
            (0..4u64).map(Ok::<_, String>),
            |i| {
                worked.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
                i
            },
            |r| Err(format!("take {r}")),
        );
        assert_eq!(result, Err("take 0".to_string()));
        let worked = worked.load(Ordering::Relaxed);
        assert!((1..=2).contains(&worked), "{worked} items worked on");
    }

    /// A panic in `work` reaches the caller, whether the items are worked on in turn or at once.
    #[test]
    fn a_panic_in_work_reaches_the_caller() {
        for ahead in [1, 3] {
            let mut taken = Vec::new();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                in_order(
                    &pool(2),
                    ahead,
                    (0..10u64).map(Ok::<_, String>),
                    |i| {
                        assert!(i != 4, "work failed on item 4");
                        i
                    },
                    |r| {
                        taken.push(r);
                        Ok(true)
                    },
                )
            }));
            assert!(outcome.is_err(), "{ahead}");
            assert_eq!(taken, vec![0, 1, 2, 3], "{ahead}");
        }
    }

    /// Called on one of the pool's own threads, the items are worked on in turn (a pool thread
    /// blocked waiting for its own jobs could wait for ever on a one-thread pool).
    #[test]
    fn on_a_pool_thread_the_items_are_worked_on_in_turn() {
        let pool = pool(1);
        let taken = pool.install(|| {
            let mut taken = Vec::new();
            in_order(
                &pool,
                4,
                (0..5u64).map(Ok::<_, String>),
                |i| i + 1,
                |r| {
                    taken.push(r);
                    Ok(true)
                },
            )
            .unwrap();
            taken
        });
        assert_eq!(taken, vec![1, 2, 3, 4, 5]);
    }

    /// Items read ahead come back in order; once the caller drops the iterator, the reading
    /// thread stops after the few it had read ahead (the scope could not end otherwise).
    #[test]
    fn read_ahead_gives_the_items_in_order_and_stops_when_dropped() {
        let produced = AtomicU64::new(0);
        let first: Vec<u64> = std::thread::scope(|scope| {
            let items = (0..1_000_000u64).inspect(|_| {
                produced.fetch_add(1, Ordering::Relaxed);
            });
            read_ahead(scope, items).take(5).collect()
        });
        assert_eq!(first, [0, 1, 2, 3, 4]);
        let produced = produced.load(Ordering::Relaxed);
        assert!((5..=8).contains(&produced), "{produced} read");
    }
}
