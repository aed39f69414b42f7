//! Where each key of a YAML file stands, so errors found after parsing can point into the file.
//!
//! serde gives values without positions; this walks the same text with an event parser and
//! records the position of every key by its path, e.g. `tiers.levels[2].min`.

use std::collections::HashMap;

use miette::SourceSpan;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};

/// Nesting deeper than this is not indexed: it is serde_yaml's recursion limit, past which the
/// pipeline fails to parse anyway. Every level's key path is a string as long as the level is
/// deep, so indexing without a bound takes time and memory quadratic in the depth.
pub const MAX_DEPTH: usize = 128;
use yaml_rust2::scanner::{Marker, Scanner, Token, TokenType};

/// Byte spans of every mapping key and sequence item in a YAML text, by key path.
#[derive(Debug, Default)]
pub struct KeyIndex {
    spans: HashMap<String, SourceSpan>,
}

impl KeyIndex {
    /// Indexes `text`; a text that does not parse gives an empty index (serde reports that error).
    pub fn build(text: &str) -> Self {
        let mut walker = Walker {
            char_to_byte: text.char_indices().map(|(byte, _)| byte).collect(),
            text_len: text.len(),
            stack: Vec::new(),
            spans: HashMap::new(),
        };
        // Events one at a time (the parser's own `load` recurses once per level, and asserts
        // on input it did not expect), up to the end of the first document.
        let mut parser = Parser::new_from_str(text);
        loop {
            match parser.next_token() {
                Ok((Event::DocumentEnd | Event::StreamEnd, _)) => break,
                Ok((event, mark)) => walker.on_event(event, mark),
                Err(_) => return Self::default(),
            }
            if walker.stack.len() > MAX_DEPTH {
                // Deeper than serde_yaml reads (it reports the nesting); the keys so far stay.
                break;
            }
        }
        Self {
            spans: walker.spans,
        }
    }

    /// The span of the key at `path` (`factors[1].weight`), or of the nearest parent that exists.
    pub fn span(&self, path: &str) -> Option<SourceSpan> {
        let mut path = path;
        loop {
            if let Some(span) = self.spans.get(path) {
                return Some(*span);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }
}

/// The byte offset of the first `[` or `{` that opens a level deeper than `max`, if any, found
/// by yaml_rust2's tokenizer, which knows YAML's quoting and comments (a hand-written scan took
/// `it's` or `a#b` in a plain scalar for the start of a string or a comment and missed the
/// brackets after them). The tokenizer does work for each level open at each token, so it is
/// stopped as soon as the limit is passed: at most `max` levels are ever open. A text it cannot
/// tokenize is left to the parser to report.
///
/// serde_yaml's parser takes time quadratic in the nesting of flow collections (100,000 levels
/// took minutes), and reads no deeper than [`MAX_DEPTH`] anyway, so deeper text is refused
/// before it is parsed.
pub fn too_deep(text: &str, max: usize) -> Option<usize> {
    let offset = |chars: usize| text.char_indices().nth(chars).map(|(at, _)| at);
    let mut depth = 0usize;
    let mut scanner = Scanner::new(text.chars());
    for Token(mark, token) in scanner.by_ref() {
        match token {
            TokenType::FlowSequenceStart | TokenType::FlowMappingStart => {
                depth += 1;
                if depth > max {
                    return offset(mark.index());
                }
            }
            TokenType::FlowSequenceEnd | TokenType::FlowMappingEnd => {
                depth = depth.saturating_sub(1)
            }
            _ => {}
        }
    }
    // The tokenizer holds brackets back while each may start a key, and stops at 256 levels:
    // nesting that deep ends here, at the level it could not open.
    match scanner.get_error() {
        Some(error) if error.info() == "recursion limit exceeded" => offset(error.marker().index()),
        _ => None,
    }
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
}

struct Walker {
    char_to_byte: Vec<usize>,
    text_len: usize,
    stack: Vec<Frame>,
    spans: HashMap<String, SourceSpan>,
}

impl Walker {
    fn byte_offset(&self, mark: Marker) -> usize {
        self.char_to_byte
            .get(mark.index())
            .copied()
            .unwrap_or(self.text_len)
    }

    /// The path of the node starting now, recording sequence items as they start.
    fn node_path(&mut self, mark: Marker, len: usize) -> String {
        let offset = self.byte_offset(mark);
        match self.stack.last() {
            Some(Frame::Map {
                path,
                key: Some(key),
            }) => join(path, key),
            Some(Frame::Seq { path, next }) => {
                let item = format!("{path}[{next}]");
                self.spans.insert(item.clone(), (offset, len).into());
                item
            }
            _ => String::new(),
        }
    }

    /// A node (scalar or whole container) has ended: move its parent on.
    fn node_done(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Map { key, .. }) => *key = None,
            Some(Frame::Seq { next, .. }) => *next += 1,
            None => {}
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(value, ..) => {
                if let Some(Frame::Map { path, key: None }) = self.stack.last() {
                    let key_path = join(path, &value);
                    let offset = self.byte_offset(mark);
                    self.spans.insert(key_path, (offset, value.len()).into());
                    if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                        *key = Some(value);
                    }
                } else {
                    self.node_path(mark, value.len());
                    self.node_done();
                }
            }
            Event::Alias(_) => {
                self.node_path(mark, 1);
                self.node_done();
            }
            Event::MappingStart(..) => {
                let path = self.node_path(mark, 1);
                self.stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.node_path(mark, 1);
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.node_done();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "version: 1\nname: 客户\nfactors:\n  - name: economic\n    weight: 0.3\n  - { name: risk, weight: 1 }\ntiers:\n  levels: [ {name: a, min: 5}, {name: b} ]\n";

    fn text_at(span: SourceSpan, len: usize) -> &'static str {
        &TEXT[span.offset()..span.offset() + len]
    }

    #[test]
    fn finds_keys_by_path_including_after_unicode() {
        let index = KeyIndex::build(TEXT);
        assert_eq!(text_at(index.span("factors").unwrap(), 7), "factors");
        assert_eq!(
            text_at(index.span("factors[0].weight").unwrap(), 6),
            "weight"
        );
        assert_eq!(
            text_at(index.span("factors[1].weight").unwrap(), 6),
            "weight"
        );
        assert_eq!(text_at(index.span("tiers.levels[1]").unwrap(), 5), "{name");
        assert_eq!(
            text_at(index.span("tiers.levels[0].min").unwrap(), 3),
            "min"
        );
    }

    #[test]
    fn falls_back_to_the_nearest_parent() {
        let index = KeyIndex::build(TEXT);
        assert_eq!(index.span("factors[1].script"), index.span("factors[1]"));
        assert_eq!(index.span("nothing.here"), None);
    }

    #[test]
    fn nesting_is_measured_outside_strings_and_comments() {
        assert_eq!(too_deep("a: [[1], {b: [2]}]", 3), None);
        assert_eq!(too_deep("a: [[1], {b: [2]}]", 2), Some(13));
        assert_eq!(too_deep("a: [[1], {b: [2]}]", 1), Some(4));
        assert_eq!(too_deep("a: \"[[[\"\nb: '[[''[' # [[[\nc: [x]", 1), None);
        // In a plain scalar a quote or a `#` starts nothing: the brackets after them count.
        assert_eq!(too_deep("a: [it's, [[1]]]", 2), Some(11));
        assert_eq!(too_deep("a: [b#c, [[1]]]", 2), Some(10));
        // The tokenizer holds the brackets back while each may start a key, and stops at the
        // 256th level, on one line or many: the level it could not open is told.
        let line = format!("r: [a#b, {}{}]", "[".repeat(300), "]".repeat(300));
        assert_eq!(too_deep(&line, 128), Some(9 + 254));
        let lines = format!("r: [a#b,\n{}{}]", "[\n".repeat(300), "]".repeat(300));
        assert_eq!(too_deep(&lines, 128), Some(9 + 2 * 254));
        assert_eq!(
            too_deep(&format!("x: {}", "[".repeat(200)), 128),
            Some(3 + 128)
        );
    }

    #[test]
    fn broken_yaml_gives_an_empty_index() {
        assert_eq!(KeyIndex::build("a: [1, 2").span("a"), None);
    }
}
