//! Where each node of a YAML document is, so errors can say `file:line:col`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A position in a file: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// The positions of every node of a YAML document, by path
/// (`install[0].exec.flags.c`), for error messages.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    file: PathBuf,
    positions: HashMap<String, Position>,
}

impl SourceMap {
    /// Index `text`, which was read from `file`. A document the scanner
    /// cannot read yields an empty map: serde reports the syntax error itself.
    pub fn index(file: &Path, text: &str) -> Self {
        let mut indexer = Indexer::default();
        let mut parser = Parser::new_from_str(text);
        let _ = parser.load(&mut indexer, false);
        SourceMap {
            file: file.to_path_buf(),
            positions: indexer.positions,
        }
    }

    /// The file this map describes.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The position of `path`, or of its nearest ancestor that has one.
    pub fn position(&self, path: &str) -> Option<Position> {
        let mut p = path;
        loop {
            if let Some(pos) = self.positions.get(p) {
                return Some(*pos);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }

    /// Name the file differently in locations: a registry bundle's manifest
    /// is shown by its reference, not by the working copy it was read from.
    pub fn show_as(&mut self, name: PathBuf) {
        self.file = name;
    }

    /// `file:line:col` for `path` (just `file` when nothing is known).
    pub fn locate(&self, path: &str) -> String {
        match self.position(path) {
            Some(p) => format!("{}:{}:{}", self.file.display(), p.line, p.column),
            None => self.file.display().to_string(),
        }
    }
}

/// Join a child to a path: `a` + `b` = `a.b`, `a` + `[0]` = `a[0]`.
pub fn join(parent: &str, child: &str) -> String {
    if child.is_empty() {
        parent.to_string()
    } else if parent.is_empty() {
        child.to_string()
    } else if child.starts_with('[') {
        format!("{parent}{child}")
    } else {
        format!("{parent}.{child}")
    }
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
}

#[derive(Default)]
struct Indexer {
    stack: Vec<Frame>,
    positions: HashMap<String, Position>,
}

impl Indexer {
    /// The path of the node starting now, or `None` when it is a mapping key.
    fn next_path(&mut self) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let p = join(path, &format!("[{next}]"));
                *next += 1;
                Some(p)
            }
            Some(Frame::Map { path, key }) => key.take().map(|k| join(path, &k)),
        }
    }
}

impl MarkedEventReceiver for Indexer {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Position {
            line: mark.line(),
            column: mark.col() + 1,
        };
        match ev {
            Event::Scalar(value, ..) => match self.next_path() {
                Some(path) => {
                    self.positions.entry(path).or_insert(pos);
                }
                None => {
                    // A key: remember it, and point the value's path at the key.
                    if let Some(Frame::Map { path, key }) = self.stack.last_mut() {
                        let full = join(path, &value);
                        self.positions.insert(full, pos);
                        *key = Some(value);
                    }
                }
            },
            Event::Alias(_) => {
                if let Some(path) = self.next_path() {
                    self.positions.entry(path).or_insert(pos);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = self.next_path().unwrap_or_default();
                self.positions.entry(path.clone()).or_insert(pos);
                self.stack.push(if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map { path, key: None }
                } else {
                    Frame::Seq { path, next: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_point_at_keys_and_items() {
        let text =
            "name: x\ninstall:\n  - exec:\n      command: bash\n      flags:\n        c: hi\n";
        let map = SourceMap::index(Path::new("porter.yaml"), text);
        assert_eq!(map.position("name").unwrap().line, 1);
        assert_eq!(map.position("install[0]").unwrap().line, 3);
        assert_eq!(map.position("install[0].exec.command").unwrap().line, 4);
        assert_eq!(map.position("install[0].exec.flags.c").unwrap().line, 6);
        // Unknown children fall back to the nearest known ancestor.
        assert_eq!(map.position("install[0].exec.nope").unwrap().line, 3);
        assert_eq!(map.locate("name"), "porter.yaml:1:1");
        assert_eq!(join("a", ""), "a");
        assert_eq!(join("a", "[1]"), "a[1]");
        assert_eq!(join("", "b"), "b");
    }
}
