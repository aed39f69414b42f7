//! A panic inside a rule's evaluation — a bug in rhai or in a helper, reached by some script —
//! becomes a failure of the rows being evaluated, never a crash of the run (exit 101).
//!
//! [`catch`] runs a closure and turns a panic into a message; [`install_panic_hook`] keeps
//! such caught panics off stderr (they are reported as the rows' rejections instead) while any
//! other panic is still printed by the default hook.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};

thread_local! {
    /// Whether this thread is inside [`catch`].
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Installs the panic hook that stays silent for panics [`catch`] turns into failures.
pub fn install_panic_hook() {
    let default = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if !GUARDED.with(Cell::get) {
            default(info);
        }
    }));
}

/// Runs `f`; a panic inside it becomes `Err` with the panic's message.
///
/// Whatever `f` was changing must be treated as broken after an `Err` (the callers rebuild
/// their per-row state).
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let outer = GUARDED.with(|g| g.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(outer));
    result.map_err(|payload| {
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_string());
        format!(
            "the script engine failed internally on this row ({}); the row is rejected",
            crate::rules::cap_message(&text, 200)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_message_and_the_guard_is_restored() {
        let err = catch(|| -> u8 { panic!("unreachable: cannot assign") }).unwrap_err();
        assert_eq!(
            err,
            "the script engine failed internally on this row (unreachable: cannot assign); \
             the row is rejected"
        );
        assert!(!GUARDED.with(Cell::get));
        assert_eq!(catch(|| 7), Ok(7));
    }
}
