//! Contract: a run split into tasks (`tierscore::exec::tasks`, what `tierscore.spark.run` and
//! `tierscore.ray.run` drive): one task per row group in run order, the tasks run one by one
//! here commit exactly the rows `tierscore run` commits (derive, ABC tiers), and results that
//! are not one per task, in order, with every row, are refused with nothing committed.

mod common;

use std::path::Path;

use arrow::array::{Array, RecordBatch};
use common::*;
use tierscore::exec::tasks::{Job, ScoredPart, Task};
use tierscore::exec::{RunOptions, Started};
use tierscore::pipeline::Pipeline;
use tierscore::plan::Plan;
use tierscore::rules::EngineChoice;
use tierscore::source::{Source, SourceError};

/// The job of the shipped pipeline `name` over `input`, as the driver loads it: the input's
/// pages walked when it is opened, as `run` walks them.
fn job(name: &str, input: &Path) -> Job {
    job_opened(name, input, Source::open).unwrap()
}

/// How a job's input is opened: [`Source::open`] or [`Source::open_footers`].
type Open = fn(&Path, &[(String, String)]) -> Result<Source, SourceError>;

/// The job of the shipped pipeline `name` over `input`, its input opened by `open`: the
/// driver's [`Source::open`], or an executor's [`Source::open_footers`] (Python's `Job.load`
/// without an output), whose tasks walk the pages they read.
fn job_opened(name: &str, input: &Path, open: Open) -> Result<Job, SourceError> {
    let mut pipeline =
        Pipeline::load(&repo().join("pipelines").join(format!("{name}.yaml"))).unwrap();
    pipeline.input.path = input.to_path_buf();
    let source = open(&pipeline.input.path, &pipeline.input.rename)?;
    let (plan, _) = Plan::build(&pipeline, &source, EngineChoice::Auto).unwrap();
    Ok(Job::new(pipeline, plan, source))
}

/// Every task of `job` through its passes, one after the other: the scored parts by task.
fn scored(job: &mut Job) -> Vec<(usize, Vec<ScoredPart>)> {
    let tasks = 0..job.tasks().len();
    if job.needs_derive() {
        let values: Vec<(usize, RecordBatch)> = tasks
            .clone()
            .map(|t| (t, job.derive_values(t).unwrap()))
            .collect();
        job.merge_derive(&values).unwrap();
    }
    if job.needs_ranking() {
        let values: Vec<(usize, RecordBatch)> = tasks
            .clone()
            .map(|t| (t, job.rank_values(t, &job.derived(t).unwrap()).unwrap()))
            .collect();
        job.merge_ranking(&values).unwrap();
    }
    tasks
        .map(|t| {
            let parts = job
                .score(t, &job.derived(t).unwrap(), &job.ranked(t).unwrap())
                .unwrap();
            (t, parts)
        })
        .collect()
}

fn options(target: &Path) -> RunOptions {
    RunOptions {
        target: tierscore::store::Location::Local(target.to_path_buf()),
        threads: 2,
        run_id: "distributed-test".into(),
        params_from_set: vec![],
        coverage: false,
    }
}

fn started() -> Started {
    Started {
        at: chrono::Utc::now(),
        plan_seconds: 0.0,
    }
}

/// `customer_id` and `tier` of every scored row of an output, sorted.
fn ids_and_tiers(out: &Path) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    for entry in glob::glob(&format!("{}/scored/tier=*/*.parquet", out.display())).unwrap() {
        let path = entry.unwrap();
        let tier = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()[5..]
            .to_string();
        let batch = read_parquet(&path);
        let ids = batch
            .column_by_name("customer_id")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap()
            .clone();
        for i in 0..ids.len() {
            rows.push((ids.value(i).to_string(), tier.clone()));
        }
    }
    rows.sort();
    rows
}

#[test]
fn tasks_are_the_row_groups_in_run_order() {
    let tmp = tempfile::tempdir().unwrap();
    gen(tmp.path(), "a.parquet", 1000, 1, 400);
    gen(tmp.path(), "b.parquet", 500, 2, 400);
    let job = job("abc", tmp.path());
    let task = |file, row_group, first_row, rows, position| Task {
        file,
        row_group,
        first_row,
        rows,
        position,
    };
    assert_eq!(
        job.tasks(),
        &[
            task(0, 0, 0, 400, 0),
            task(0, 1, 400, 400, 400),
            task(0, 2, 800, 200, 800),
            task(1, 0, 0, 400, 1000),
            task(1, 1, 400, 100, 1400),
        ]
    );
}

#[test]
fn tasks_run_one_by_one_commit_the_rows_and_tiers_of_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let input = gen(tmp.path(), "customers.parquet", 3000, 7, 700);
    for name in ["rfm", "abc"] {
        let cli = tmp.path().join(format!("{name}-cli"));
        let pipeline = repo().join("pipelines").join(format!("{name}.yaml"));
        run(
            tmp.path(),
            &[
                "run",
                pipeline.to_str().unwrap(),
                "--input",
                input.to_str().unwrap(),
                "--output",
                cli.to_str().unwrap(),
            ],
        )
        .expect_code(0);
        let mut job = job(name, &input);
        assert_eq!(job.tasks().len(), 5);
        let parts = scored(&mut job);
        let out = tmp.path().join(format!("{name}-tasks"));
        let manifest = job.commit(parts, &options(&out), started()).unwrap();

        assert_eq!(manifest.rows.input, 3000);
        assert_eq!(ids_and_tiers(&out), ids_and_tiers(&cli), "{name}");
        assert!(out.join("_SUCCESS").exists());
    }
}

#[test]
fn results_missing_repeated_or_short_of_rows_are_refused_and_nothing_is_committed() {
    let tmp = tempfile::tempdir().unwrap();
    let input = gen(tmp.path(), "customers.parquet", 1000, 3, 250);
    let mut job = job("abc", &input);
    let parts = scored(&mut job);
    let out = tmp.path().join("out");

    let refused = |job: &mut Job, results: Vec<(usize, Vec<ScoredPart>)>| {
        let err = job.commit(results, &options(&out), started()).unwrap_err();
        assert!(!out.exists(), "nothing committed");
        err.to_string()
    };
    let mut repeated = parts.clone();
    repeated[2] = parts[1].clone();
    assert_eq!(
        refused(&mut job, repeated),
        "the tasks' results do not match the tasks: result 2 is of task 1, not task 2; nothing was committed"
    );
    assert_eq!(
        refused(&mut job, parts[..3].to_vec()),
        "the tasks' results do not match the tasks: 3 results came back for 4 tasks; nothing was committed"
    );
    let mut short = parts.clone();
    short[3].1[0] = ScoredPart {
        rows: short[3].1[0].rows.slice(0, 10),
        scored: short[3].1[0].scored.slice(0, 10),
        rejects: short[3].1[0].rejects.clone(),
    };
    assert_eq!(
        refused(&mut job, short),
        "the tasks' results do not match the tasks: task 3 returned 10 rows, and its row group holds 250; nothing was committed"
    );
}

/// An executor's job reads its input's footers only and walks the pages each task reads, as it
/// reads them: the task whose row group holds a damaged page (the first page header of
/// `customer_id` in row group 2 forged as in `page_header_bool_list.parquet`: a list of 2^31
/// booleans, which parquet skips round an empty loop) fails with the error `run` refuses the
/// input with; the other tasks score. The driver's job refuses the input when loaded, as `run`.
#[test]
fn a_task_reading_a_damaged_page_fails_with_the_error_of_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let input = gen(tmp.path(), "customers.parquet", 2000, 7, 500);
    let mut bytes = std::fs::read(&input).unwrap();
    let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&bytes::Bytes::from(bytes.clone()))
        .unwrap();
    let chunk = metadata
        .row_group(2)
        .columns()
        .iter()
        .find(|chunk| chunk.column_path().string() == "customer_id")
        .unwrap();
    let start = chunk.byte_range().0 as usize;
    bytes[start..start + 8].copy_from_slice(&[0xF9, 0xF1, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x00]);
    std::fs::write(&input, &bytes).unwrap();
    let pipeline = repo().join("pipelines/customer_value.yaml");
    let refused = run(
        tmp.path(),
        &[
            "run",
            pipeline.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            tmp.path().join("out").to_str().unwrap(),
        ],
    );
    refused.expect_code(3);
    assert_eq!(
        refused.headline(),
        format!(
            "{} is not a readable Parquet file: Parquet error: a page header of column \
             \"customer_id\" in row group 2 is damaged: a list, map or text in it claims more \
             bytes than its chunk holds",
            input.display()
        )
    );
    let driver = job_opened("customer_value", &input, Source::open);
    assert_eq!(
        driver.err().map(|err| err.to_string()),
        Some(refused.headline())
    );

    let executor = job_opened("customer_value", &input, Source::open_footers).unwrap();
    assert_eq!(executor.tasks().len(), 4);
    let score = |task| {
        executor.score(
            task,
            &executor.derived(task).unwrap(),
            &executor.ranked(task).unwrap(),
        )
    };
    for task in [0, 1, 3] {
        let rows: usize = score(task).unwrap().iter().map(|p| p.rows.num_rows()).sum();
        assert_eq!(rows, 500, "task {task}");
    }
    assert_eq!(score(2).unwrap_err().to_string(), refused.headline());
}
