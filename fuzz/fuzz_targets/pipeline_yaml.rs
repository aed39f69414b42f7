//! Pipeline YAML loading: any text either loads, or fails with located problems that render,
//! and never panics or hangs. Each problem is rendered as `check` shows it, so a span outside
//! the text would panic here.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};
use tierscore::pipeline::{Pipeline, PipelineError};

fn render(diagnostic: &dyn Diagnostic) {
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor());
    let mut out = String::new();
    handler
        .render_report(&mut out, diagnostic)
        .expect("rendering into a String cannot fail");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/nonexistent/fuzz/pipeline.yaml");
    match Pipeline::parse_collecting(path, text.to_string()) {
        Ok((mut pipeline, problems)) => {
            for problem in &problems {
                render(problem);
            }
            // Overrides are checked against each param's type; none of these may panic.
            let _ = pipeline.set_params(&["x=1".to_string(), "top=abc".to_string()]);
        }
        Err(err @ PipelineError::Invalid(_)) => render(&err),
        Err(err) => panic!("text cannot be unreadable: {err}"),
    }
});
