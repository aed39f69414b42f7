//! The Parquet input path: any bytes, as an input file, either open and decode into batches or
//! fail with a source error; never a panic or a hang.
#![no_main]

use std::io::Write;
use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use tierscore::source::{Scan, Source};

fuzz_target!(|data: &[u8]| {
    // As in `run`: a panic of parquet's decoder the reader turns into a damaged-file error is no
    // crash; any other panic still reaches libFuzzer's hook.
    static HOOK: Once = Once::new();
    HOOK.call_once(tierscore::panic_guard::install_panic_hook);
    let mut file = tempfile::Builder::new()
        .suffix(".parquet")
        .tempfile()
        .expect("a temporary file");
    file.write_all(data)
        .expect("the temporary file is writable");
    file.flush().expect("the temporary file is writable");
    let Ok(source) = Source::open(file.path(), &[]) else {
        return;
    };
    let columns: Vec<String> = source
        .schema()
        .fields()
        .iter()
        .map(|field| field.name().clone())
        .collect();
    for batch in Scan::all(&source).batches(&columns) {
        if batch.is_err() {
            break;
        }
    }
});
