//! Every problem code tierscore reports, in one place, with the exit code it leads to and what
//! it means.
//!
//! Codes are stable: schedulers and CI scripts match on them (`--log-format json`, `check
//! --format json`). Problems located in an analyst's file name their code through the constants
//! below; error types name theirs in `#[diagnostic(code(..))]`, which must be spelled as a path,
//! so [`CATALOG`] lists those too. A test keeps the catalog, the sources and the code table of
//! docs/exit-codes.md in step.

/// One code of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// The code as printed, e.g. `plan::unknown_column`.
    pub code: &'static str,
    /// The process exit code a failure with this code leads to (1 to 4; see docs/exit-codes.md).
    pub exit: u8,
    /// What went wrong, in a phrase.
    pub meaning: &'static str,
}

/// Declares each stage's codes as constants and lists every code in [`CATALOG`].
macro_rules! catalog {
    ($($stage:ident { $($name:ident = $code:literal, $exit:literal, $meaning:literal;)* })*) => {
        $(
            #[doc = concat!("Codes of problems found by `", stringify!($stage), "`.")]
            pub mod $stage {
                $(
                    #[doc = $meaning]
                    pub const $name: &str = $code;
                )*
            }
        )*
        /// Every code tierscore reports, in the order of docs/exit-codes.md.
        pub const CATALOG: &[Code] = &[
            $($(Code { code: $code, exit: $exit, meaning: $meaning },)*)*
        ];
    };
}

catalog! {
    pipeline {
        YAML = "pipeline::yaml", 1, "the pipeline file is not valid YAML";
        UNREADABLE = "pipeline::unreadable", 1, "the pipeline file cannot be read";
        UNKNOWN_KEY = "pipeline::unknown_key", 1, "a key the pipeline format does not have (a typo)";
        MISSING_KEY = "pipeline::missing_key", 1, "a required key is missing";
        VERSION = "pipeline::version", 1, "a pipeline format version this tierscore does not read";
        NAME = "pipeline::name", 1, "the pipeline's name is empty";
        SCORE = "pipeline::score", 1, "`score` has both `combine` and `script`, or neither";
        NORMALIZE = "pipeline::normalize", 1, "`score.normalize` without `combine: weighted_sum`";
        REJECT_FRACTION = "pipeline::reject_fraction", 1, "errors.max_reject_fraction is not within 0..=1";
        LIMITS = "pipeline::limits", 1, "a script limit is 0";
        NO_FACTORS = "pipeline::no_factors", 1, "the pipeline has no factors";
        TOO_MANY_FACTORS = "pipeline::too_many_factors", 1, "the pipeline has more than 1,000 factors";
        TOO_MANY_TIERS = "pipeline::too_many_tiers", 1, "`tiers.levels` lists more than 256 levels";
        FACTOR_NAME = "pipeline::factor_name", 1, "a factor name is empty, reserved or not a plain name";
        DUPLICATE_FACTOR = "pipeline::duplicate_factor", 1, "two factors have the same name";
        FACTOR_RULE = "pipeline::factor_rule", 1, "a factor has both `script` and `expr`, or neither";
        WEIGHT = "pipeline::weight", 1, "a factor's weight is missing or not usable";
        AHP = "pipeline::ahp", 1, "AHP judgements are incomplete, malformed or inconsistent";
        OUTPUT_COLUMN = "pipeline::output_column", 1, "an output column clashes with a factor or a column tierscore writes";
        DERIVE_NAME = "pipeline::derive_name", 1, "a derive column's name is empty, reserved or taken";
        DERIVE_KIND = "pipeline::derive_kind", 1, "a derive names no known kind";
        DERIVE_BUCKETS = "pipeline::derive_buckets", 1, "ntile buckets are missing or out of range";
        DERIVE_ORDER = "pipeline::derive_order", 1, "`order` given to a derive kind that takes none";
        TIERS = "pipeline::tiers", 1, "`tiers` is malformed (e.g. both `by` and `script`)";
        TIER_NAME = "pipeline::tier_name", 1, "a tier name cannot name an output folder, or is repeated";
        TIER_BOUND = "pipeline::tier_bound", 1, "a tier has a bound its rule does not use";
        TIER_CATCH_ALL = "pipeline::tier_catch_all", 1, "only the last tier level may omit its bound";
        TIER_ORDER = "pipeline::tier_order", 1, "tier bounds are not in descending order";
        OUTPUT_PATH = "pipeline::output_path", 1, "an output folder name is too long";
        REPORT_VALUE = "pipeline::report_value", 1, "`report.value` is not a factor, `score` or an output column";
        PARAM_NOT_FINITE = "pipeline::param_not_finite", 1, "a param holds an infinity or NaN";
        PATH_PARAM = "pipeline::path_param", 1, "a `${param}` in a path is unclosed, names no param or a list or map";
        NESTING = "pipeline::nesting", 1, "the pipeline file nests `[` or `{` deeper than 128 levels";
    }
    params {
        BAD_OVERRIDE = "params::bad_override", 2, "a `--set` value is not of the form KEY=VALUE";
        UNKNOWN = "params::unknown", 2, "`--set` names no param of the pipeline";
        WRONG_TYPE = "params::wrong_type", 2, "a `--set` value is not of the param's type";
    }
    rules {
        UNREADABLE = "rules::unreadable", 1, "a rule script cannot be read";
        TOO_LARGE = "rules::too_large", 1, "a rule script is larger than 1 MiB";
        COMPILE = "rules::compile", 1, "a rule does not compile (syntax, or a name that is nothing)";
        NOT_COMPILED = "rules::not_compiled", 1, "`--engine compiled` and a rule uses what the compiler does not cover";
        ASSIGN = "rules::assign", 1, "a rule assigns to params, a column or a factor";
        UNKNOWN_FUNCTION = "rules::unknown_function", 1, "a rule calls a function that does not exist";
        IMPORT = "rules::import", 1, "a rule's import cannot be loaded (outside the rules folder, missing, importing itself, or a broken module)";
        TOO_MANY_LETS = "rules::too_many_lets", 1, "a rule declares more than 1,000 variables (`let`/`const`)";
        TOO_MANY_FUNCTIONS = "rules::too_many_functions", 1, "a rule defines more than 1,000 functions (closures counted among them)";
        TOO_MANY_CASES = "rules::too_many_cases", 1, "a rule has more than 1,000 `switch` cases";
        TOO_MANY_PARAMS = "rules::too_many_params", 1, "a function or closure of a rule takes more than 64 parameters";
        TOO_MANY_ARGUMENTS = "rules::too_many_arguments", 1, "a call in a rule passes more than 64 arguments, more than any function takes";
        TOO_MANY_LINES = "rules::too_many_lines", 1, "a rule has more than 65,535 lines, the last rhai can locate";
        LINE_TOO_LONG = "rules::line_too_long", 1, "a line of a rule has more than 65,535 characters, the last column rhai can locate";
    }
    plan {
        UNKNOWN_COLUMN = "plan::unknown_column", 1, "a name that is no column of the input";
        RESERVED_COLUMN = "plan::reserved_column", 1, "an input column has a name tierscore writes";
        RENAME_CLASH = "plan::rename_clash", 1, "a rename gives two columns one name";
        ID_TYPE = "plan::id_type", 1, "the id column holds lists, structs, maps or only nulls";
        FACTOR_NAME = "plan::factor_name", 1, "a factor has the name of an input column";
        TIERS_OF = "plan::tiers_of", 1, "`tiers.of` names a column that is not numeric";
        OUTPUT = "plan::output", 1, "the output cannot be laid out";
        DERIVE_NAME = "plan::derive_name", 1, "a derive column has the name of an input column";
        DERIVE_TYPE = "plan::derive_type", 1, "a derive reads a column that is no number, decimal or date";
        UNKNOWN_PARAM = "plan::unknown_param", 1, "a rule reads a param the pipeline does not define";
        UNUSED_PARAM = "plan::unused_param", 1, "a param no rule reads";
        UNREADABLE_TYPE = "plan::unreadable_type", 1, "a rule reads a column of a type scripts cannot read";
        OPERAND_TYPE = "plan::operand_type", 1, "an operation on a column whose type cannot take it";
        NULLABLE = "plan::nullable", 1, "a rule uses a column that can be null without a default";
        REPORT_VALUE = "plan::report_value", 1, "`report.value` names a column that is not a number";
    }
    check {
        INPUT = "check::input", 1, "`check` cannot read the input, so names and types go unchecked";
        FINDINGS = "findings", 1, "`check` or `test` found problems or failing cases and reported them";
    }
    test {
        FILE = "test::file", 1, "a test cases file cannot be read or parsed";
    }
    source {
        MISSING = "source::missing", 3, "the input path does not exist";
        DUPLICATE_COLUMN = "source::duplicate_column", 3, "two columns of the input have one name";
        NO_FILES = "source::no_files", 3, "the input directory holds no Parquet files";
        IO = "source::io", 3, "the input cannot be read";
        CORRUPT = "source::corrupt", 3, "an input file is not readable Parquet";
        DECODE = "source::decode", 3, "an input file's data cannot be decoded";
        CODEC = "source::codec", 3, "an input file is compressed with a codec tierscore cannot read (LZO)";
        SCHEMA_MISMATCH = "source::schema_mismatch", 3, "input files disagree on a column's type";
        NOT_PARQUET = "source::not_parquet", 3, "an input file is CSV, JSON or another format, not Parquet";
    }
    store {
        BAD_URL = "store::bad_url", 3, "an object-storage URL names no store tierscore can use (scheme, bucket, settings)";
        DENIED = "store::denied", 3, "the object store refused the credentials, or none were found";
        REQUEST = "store::request", 3, "a request to the object store failed (endpoint unreachable, timeout, server error)";
    }
    derive {
        COMPUTE = "derive::compute", 3, "a derive column cannot be computed over this population";
    }
    run {
        TOO_MANY_REJECTS = "run::too_many_rejects", 3, "more rows rejected than errors.max_reject_fraction allows";
        ROW_FAILED = "run::row_failed", 3, "a row failed under `errors.on_row_error: fail`";
        ROWS_LOST = "run::rows_lost", 3, "rows in != rows scored + rows rejected: nothing is committed";
        WHOLE_RUN = "run::whole_run", 3, "ranking or normalising over the run failed";
        DERIVE_ATTACH = "run::derive_attach", 3, "derive columns cannot be attached to a batch";
        THREADS = "run::threads", 3, "the worker threads cannot be started";
        DUPLICATE_IDS = "run::duplicate_ids", 3, "ids occur more than once in the input (`input.unique_ids: false` allows it)";
        IDS = "run::ids", 3, "the ids cannot be read to check they are unique";
        NEEDS_WHOLE_INPUT = "run::needs_whole_input", 3, "a batch scored alone (Python `score`) with a pipeline whose steps need the whole input";
        BATCH_COLUMN = "run::batch_column", 3, "a batch scored alone lacks a column the rules read, or holds another type";
        TASK_RESULTS = "run::task_results", 3, "a distributed run's engine returned results that are not one per task with the task's rows: nothing is committed";
    }
    sink {
        BAD_TARGET = "sink::bad_target", 3, "the output path names no directory to write";
        NOT_OURS = "sink::not_ours", 3, "the output exists and is not a tierscore output";
        OVERLAP = "sink::overlap", 3, "the input and the output overlap";
        LOCKED = "sink::locked", 4, "another command (a run, or `report` rendering its page) is writing the same output; nothing was done (retry later)";
        IO = "sink::io", 3, "the output cannot be written";
        OPEN_FILES = "sink::open_files", 3, "the process may not open another file (one is open a tier while the output is written)";
        PARQUET = "sink::parquet", 3, "an output file cannot be encoded";
        ARROW = "sink::arrow", 3, "output rows cannot be assembled";
        UNWRITABLE_VALUE = "sink::unwritable_value", 3, "a passed-through value cannot be written in the output's type (a timestamp beyond year ±294,000)";
    }
    report {
        NOT_AN_OUTPUT = "report::not_an_output", 3, "`report` was given a directory that is not a tierscore output";
        UNREADABLE = "report::unreadable", 3, "an output's file cannot be read for the report";
        WRITE = "report::write", 3, "the report page cannot be written";
    }
    stdout {
        WRITE = "stdout::write", 3, "a report cannot be written to stdout (a full disk; a closed pipe is quiet)";
    }
    explain {
        NOT_FOUND = "explain::not_found", 3, "`explain` found no customer with the id";
    }
    diff {
        NOT_AN_OUTPUT = "diff::not_an_output", 3, "a directory is not a tierscore output";
        BAD_MANIFEST = "diff::bad_manifest", 3, "an output's manifest cannot be understood";
        ID_COLUMNS_DIFFER = "diff::id_columns_differ", 3, "the outputs use different id columns";
        ID_TYPES_DIFFER = "diff::id_types_differ", 3, "the id columns hold different kinds of id (integers and text, or two other types)";
        DUPLICATE_ID = "diff::duplicate_id", 3, "an id occurs twice in one output";
        UNREADABLE = "diff::unreadable", 3, "an output's data file cannot be read";
        UNEXPECTED_CONTENT = "diff::unexpected_content", 3, "a data file does not hold what its manifest says";
        WRITE = "diff::write", 3, "the report cannot be written to stdout";
    }
    gen {
        ZERO_ROWS = "gen::zero_rows", 3, "zero rows asked of the generator (the CLI refuses `--rows 0`, exit 2)";
        ZERO_ROW_GROUP_SIZE = "gen::zero_row_group_size", 3, "`gen --row-group-size 0`";
        TOO_MANY_ROWS = "gen::too_many_rows", 3, "more rows than 8-digit ids allow";
        TOO_MANY_ROW_GROUPS = "gen::too_many_row_groups", 3, "more than 10,000 row groups asked of the generator (`--row-group-size` too small)";
        CREATE_DIR = "gen::create_dir", 3, "the output's directory cannot be created";
        CREATE_FILE = "gen::create_file", 3, "the output file cannot be created";
        WRITE = "gen::write", 3, "the output file cannot be written";
        RENAME = "gen::rename", 3, "the finished file cannot be moved into place";
        EXISTS = "gen::exists", 3, "the output file exists (`--force` replaces it)";
        NOT_A_FILE = "gen::not_a_file", 3, "the output path is a directory, FIFO, device or link";
    }
}

#[cfg(test)]
mod tests;
