//! Stage 2, shared: proto source comments.
//!
//! Every model item (service, method, message, field, enum, enum value) carries its leading proto
//! comment, which the OpenAPI emitter turns into descriptions. The comments live in the
//! descriptor set's `source_code_info`, keyed by source path; this file indexes them once per
//! build so the other stages can look them up by (file, path).

use std::collections::HashMap;

use prost_reflect::DescriptorPool;

/// Leading comments by (file, source path).
pub(super) struct Comments {
    /// Cleaned comment text by (file name, source path).
    by_location: HashMap<(String, Vec<i32>), String>,
}

impl Comments {
    /// Indexes the leading comments of every file in `pool` that kept its source info.
    pub(super) fn new(pool: &DescriptorPool) -> Self {
        let mut by_location = HashMap::new();
        for file in pool.files() {
            let proto = file.file_descriptor_proto();
            let Some(info) = &proto.source_code_info else {
                continue;
            };
            for location in &info.location {
                if let Some(text) = location.leading_comments.as_deref().and_then(clean_comment) {
                    by_location.insert((file.name().to_owned(), location.path.clone()), text);
                }
            }
        }
        Comments { by_location }
    }

    /// The comment of the item at `path` (a `SourceCodeInfo` path) in `file`, if it has one.
    pub(super) fn get(&self, file: &str, path: &[i32]) -> Option<String> {
        self.by_location
            .get(&(file.to_owned(), path.to_vec()))
            .cloned()
    }
}

/// Strips the one space after `//` and surrounding blank lines.
fn clean_comment(raw: &str) -> Option<String> {
    let lines: Vec<&str> = raw
        .lines()
        .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end())
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::clean_comment;

    #[test]
    fn comments_lose_the_space_after_slashes() {
        assert_eq!(
            clean_comment(" First line.\n Second.\n").as_deref(),
            Some("First line.\nSecond.")
        );
        assert_eq!(clean_comment("  \n").as_deref(), None);
        assert_eq!(
            clean_comment(" Example:\n     indented\n").as_deref(),
            Some("Example:\n    indented")
        );
    }
}
