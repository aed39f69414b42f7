//! Where each key of a YAML file stands, so errors found after parsing can point into the file.
//!
//! serde gives values without positions; this walks the same text with an event parser and
//! records the position of every key by its path, e.g. `tiers.levels[2].min`.

use std::collections::HashMap;

use miette::SourceSpan;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

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
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut walker, false).is_err() {
            return Self::default();
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
    fn broken_yaml_gives_an_empty_index() {
        assert_eq!(KeyIndex::build("a: [1, 2").span("a"), None);
    }
}
