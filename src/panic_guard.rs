//! A panic inside work on untrusted input — a rule's evaluation (a bug in rhai or a helper,
//! reached by some script), or the Parquet reader decoding a damaged file — becomes an error
//! of that work, never a crash of the run (exit 101).
//!
//! [`catch`] runs a closure and turns a panic into its message; [`install_panic_hook`] keeps
//! such caught panics off stderr (the caller reports them, as a row's rejection or a damaged
//! file) while any other panic is still printed by the default hook.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};

thread_local! {
    /// Whether this thread is inside [`catch`].
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Installs the panic hook that stays silent for panics [`catch`] turns into errors.
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
/// their state or stop).
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let outer = GUARDED.with(|g| g.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(outer));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_the_guard_is_restored() {
        assert_eq!(
            catch(|| -> u8 { panic!("attempt to shift left with overflow") }),
            Err("attempt to shift left with overflow".to_string())
        );
        assert_eq!(
            catch(|| -> u8 { panic!("row {}", 7) }),
            Err("row 7".to_string())
        );
        assert!(!GUARDED.with(Cell::get));
        assert_eq!(catch(|| 7), Ok(7));
    }
}
