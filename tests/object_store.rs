//! Input and output in object storage, against a local S3 server (moto's, started here on
//! 127.0.0.1; `pip install "moto[server]"`). Without moto these tests fail, they never skip.
//!
//! The output written to S3 equals the output written to disk; a run killed at every step of
//! the object-store commit (docs/object-storage.md) leaves the previous output readable through
//! `_SUCCESS` and its manifest, its own parts named by nothing, and its lock, which the next
//! run reports until it is deleted; that run then clears what the killed one left.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::*;
use sha2::{Digest, Sha256};
use tierscore::store::{Location, Remote};

/// A moto S3 server on a free port of 127.0.0.1, with the process environment pointing the
/// AWS settings at it; stopped (and the environment released to the next test) when dropped.
struct Moto {
    server: Child,
    _env: MutexGuard<'static, ()>,
}

/// One moto at a time: the AWS settings live in the process environment.
static ENV: Mutex<()> = Mutex::new(());

impl Moto {
    fn start() -> Self {
        let env = ENV.lock().unwrap_or_else(|p| p.into_inner());
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // moto logs every request: into a file, as a pipe nobody reads would fill and stall it.
        let log = tempfile::tempfile().unwrap();
        let server = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(log.try_clone().unwrap())
            .spawn()
            .expect("python3 runs moto's S3 server");
        let mut moto = Moto { server, _env: env };
        let endpoint = format!("http://127.0.0.1:{port}");
        for (key, value) in [
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
        ] {
            std::env::set_var(key, value);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = moto.server.try_wait().unwrap() {
                let mut stderr = String::new();
                let mut log = log.try_clone().unwrap();
                std::io::Seek::rewind(&mut log).unwrap();
                log.read_to_string(&mut stderr).unwrap();
                panic!(
                    "moto's S3 server did not start ({status}); install it with pip install \"moto[server]\":\n{stderr}"
                );
            }
            assert!(Instant::now() < deadline, "moto did not listen in 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto.create_bucket(port, "lake");
        moto
    }

    /// Creates `bucket` with a plain path-style PUT (moto does not check signatures).
    fn create_bucket(&self, port: u16, bucket: &str) {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "create bucket: {answer}"
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The object or prefix at `url`.
fn remote(url: &str) -> Remote {
    match Location::of(Path::new(url)).unwrap() {
        Location::Remote(remote) => remote,
        Location::Local(_) => panic!("{url} is no object-store URL"),
    }
}

/// Every object below `url`, relative key -> bytes.
fn objects(url: &str) -> BTreeMap<String, Vec<u8>> {
    let root = remote(url);
    root.list()
        .unwrap()
        .into_iter()
        .map(|(object, _)| {
            let bytes = object.read().unwrap().unwrap().to_vec();
            (root.relative(&object).unwrap(), bytes)
        })
        .collect()
}

/// The committed output at `url`: the run folder its `_SUCCESS` names, checked to hold every
/// file its manifest lists with the listed size and sha256, copied to `into` (a local folder
/// in the local layout). Returns the run folder.
fn download_committed(url: &str, into: &Path) -> String {
    let all = objects(url);
    let run_dir = String::from_utf8(all["_SUCCESS"].clone()).unwrap();
    let run_dir = run_dir.trim_end_matches('\n');
    assert!(
        run_dir.starts_with("_runs/") && run_dir.ends_with('/'),
        "{run_dir}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&all[&format!("{run_dir}_manifest.json")]).unwrap();
    let rejects = &manifest["output"]["rejects"];
    for file in manifest["output"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .chain([rejects])
    {
        let path = file["path"].as_str().unwrap();
        let bytes = all
            .get(&format!("{run_dir}{path}"))
            .unwrap_or_else(|| panic!("{path} listed but not in the store"));
        assert_eq!(bytes.len() as u64, file["bytes"], "size of {path}");
        assert_eq!(
            hex::encode(Sha256::digest(bytes)),
            file["sha256"].as_str().unwrap(),
            "sha256 of {path}"
        );
    }
    for (key, bytes) in &all {
        if let Some(relative) = key.strip_prefix(run_dir) {
            write_bytes(&into.join(relative), bytes);
        }
    }
    run_dir.to_string()
}

fn write_bytes(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Each scored file of a local output (relative path -> its rows).
fn scored(out: &Path) -> BTreeMap<String, arrow::array::RecordBatch> {
    snapshot(out)
        .into_keys()
        .filter(|name| name.starts_with("scored/"))
        .map(|name| {
            let rows = read_parquet(&out.join(&name));
            (name, rows)
        })
        .collect()
}

/// The customer_value pipeline with its rules, reading `customers.parquet` into `scores`.
fn setup(dir: &Path) {
    copy_example(dir);
    gen(dir, "customers.parquet", 20_000, 7, 4_000);
}

#[test]
fn output_in_s3_equals_the_output_on_disk_and_input_reads_from_s3() {
    let _moto = Moto::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    remote("s3://lake/in/customers/part-0.parquet")
        .upload(&dir.join("customers.parquet"))
        .unwrap();
    let pipeline = "pipelines/customer_value.yaml";
    let local_input = dir.join("customers.parquet").display().to_string();

    run(
        dir,
        &[
            "--quiet",
            "run",
            pipeline,
            "--input",
            &local_input,
            "--output",
            "on_disk",
        ],
    )
    .expect_code(0);
    run(
        dir,
        &[
            "--quiet",
            "run",
            pipeline,
            "--input",
            "s3://lake/in/customers/",
            "--output",
            "s3://lake/out/cv",
        ],
    )
    .expect_code(0);

    let on_disk = dir.join("on_disk");
    let from_s3 = dir.join("from_s3");
    download_committed("s3://lake/out/cv", &from_s3);
    assert_eq!(scored(&from_s3), scored(&on_disk));
    assert_eq!(scored(&on_disk).len(), 5, "one file per tier");
    assert_eq!(
        read_parquet(&from_s3.join("rejects/part-00000.parquet")),
        read_parquet(&on_disk.join("rejects/part-00000.parquet"))
    );
    let (s3, disk) = (manifest(&from_s3), manifest(&on_disk));
    for key in [
        "rows",
        "tiers",
        "score_quantiles",
        "factors",
        "input_fingerprint",
    ] {
        assert_eq!(s3[key], disk[key], "manifest {key}");
    }
    assert_eq!(
        s3["inputs"][0]["path"],
        "s3://lake/in/customers/part-0.parquet"
    );
    assert_eq!(s3["output"]["path"], "s3://lake/out/cv");
    let names = |m: &serde_json::Value| -> Vec<(String, u64)> {
        m["output"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["path"].as_str().unwrap().to_string(),
                    f["rows"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(names(&s3), names(&disk));

    // A second run replaces the first: one run folder, `_SUCCESS`, nothing else.
    run(
        dir,
        &[
            "--quiet",
            "run",
            pipeline,
            "--input",
            "s3://lake/in/customers/part-0.parquet",
            "--output",
            "s3://lake/out/cv",
        ],
    )
    .expect_code(0);
    let runs: BTreeSet<String> = objects("s3://lake/out/cv")
        .into_keys()
        .map(|key| key.split('/').take(2).collect::<Vec<_>>().join("/"))
        .collect();
    let second = download_committed("s3://lake/out/cv", &dir.join("second"));
    assert_eq!(
        runs,
        BTreeSet::from([
            "_SUCCESS".to_string(),
            second.trim_end_matches('/').to_string()
        ])
    );
    assert_eq!(scored(&dir.join("second")), scored(&on_disk));

    // The output prefix inside the input prefix is refused, as locally.
    let inside = run(
        dir,
        &[
            "--quiet",
            "run",
            pipeline,
            "--input",
            "s3://lake/in/",
            "--output",
            "s3://lake/in/scores",
        ],
    );
    inside.expect_code(3);
    assert_eq!(
        inside.headline(),
        "input s3://lake/in/ and output s3://lake/in/scores overlap: the output is inside the input prefix, so the next run would read it as input"
    );
}

#[test]
fn a_prefix_holding_other_data_is_refused_untouched() {
    let _moto = Moto::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    remote("s3://lake/data/notes.txt")
        .write(b"mine".to_vec())
        .unwrap();
    let result = run(
        dir,
        &[
            "--quiet",
            "run",
            "pipelines/customer_value.yaml",
            "--output",
            "s3://lake/data",
        ],
    );
    result.expect_code(3);
    assert!(
        result.stderr.starts_with("sink::not_ours\n"),
        "{}",
        result.stderr
    );
    assert_eq!(
        result.headline(),
        "output s3://lake/data exists and is not a tierscore output (it holds notes.txt; a tierscore output in object storage holds only _SUCCESS, _tierscore.lock and _runs/); refusing to replace it"
    );
    assert_eq!(
        objects("s3://lake/data"),
        BTreeMap::from([("notes.txt".to_string(), b"mine".to_vec())])
    );
}

/// `tierscore run` of the pipeline into `s3://lake/out/cv`, pausing at `point`.
fn spawn_run(dir: &Path, input: &str, point: &str) -> KillOnDrop {
    let child = Command::new(env!("CARGO_BIN_EXE_tierscore"))
        .args([
            "--quiet",
            "run",
            "pipelines/customer_value.yaml",
            "--input",
            input,
        ])
        .args(["--output", "s3://lake/out/cv"])
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("TIERSCORE_TEST_FAULT")
        .env("TIERSCORE_TEST_PAUSE", point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tierscore");
    KillOnDrop(child)
}

#[test]
fn a_run_killed_during_the_commit_leaves_the_previous_output_readable_and_its_parts_unnamed() {
    let _moto = Moto::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    gen(dir, "small.parquet", 300, 3, 300);
    let old = [
        "--quiet",
        "run",
        "pipelines/customer_value.yaml",
        "--input",
        "small.parquet",
        "--output",
        "s3://lake/out/cv",
    ];
    run(dir, &old).expect_code(0);

    // Up to `_SUCCESS` the old output is the committed one; from it on the new one is. The
    // commit uploads 8 files: 5 tiers, the rejects, the report, the manifest (last).
    let points = [
        ("locked", "old"),
        ("staged", "old"),
        ("uploaded 1", "old"),
        ("uploaded 7", "old"),
        ("synced", "old"),
        ("swapped", "new"),
        ("cleaned", "new"),
    ];
    for (point, expected) in points {
        let before = objects("s3://lake/out/cv");
        let committed =
            download_committed("s3://lake/out/cv", &dir.join(format!("before {point}")));
        kill_at_pause(spawn_run(dir, "customers.parquet", point), point);

        let after = objects("s3://lake/out/cv");
        let now = download_committed("s3://lake/out/cv", &dir.join(format!("after {point}")));
        let rows = manifest(&dir.join(format!("after {point}")))["rows"]["input"].clone();
        match expected {
            "old" => {
                assert_eq!(now, committed, "{point}: _SUCCESS names the old run");
                assert_eq!(rows, 300, "{point}");
                // Everything of the old output is there as it was.
                for (key, bytes) in before.iter().filter(|(k, _)| k.starts_with(&committed)) {
                    assert_eq!(after.get(key), Some(bytes), "{point}: {key}");
                }
            }
            _ => {
                assert_ne!(now, committed, "{point}: _SUCCESS names the new run");
                assert_eq!(rows, 20_000, "{point}");
            }
        }
        // The killed run's lock stays; the next run reports it (exit 4) and writes nothing.
        assert!(after.contains_key("_tierscore.lock"), "{point}: lock left");
        let locked = run(dir, &old);
        locked.expect_code(4);
        assert!(
            locked.headline().starts_with("another tierscore run is writing s3://lake/out/cv (its lock s3://lake/out/cv/_tierscore.lock holds {\"pid\":")
                && locked.headline().contains(",\"run_id\":\"20"),
            "{point}: {}",
            locked.headline()
        );
        assert_eq!(
            objects("s3://lake/out/cv"),
            after,
            "{point}: the refused run wrote"
        );

        // Deleting the lock lets the next run commit; it clears what the killed run left.
        remote("s3://lake/out/cv/_tierscore.lock").delete().unwrap();
        run(dir, &old).expect_code(0);
        let next = download_committed("s3://lake/out/cv", &dir.join(format!("next {point}")));
        let left: BTreeSet<String> = objects("s3://lake/out/cv")
            .into_keys()
            .filter(|key| !key.starts_with(&next))
            .collect();
        assert_eq!(
            left,
            BTreeSet::from(["_SUCCESS".to_string()]),
            "{point}: leftovers"
        );
    }
}

#[test]
fn an_unreachable_store_fails_with_store_request() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let result = tierscore(dir)
        .args([
            "--quiet",
            "run",
            "pipelines/customer_value.yaml",
            "--input",
            "s3://lake/in/",
        ])
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}"))
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(3));
    let stderr = String::from_utf8(result.stderr).unwrap();
    assert!(stderr.starts_with("store::request\n"), "{stderr}");
    assert!(
        headline(&stderr).starts_with("cannot inspect s3://lake/in: "),
        "{stderr}"
    );
    assert!(headline(&stderr).contains("Connection refused"), "{stderr}");
}

/// Credentials, region and endpoint from an AWS profile (the shared files and `AWS_PROFILE`),
/// none of them in the environment: the run reads and commits through the profile's endpoint.
#[test]
fn an_aws_profile_gives_the_keys_region_and_endpoint() {
    let _moto = Moto::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    remote("s3://lake/in/customers/part-0.parquet")
        .upload(&dir.join("customers.parquet"))
        .unwrap();
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    write_bytes(
        &dir.join("aws/credentials"),
        b"[default]\naws_access_key_id = wrong\n\n[analytics]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    );
    write_bytes(
        &dir.join("aws/config"),
        format!("[profile analytics]\nregion = us-east-1\nendpoint_url = {endpoint}\n").as_bytes(),
    );
    let result = tierscore(dir)
        .args([
            "--quiet",
            "run",
            "pipelines/customer_value.yaml",
            "--input",
            "s3://lake/in/customers/",
            "--output",
            "s3://lake/out/profile",
        ])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_REGION")
        .env("AWS_PROFILE", "analytics")
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("aws/credentials"))
        .env("AWS_CONFIG_FILE", dir.join("aws/config"))
        .output()
        .unwrap();
    assert_eq!(
        result.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let run_dir = download_committed("s3://lake/out/profile", &dir.join("committed"));
    let manifest = manifest(&dir.join("committed"));
    assert_eq!(manifest["rows"]["input"], 20_000);
    assert!(run_dir.starts_with("_runs/"), "{run_dir}");
}

/// gzip, brotli and Hadoop's LZ4 inputs are read from object storage as from disk: each
/// column chunk's pages are walked as it is fetched, as a local file's are when it is opened
/// (they were refused from object storage before, `source::codec`).
#[test]
fn gzip_brotli_and_lz4_inputs_in_object_storage_score_as_on_disk() {
    use parquet::basic::Compression;
    let _moto = Moto::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    let customers = read_parquet(&dir.join("customers.parquet"));
    let pipeline = "pipelines/customer_value.yaml";
    for (name, codec) in [
        ("gzip", Compression::GZIP(Default::default())),
        ("brotli", Compression::BROTLI(Default::default())),
        ("lz4", Compression::LZ4),
    ] {
        let props = parquet::file::properties::WriterProperties::builder()
            .set_compression(codec)
            .set_max_row_group_row_count(Some(4_000))
            .build();
        let file = dir.join(format!("customers_{name}.parquet"));
        let mut writer = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&file).unwrap(),
            customers.schema(),
            Some(props),
        )
        .unwrap();
        writer.write(&customers).unwrap();
        writer.close().unwrap();
        let found = codecs(&file);
        assert_eq!(found, vec![codec; found.len()], "{name}");
        assert_eq!(
            found.len(),
            5 * customers.num_columns(),
            "{name}: five row groups"
        );
        let url = format!("s3://lake/{name}/part-0.parquet");
        remote(&url).upload(&file).unwrap();
        let (on_disk, from_s3) = (format!("{name}_on_disk"), format!("{name}_from_s3"));
        let local = file.display().to_string();
        for (input, output) in [(local.as_str(), &on_disk), (url.as_str(), &from_s3)] {
            run(
                dir,
                &[
                    "--quiet", "run", pipeline, "--input", input, "--output", output,
                ],
            )
            .expect_code(0);
        }
        let (on_disk, from_s3) = (dir.join(on_disk), dir.join(from_s3));
        assert_eq!(scored(&from_s3), scored(&on_disk), "{name}");
        assert_eq!(scored(&on_disk).len(), 5, "{name}: one file per tier");
        assert_eq!(
            read_parquet(&from_s3.join("rejects/part-00000.parquet")),
            read_parquet(&on_disk.join("rejects/part-00000.parquet")),
            "{name}"
        );
        let (s3, disk) = (manifest(&from_s3), manifest(&on_disk));
        for key in ["rows", "tiers", "score_quantiles", "factors"] {
            assert_eq!(s3[key], disk[key], "{name}: manifest {key}");
        }
        assert_eq!(s3["rows"]["input"], 20_000, "{name}");
    }
}

/// The forged page of [`a_remote_page_claiming_more_than_256_mib_is_refused_as_a_local_one_is`]:
/// in `bytes`, the Parquet file at `path`, column `s`'s one page made to claim `claim` bytes
/// inflated. Its stored size shrinks by as many bytes as the header grows, so the chunk keeps
/// its length and the footer stays right; the page's data, cut short, is never decoded.
fn claim_inflated(path: &Path, claim: i64) -> Vec<u8> {
    let page = one_page(path, 1);
    let bytes = std::fs::read(path).unwrap();
    let fields = |stored: i64| -> Vec<u8> {
        let mut out = vec![0x15];
        out.extend(to_zigzag_varint(page.fields[0]));
        out.push(0x15);
        out.extend(to_zigzag_varint(claim));
        out.push(0x15);
        out.extend(to_zigzag_varint(stored));
        out
    };
    let before = page.fields_end - page.start;
    let grown = fields(page.fields[2]).len() - before;
    let forged = fields(page.fields[2] - grown as i64);
    assert_eq!(
        forged.len(),
        before + grown,
        "the stored size keeps its length"
    );
    let end = page.data + page.fields[2] as usize;
    let mut out = bytes[..page.start].to_vec();
    out.extend(forged);
    out.extend(&bytes[page.fields_end..end - grown]);
    out.extend(&bytes[end..]);
    assert_eq!(out.len(), bytes.len());
    out
}

/// parquet sets aside (for snappy, zeroed) the size a page claims before it decompresses; a
/// remote file's page claiming more than 256 MiB is refused before that, as the same file on
/// disk is, in the same words (the file named by its URL). Unwalked, the remote file failed
/// as undecodable (`source::decode`) once parquet had set the 256 MiB aside.
#[test]
fn a_remote_page_claiming_more_than_256_mib_is_refused_as_a_local_one_is() {
    let _moto = Moto::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = dir.join("bomb.parquet");
    write_texts(&path, parquet::basic::Compression::SNAPPY);
    std::fs::write(&path, claim_inflated(&path, (256 << 20) + 1)).unwrap();
    write(dir, "p.yaml", TEXTS_PIPELINE);
    remote("s3://lake/claim/part-0.parquet")
        .upload(&path)
        .unwrap();
    let why = "is not a readable Parquet file: Parquet error: a page of column \"s\" in row \
               group 0 is damaged: it claims to inflate to 268435457 bytes; tierscore reads \
               pages of at most 268435456 bytes";
    for (input, name) in [
        ("bomb.parquet", "bomb.parquet"),
        ("s3://lake/claim/", "s3://lake/claim/part-0.parquet"),
    ] {
        let result = run(dir, &["run", "p.yaml", "--input", input]);
        result.expect_code(3);
        assert!(
            result.stderr.contains("source::corrupt"),
            "{}",
            result.stderr
        );
        assert_eq!(result.headline(), format!("{name} {why}"));
        assert!(!dir.join("out").exists(), "{input}: nothing written");
    }
    // `explain` finds the damage in the same words: locally when the file is opened, remotely
    // when it reads the row group that holds the id.
    write(
        dir,
        "remote.yaml",
        &TEXTS_PIPELINE.replace("path: bomb.parquet", "path: s3://lake/claim/"),
    );
    for (pipeline, name) in [
        ("p.yaml", "bomb.parquet"),
        ("remote.yaml", "s3://lake/claim/part-0.parquet"),
    ] {
        let result = run(dir, &["explain", pipeline, "--id", "7"]);
        result.expect_code(3);
        assert_eq!(result.headline(), format!("{name} {why}"), "{pipeline}");
    }
}

/// Runs `tierscore ARGS` in `dir` (as `run` does) through a small Python process, and returns
/// what it gave with its peak resident memory in KiB. Linux counts in a process's peak the
/// peak of the process it was started from (`exec` keeps the larger), so `wait4` on a child of
/// this test process reports at least this process's own peak (58 MB here); Python's is a few.
fn run_measured(dir: &Path, args: &[&str]) -> (Outcome, u64) {
    let peak = tempfile::NamedTempFile::new().unwrap();
    let measure = "import resource, subprocess, sys\n\
                   code = subprocess.call(sys.argv[2:])\n\
                   peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n\
                   open(sys.argv[1], 'w').write(str(peak))\n\
                   sys.exit(code if code >= 0 else 128 - code)\n";
    let mut command = std::process::Command::new("python3");
    command
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("TIERSCORE_TEST_FAULT")
        .args(["-c", measure])
        .arg(peak.path())
        .arg(env!("CARGO_BIN_EXE_tierscore"))
        .args(args);
    for name in TIERSCORE_ENV {
        command.env_remove(name);
    }
    let output = command.output().unwrap();
    let outcome = Outcome {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    };
    let peak = std::fs::read_to_string(peak.path()).unwrap();
    (outcome, peak.trim().parse().unwrap())
}

/// A brotli page inflating far past its header ("a decompression bomb": parquet's brotli
/// decoder reads to the end whatever the header says) is refused from object storage as from
/// disk, in the same words, and the run's memory stays bounded: the page's 512 MiB are
/// inflated by the walk into nothing, stopping one byte past the claim. Measured (debug
/// build): 52 MB on disk, 63 MB from the store; unwalked, 788 MB from the store.
#[test]
fn a_remote_brotli_bomb_is_refused_with_bounded_memory() {
    use std::io::Write;
    let _moto = Moto::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = dir.join("bomb.parquet");
    write_texts(
        &path,
        parquet::basic::Compression::BROTLI(Default::default()),
    );
    write(dir, "p.yaml", TEXTS_PIPELINE);
    // 512 MiB of zeros in a few hundred bytes (quality 5, a 16 MiB window).
    let bomb = {
        let mut out = Vec::new();
        let mut encoder = brotli::CompressorWriter::new(&mut out, 1 << 16, 5, 24);
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..512 {
            encoder.write_all(&zeros).unwrap();
        }
        drop(encoder);
        out
    };
    let page = one_page(&path, 1);
    let (claimed, stored) = (page.fields[1], page.fields[2] as usize);
    assert!(bomb.len() < stored, "the bomb ({}) fits", bomb.len());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[page.data..page.data + stored].fill(0);
    bytes[page.data..page.data + bomb.len()].copy_from_slice(&bomb);
    std::fs::write(&path, &bytes).unwrap();
    remote("s3://lake/bomb/part-0.parquet")
        .upload(&path)
        .unwrap();
    let why = format!(
        "is not a readable Parquet file: Parquet error: a page of column \"s\" in row group 0 is \
         damaged: it inflates to more than the {claimed} bytes its header gives"
    );
    for (input, name) in [
        ("bomb.parquet", "bomb.parquet"),
        ("s3://lake/bomb/", "s3://lake/bomb/part-0.parquet"),
    ] {
        let (result, peak_kib) = run_measured(dir, &["run", "p.yaml", "--input", input]);
        assert!(peak_kib < 150_000, "{input}: peak RSS {peak_kib} KiB");
        result.expect_code(3);
        assert_eq!(result.headline(), format!("{name} {why}"));
        assert!(!dir.join("out").exists(), "{input}: nothing written");
    }
}
