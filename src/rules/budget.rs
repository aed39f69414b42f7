//! Per-row budgets for wall time and memory, measured, not estimated.
//!
//! Memory is counted by [`CountingAllocator`], the process's global allocator: the system
//! allocator plus a per-thread count of bytes allocated minus bytes freed. A row's use is the
//! growth of its worker thread's count while the row runs, so whatever the script builds —
//! strings, arrays, maps filled by index assignment — is counted as it is allocated.
//! [`RowBudget`] holds one row's start and is checked by the interpreter as the script runs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    /// Bytes this thread allocated minus bytes it freed (may go negative: memory allocated on
    /// one thread can be freed on another).
    static NET_BYTES: Cell<i64> = const { Cell::new(0) };
}

/// The system allocator, counting each thread's net allocation.
pub struct CountingAllocator;

fn count(delta: i64) {
    // `try_with`: during thread teardown the count is gone, and that is fine.
    let _ = NET_BYTES.try_with(|n| n.set(n.get().wrapping_add(delta)));
}

// SAFETY: every call is passed unchanged to `System`; the bookkeeping only touches a
// const-initialised thread-local `Cell<i64>`, which neither allocates nor panics.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(layout.size() as i64);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(layout.size() as i64);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count(new_size as i64 - layout.size() as i64);
        }
        new
    }
}

/// This thread's net allocated bytes so far.
pub fn thread_net_bytes() -> i64 {
    NET_BYTES.try_with(Cell::get).unwrap_or(0)
}

/// Which budget a row went over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// `limits.max_row_ms`.
    Time,
    /// `limits.max_row_memory`.
    Memory,
}

/// One row's budgets, started when the row starts on its worker thread.
///
/// The row's clock starts at its first check, not when the row starts: the interpreter checks
/// every 256 operations, so a row shorter than that never reads the clock (reading it for each
/// row was 1.2% of an interpreted run's samples), and a longer one is timed from its 256th
/// operation, microseconds in (what one operation can do is bounded by the size limits). An
/// `import`, whose module rhai compiles without counting operations, starts the clock first.
#[derive(Debug, Clone, Copy)]
pub struct RowBudget {
    started: Option<Instant>,
    bytes_at_start: i64,
    max_time: Duration,
    max_bytes: i64,
}

impl RowBudget {
    /// Starts a row on this thread with at most `max_ms` of wall time and `max_bytes` of memory.
    pub fn start(max_ms: u64, max_bytes: u64) -> Self {
        Self {
            started: None,
            bytes_at_start: thread_net_bytes(),
            max_time: Duration::from_millis(max_ms),
            max_bytes: i64::try_from(max_bytes).unwrap_or(i64::MAX),
        }
    }

    /// Which budget the row has gone over, if any (call on the row's thread); the first call
    /// starts the row's clock.
    pub fn exceeded(&mut self) -> Option<Exceeded> {
        if thread_net_bytes().saturating_sub(self.bytes_at_start) > self.max_bytes {
            return Some(Exceeded::Memory);
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        (started.elapsed() > self.max_time).then_some(Exceeded::Time)
    }
}

thread_local! {
    /// The budget of the row this thread is evaluating, if any.
    static ROW: Cell<Option<RowBudget>> = const { Cell::new(None) };
}

/// Runs `f` as one row under `budget`: [`current_row_exceeded`] checks against it meanwhile.
pub fn within<T>(budget: RowBudget, f: impl FnOnce() -> T) -> T {
    /// Puts the outer budget back, also when `f` panics.
    struct Restore(Option<RowBudget>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0;
            let _ = ROW.try_with(|row| row.set(outer));
        }
    }
    let _restore = Restore(ROW.with(|row| row.replace(Some(budget))));
    f()
}

/// Starts the clock of the row this thread is evaluating, if it has not started yet: for work
/// the interpreter counts no operations for (compiling an imported module).
pub fn start_row_clock() {
    let _ = ROW.try_with(|row| {
        if let Some(mut budget) = row.get() {
            budget.started.get_or_insert_with(Instant::now);
            row.set(Some(budget));
        }
    });
}

/// Which budget the row this thread is evaluating has gone over, if any.
pub fn current_row_exceeded() -> Option<Exceeded> {
    ROW.with(|row| {
        let mut budget = row.get()?;
        let exceeded = budget.exceeded();
        row.set(Some(budget));
        exceeded
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_over_its_memory_budget_is_seen_and_freed_memory_is_not_counted() {
        let mut budget = RowBudget::start(60_000, 1 << 20);
        let small = vec![0u8; 1 << 10];
        assert_eq!(budget.exceeded(), None);
        let big = vec![1u8; 4 << 20];
        assert_eq!(budget.exceeded(), Some(Exceeded::Memory));
        drop(big);
        assert_eq!(budget.exceeded(), None);
        drop(small);
    }

    #[test]
    fn a_row_over_its_time_budget_is_seen() {
        let mut budget = RowBudget::start(50, u64::MAX);
        // The first check starts the clock: the time before it is not counted.
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(budget.exceeded(), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(budget.exceeded(), Some(Exceeded::Time));
    }
}
