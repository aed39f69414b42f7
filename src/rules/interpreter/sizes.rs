//! What a script or module may hold of the constructs rhai compiles in quadratic time.
//!
//! rhai's compiler looks each name up through the variables declared before it, each function
//! through the functions before it, each `switch` case through the cases before it and each
//! parameter through the parameters before it, so a file with tens of thousands of any of them
//! takes minutes to compile (a debug build: 20,000 `let`s 39 s, 20,000 functions 45 s, 20,000
//! cases 22 s, one function of 20,000 parameters 7 s). Honest rules hold tens. They are
//! counted on rhai's own tokens, in one pass, before anything is compiled: rules when they are
//! parsed, modules when they are first imported.
//!
//! rhai also counts lines and a line's characters in 16 bits, stopping at 65,535: past them
//! every problem would be told at a wrong position, so a file may not go past them either.

use std::fmt;

use rhai::{Engine, Position, Token};

use crate::human;

/// Variables (`let` and `const`) a rule or module may declare.
pub const MAX_LETS: usize = 1_000;

/// Functions (`fn`) a rule or module may define; rhai counts closures among them and refuses
/// the next one while compiling.
pub const MAX_FUNCTIONS: usize = 1_000;

/// `switch` cases (`=>`) a rule or module may have, all its `switch`es together.
pub const MAX_SWITCH_CASES: usize = 1_000;

/// Parameters one function or closure may take.
pub const MAX_PARAMS: usize = 64;

/// Arguments one call may pass: as many as a function may take ([`MAX_PARAMS`]; no helper
/// takes more), so a call past it could never run. rhai's optimiser also folds a call's
/// arguments in time with their square: `max(0, 1, …, 9999)` took 36 s to check in a debug
/// build.
pub const MAX_ARGUMENTS: usize = MAX_PARAMS;

/// Lines a file may have: the last line rhai can name.
pub const MAX_LINES: usize = u16::MAX as usize;

/// Characters one line may have: the last column rhai can name.
pub const MAX_LINE_CHARS: usize = u16::MAX as usize;

/// A construct a file holds more of than it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    /// `let` and `const`.
    Lets,
    /// `fn`.
    Functions,
    /// `=>`.
    SwitchCases,
    /// One function's or closure's parameters.
    Params,
    /// One call's arguments.
    Arguments,
    /// Lines of the file.
    Lines,
    /// Characters of one line.
    LineChars,
}

impl Over {
    /// The most a file may hold.
    pub fn limit(self) -> usize {
        match self {
            Over::Lets => MAX_LETS,
            Over::Functions => MAX_FUNCTIONS,
            Over::SwitchCases => MAX_SWITCH_CASES,
            Over::Params => MAX_PARAMS,
            Over::Arguments => MAX_ARGUMENTS,
            Over::Lines => MAX_LINES,
            Over::LineChars => MAX_LINE_CHARS,
        }
    }

    /// What is counted, for messages.
    pub fn what(self) -> &'static str {
        match self {
            Over::Lets => "variables (`let`, `const`)",
            Over::Functions => "functions",
            Over::SwitchCases => "`switch` cases",
            Over::Params => "parameters in one function or closure",
            Over::Arguments => "arguments in one call",
            Over::Lines => "lines",
            Over::LineChars => "characters in one line",
        }
    }

    /// How a file may keep under the limit.
    pub fn help(self) -> &'static str {
        match self {
            Over::Lets => "compute a list with a loop, or split the rule into factors",
            Over::Functions => "split the functions into modules",
            Over::SwitchCases => "look the value up in a map, or split the rule into factors",
            Over::Params => "pass a map or an array instead",
            Over::Arguments => "pass an array instead",
            Over::Lines => "split the rule into factors, or its functions into modules",
            Over::LineChars => "break the line",
        }
    }

    /// Why there is a limit.
    pub fn why(self) -> &'static str {
        match self {
            Over::Lines | Over::LineChars => {
                "rhai's positions stop there, so a problem past it could not be located"
            }
            _ => "rhai compiles them in time with the square of their number",
        }
    }

    /// What the position given with the limit points at.
    pub fn here(self) -> &'static str {
        match self {
            Over::Lines => "the file goes on past this line",
            Over::LineChars => "the line goes on past this character",
            _ => "this is the next",
        }
    }
}

impl fmt::Display for Over {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "more than {} {}",
            human::count(self.limit() as u64),
            self.what()
        )
    }
}

/// A run of `name, name, …` that may be a parameter list.
#[derive(Debug, Clone, Copy)]
struct Run {
    commas: usize,
    /// Opened by a `|` (a closure's, if a `|` closes it) rather than by a `fn`'s `(`.
    from_pipe: bool,
    /// Where the comma past the limit is, once met.
    over: Option<Position>,
}

impl Run {
    fn new(from_pipe: bool) -> Self {
        Self {
            commas: 0,
            from_pipe,
            over: None,
        }
    }
}

/// What one pass over a file's tokens found.
#[derive(Debug, Default)]
pub struct Scan {
    /// The first construct the file holds more of than it may, and where the one past the
    /// limit is.
    pub over: Option<(Over, Position)>,
    /// Where each `import` keyword is (all of them, whatever the parser's own walk reaches).
    pub imports: Vec<Position>,
}

/// One pass over `code`'s lines, then one over its tokens: see [`Scan`].
pub fn scan(engine: &Engine, code: &str) -> Scan {
    let mut imports = Vec::new();
    let over = past_positions(code).or_else(|| scan_into(engine, code, &mut imports));
    Scan { over, imports }
}

/// Where `code` first goes past the lines or a line's characters rhai can name: the last line
/// (a file's last newline ends its last line, opening none), or the last column of a line. A
/// line ends at `\n`, `\r\n` or a lone `\r` (rhai starts a line at one in a comment; counted
/// everywhere, a file can only be refused sooner).
fn past_positions(code: &str) -> Option<(Over, Position)> {
    let last = u16::MAX;
    let lines = code
        .split('\n')
        .flat_map(|line| line.strip_suffix('\r').unwrap_or(line).split('\r'));
    for (index, line) in lines.enumerate() {
        if index >= MAX_LINES && !(index == MAX_LINES && line.is_empty()) {
            return Some((Over::Lines, Position::new(last, 1)));
        }
        // Bytes first: only a line that long may have that many characters.
        if line.len() > MAX_LINE_CHARS && line.chars().count() > MAX_LINE_CHARS {
            return Some((Over::LineChars, Position::new(index as u16 + 1, last)));
        }
    }
    None
}

fn scan_into(engine: &Engine, code: &str, imports: &mut Vec<Position>) -> Option<(Over, Position)> {
    let (tokens, control) = engine.lex([&code]);
    let (mut lets, mut functions, mut cases) = (0, 0, 0);
    // A parameter list is a run of `name, name, …` opened by a `|` (a closure's, or an `or`,
    // which opens no run of names worth counting) or by the first `(` after `fn`; any other
    // token ends it. The commas of the open run, if one is open.
    let mut run: Option<Run> = None;
    let mut after_fn = false;
    // The brackets open, each with the commas met directly inside it: those of a `(` are a
    // call's arguments (or a function's parameters, counted above as well).
    let mut open: Vec<(bool, usize)> = Vec::new();
    // How many brackets were open where each open `${ … }` of a template string began: the
    // tokenizer alone does not know where an interpolation ends (the parser tells it), so
    // without this the text after one would be read as code and the code after it as text.
    let mut interpolations: Vec<usize> = Vec::new();
    for (token, pos) in tokens {
        match token {
            Token::EOF => break,
            Token::Let | Token::Const => {
                lets += 1;
                if lets > MAX_LETS {
                    return Some((Over::Lets, pos));
                }
            }
            Token::Fn => {
                functions += 1;
                if functions > MAX_FUNCTIONS {
                    return Some((Over::Functions, pos));
                }
                after_fn = true;
            }
            Token::DoubleArrow => {
                cases += 1;
                if cases > MAX_SWITCH_CASES {
                    return Some((Over::SwitchCases, pos));
                }
            }
            Token::Import => imports.push(pos),
            // A function's parameter list is counted as parameters, not as a call's arguments.
            Token::LeftParen => open.push((!after_fn, 0)),
            Token::LeftBracket | Token::QuestionBracket => open.push((false, 0)),
            Token::RightParen | Token::RightBracket => {
                open.pop();
            }
            Token::Comma => {
                if let Some((true, commas)) = open.last_mut() {
                    *commas += 1;
                    if *commas >= MAX_ARGUMENTS {
                        return Some((Over::Arguments, pos));
                    }
                }
            }
            Token::InterpolatedString(_) => interpolations.push(open.len()),
            Token::LeftBrace | Token::MapStart => open.push((false, 0)),
            Token::RightBrace => {
                open.pop();
                if interpolations.last() == Some(&open.len()) {
                    interpolations.pop();
                    control.borrow_mut().is_within_text = true;
                }
            }
            _ => {}
        }
        run = match (token, run) {
            // A `|` closing a run of names after a `|` ends a closure's parameters (one after
            // `x |` is an `or` with names after it, not parameters: never refused).
            (
                Token::Pipe,
                Some(Run {
                    over: Some(at),
                    from_pipe: true,
                    ..
                }),
            ) => {
                return Some((Over::Params, at));
            }
            (Token::Pipe, _) => Some(Run::new(true)),
            (Token::LeftParen, _) if after_fn => {
                after_fn = false;
                Some(Run::new(false))
            }
            (Token::Identifier(_), run) => run,
            // n commas: n + 1 parameters.
            (Token::Comma, Some(mut run)) => {
                run.commas += 1;
                if run.commas >= MAX_PARAMS && run.over.is_none() {
                    if !run.from_pipe {
                        return Some((Over::Params, pos));
                    }
                    run.over = Some(pos);
                }
                Some(run)
            }
            _ => None,
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn over(code: &str) -> Option<(Over, usize, usize)> {
        scan(&Engine::new(), code)
            .over
            .map(|(over, pos)| (over, pos.line().unwrap(), pos.position().unwrap()))
    }

    fn repeat(n: usize, line: impl Fn(usize) -> String) -> String {
        (0..n).map(line).collect()
    }

    #[test]
    fn each_limit_is_met_by_its_last_allowed_one_and_passed_by_the_next() {
        let lets = |n| repeat(n, |i| format!("let v{i} = {i};\n"));
        assert_eq!(over(&lets(1_000)), None);
        assert_eq!(over(&lets(1_001)), Some((Over::Lets, 1_001, 1)));
        let consts = |n| repeat(n, |i| format!("const V{i} = {i};\n"));
        assert_eq!(over(&consts(1_001)), Some((Over::Lets, 1_001, 1)));

        let functions = |n| repeat(n, |i| format!("fn f{i}(x) {{ x }}\n"));
        assert_eq!(over(&functions(1_000)), None);
        assert_eq!(over(&functions(1_001)), Some((Over::Functions, 1_001, 1)));

        let cases = |n| {
            format!(
                "switch x {{\n{}}}\n",
                repeat(n, |i| format!("{i} => {i},\n"))
            )
        };
        assert_eq!(over(&cases(1_000)), None);
        assert_eq!(over(&cases(1_001)), Some((Over::SwitchCases, 1_002, 6)));

        let params = |n: usize| {
            let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
            names.join(", ")
        };
        assert_eq!(over(&format!("fn f({}) {{ 1 }}", params(64))), None);
        assert!(matches!(
            over(&format!("fn f({}) {{ 1 }}", params(65))),
            Some((Over::Params, 1, _))
        ));
        assert_eq!(over(&format!("let c = |{}| 1;", params(64))), None);
        assert!(matches!(
            over(&format!("let c = |{}| 1;", params(65))),
            Some((Over::Params, 1, _))
        ));
    }

    /// Ways a review found to hide parameters from an earlier count: a closure after a block,
    /// a method function (`fn int.f(`), a `|` after a call throwing the pairing of `|`s off.
    #[test]
    fn no_parameter_list_goes_uncounted() {
        let names = |n: usize| -> String {
            let names: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
            names.join(", ")
        };
        for code in [
            format!("if true {{ }}\n|{}| 1;", names(65)),
            format!("fn f() {{ 1 }}\n|{}| 1;", names(65)),
            format!("fn int.f({}) {{ 1 }}", names(65)),
            format!("let z = x.abs() | 1;\nlet c = |{}| 1;", names(65)),
            format!("let c = |{}| 1;", names(65)),
        ] {
            assert!(
                matches!(over(&code), Some((Over::Params, _, _))),
                "{}",
                &code[..40]
            );
        }
    }

    #[test]
    fn commas_outside_parameter_lists_are_not_parameters() {
        let numbers = repeat(70, |i| format!("{i}, "));
        for code in [
            format!("let flags = x.abs() | 4;\nlet a = [{numbers}];"),
            format!("let flags = f() | 4;\nlet a = [{numbers}];"),
            format!("fn g(f) {{ this | f }}\nlet a = [{numbers}];"),
            format!("let b = sum([{numbers}0]);"),
        ] {
            assert_eq!(over(&code), None, "{}", &code[..30]);
        }
        let call = format!(
            "let a = [{}];\nmax(1, 2) | 3\n",
            repeat(200, |i| format!("{i}, "))
        );
        assert_eq!(over(&call), None);
        // A `|` after an operand is an `or`, not a closure.
        let ors = format!(
            "let b = x | y;\nlet c = [{}];\n",
            repeat(100, |i| format!("{i}, "))
        );
        assert_eq!(over(&ors), None);
    }

    /// A review's cases: names after a bitwise `|` are no parameters; `?[` opens a bracket
    /// like `[` (its `]` closed the call's `(` before).
    #[test]
    fn names_after_an_or_and_optional_indexing_are_counted_right() {
        let names = (0..70).map(|_| "a").collect::<Vec<_>>().join(", ");
        assert_eq!(over(&format!("let x = [0 | {names}];")), None);
        let args = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
        assert!(matches!(
            over(&format!("max([0]?[0], {})", args(65))),
            Some((Over::Arguments, 1, _))
        ));
        assert_eq!(over(&format!("max(0, [a?[0], {}].len)", args(1_500))), None);
    }

    #[test]
    fn a_call_may_pass_sixty_four_arguments() {
        let args = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
        assert_eq!(over(&format!("max({})", args(64))), None);
        assert!(matches!(
            over(&format!("max({})", args(65))),
            Some((Over::Arguments, 1, _))
        ));
        // Commas inside an array or map argument are not the call's.
        let inner = format!("[{}]", args(2_000));
        assert_eq!(over(&format!("sum({inner}) + f(#{{a: 1, b: 2}}, 3)")), None);
    }

    /// A file may have 65,535 lines (a last newline opening none), a line 65,535 characters
    /// (not bytes); past either the problem is located at the last line or column rhai names.
    #[test]
    fn files_stop_where_positions_do() {
        let lines = |n: usize| "x;\n".repeat(n);
        assert_eq!(over(&lines(65_535)), None);
        assert_eq!(over(&(lines(65_534) + "x;")), None);
        assert_eq!(
            over(&(lines(65_535) + "x;")),
            Some((Over::Lines, 65_535, 1))
        );
        assert_eq!(
            over(&(lines(65_535) + "\n")),
            Some((Over::Lines, 65_535, 1))
        );
        let crlf = |n: usize| "x;\r\n".repeat(n);
        assert_eq!(over(&crlf(65_535)), None);
        assert_eq!(over(&(crlf(65_535) + "x;")), Some((Over::Lines, 65_535, 1)));
        let lone = "// a\r// b\n".repeat(32_768);
        assert_eq!(over(&lone), Some((Over::Lines, 65_535, 1)));

        let line = |chars: usize| format!("let s = \"{}\";", "é".repeat(chars - 11));
        assert_eq!(over(&format!("x;\n{}\n", line(65_535))), None);
        assert_eq!(over(&format!("x;\r\n{}\r\n", line(65_535))), None);
        assert_eq!(
            over(&format!("x;\n{}\n", line(65_536))),
            Some((Over::LineChars, 2, 65_535))
        );
    }

    /// After `${…}` the tokenizer alone would read the rest of the template as code and the
    /// code after it as text, hiding every `let` until the next backtick.
    #[test]
    fn template_strings_hide_nothing() {
        let lets = repeat(1_001, |i| format!("let v{i} = {i};\n"));
        let hidden = format!("let s = `a ${{1}} b ${{#{{x: 1}}.x}} c`;\n{lets}let t = `x`;\n");
        assert_eq!(over(&hidden), Some((Over::Lets, 1_001, 1)));
        let nested = format!("let s = `a ${{`b ${{2}} c`}} d`;\n{lets}");
        assert_eq!(over(&nested), Some((Over::Lets, 1_001, 1)));
    }
}
