//! Batches worked on side by side and taken back in run order.
//!
//! A run's batches go through per-batch work that needs no other batch (scoring, laying out the
//! output rows) and then through steps that must see them in order (counting, the reject
//! budget, encoding into files). With [`in_order`], each batch's per-batch work is one job on
//! the worker pool, a few batches ahead of the one taken back: a core that would wait for the
//! ordered steps takes the next batch instead, and each batch stays on one core from scoring to
//! layout.

use std::collections::VecDeque;
use std::sync::mpsc::{sync_channel, Receiver};

use rayon::ThreadPool;

/// Runs `work` on each of `items` and hands the results to `take` in the items' order.
///
/// With `ahead` above 1, up to `ahead` items are worked on at once, each as one job on `pool`,
/// while this thread (not one of the pool's: it only waits and takes) takes the results in
/// order. With `ahead` of 0 or 1, everything runs in turn on this thread.
///
/// `take` returns whether to go on. The first error (of an item, or of `take`) ends the run:
/// the results of the items before a failed item are taken first, so the error a caller sees
/// is the one it would see taking every item in turn. A panic in `work` is raised again here.
pub fn in_order<T: Send, R: Send, E>(
    pool: &ThreadPool,
    ahead: usize,
    items: impl Iterator<Item = Result<T, E>>,
    work: impl Fn(T) -> R + Sync,
    mut take: impl FnMut(R) -> Result<bool, E>,
) -> Result<(), E> {
    if ahead <= 1 {
        for item in items {
            if !take(work(item?))? {
                break;
            }
        }
        return Ok(());
    }
    let work = &work;
    pool.in_place_scope(|scope| {
        let mut pending: VecDeque<Receiver<R>> = VecDeque::with_capacity(ahead);
        // The next result in order; `None` if its job panicked (the scope raises the panic
        // again when it ends).
        let next = |pending: &mut VecDeque<Receiver<R>>| pending.pop_front()?.recv().ok();
        for item in items {
            let item = match item {
                Ok(item) => item,
                Err(err) => {
                    while let Some(result) = next(&mut pending) {
                        if !take(result)? {
                            return Ok(());
                        }
                    }
                    return Err(err);
                }
            };
            let (done, result) = sync_channel(1);
            scope.spawn(move |_| {
                // The receiver is gone only once the taking stopped; the result is not needed.
                let _ = done.send(work(item));
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
                break;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pool(threads: usize) -> ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    /// Later items finish first (earlier ones sleep longer); they are still taken in order.
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

    /// An item's error comes after the results of the items before it, and nothing after it
    /// is taken.
    #[test]
    fn an_items_error_comes_after_the_results_before_it() {
        for ahead in [1, 3] {
            let mut taken = Vec::new();
            let items = (0..10u64).map(|i| {
                if i == 6 {
                    Err(format!("item {i}"))
                } else {
                    Ok(i)
                }
            });
            let result = in_order(
                &pool(2),
                ahead,
                items,
                |i| i,
                |r| {
                    taken.push(r);
                    Ok(true)
                },
            );
            assert_eq!(result, Err("item 6".to_string()));
            assert_eq!(taken, vec![0, 1, 2, 3, 4, 5], "{ahead}");
        }
    }

    /// `take`'s error stops the run at that result, and an earlier `take` error wins over an
    /// item's later one.
    #[test]
    fn takes_error_stops_the_run_there() {
        for ahead in [1, 4] {
            let mut taken = Vec::new();
            let items = (0..10u64).map(|i| {
                if i == 5 {
                    Err(format!("item {i}"))
                } else {
                    Ok(i)
                }
            });
            let result = in_order(
                &pool(2),
                ahead,
                items,
                |i| i,
                |r| {
                    taken.push(r);
                    if r == 3 {
                        Err(format!("take {r}"))
                    } else {
                        Ok(true)
                    }
                },
            );
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
}
