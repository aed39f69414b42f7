//! The Parquet input path: any bytes, as an input file, either open and decode into batches or
//! fail with a source error; never a panic or a hang.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use tierscore::source::{footer_sha256, Scan, Source};

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile::Builder::new()
        .suffix(".parquet")
        .tempfile()
        .expect("a temporary file");
    file.write_all(data)
        .expect("the temporary file is writable");
    file.flush().expect("the temporary file is writable");
    let _ = footer_sha256(file.path(), data.len() as u64);
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
