//! A panic inside a rule's evaluation — a bug in rhai or in a helper, reached by some script —
//! becomes a failure of the rows being evaluated, never a crash of the run (exit 101).
//!
//! [`catch`] runs a closure and turns a panic into the rows' message, through
//! [`crate::panic_guard`], whose hook keeps such caught panics off stderr.

/// Runs `f`; a panic inside it becomes `Err` with a message for the rows being evaluated
/// ([`crate::panic_guard::catch`]).
///
/// Whatever `f` was changing must be treated as broken after an `Err` (the callers rebuild
/// their per-row state).
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    crate::panic_guard::catch(f).map_err(|text| {
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
    fn a_panic_becomes_the_rows_message() {
        let err = catch(|| -> u8 { panic!("unreachable: cannot assign") }).unwrap_err();
        assert_eq!(
            err,
            "the script engine failed internally on this row (unreachable: cannot assign); \
             the row is rejected"
        );
        assert_eq!(catch(|| 7), Ok(7));
    }
}
