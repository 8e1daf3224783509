//! Stage 0: `.proto` files -> the encoded `FileDescriptorSet` the model reads (protox,
//! in-process; no `protoc`).
//!
//! Two things differ from calling `protox::Compiler::new(includes)` directly:
//!
//! - **Where imports come from.** The protobuf runtime's own files (`google/protobuf/*.proto`) come
//!   from protox's bundled copies first, as buf does, then the caller's directories, then the
//!   generator's [`PROTO_INCLUDE`](crate::PROTO_INCLUDE). A tree that carries its own
//!   `descriptor.proto` (googleapis does) may be newer than protox's parser understands, and
//!   those types are the runtime's anyway.
//! - **Source info is set aside while compiling.** prost-reflect, resolving each custom option,
//!   rewrites the source locations of that option by scanning every location of the file: for
//!   googleapis' compute API (thousands of `google.api.http` and `field_behavior` options in one
//!   file) that quadratic pass was three quarters of the generator's time. So each file is
//!   handed to protox without its `SourceCodeInfo`, and the info is put back into the encoded
//!   set afterwards (without the locations of options, which pointed into the uninterpreted form
//!   that no longer exists). The comments the OpenAPI document is described with read it from
//!   there as before.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use prost::Message;
use prost_types::SourceCodeInfo;
use protox::file::{
    ChainFileResolver, File, FileResolver, GoogleFileResolver, IncludeFileResolver,
};

use crate::Error;

/// `uninterpreted_option`'s field number in every `*Options` message of `descriptor.proto`.
const UNINTERPRETED_OPTION: i32 = 999;
/// `FileDescriptorProto.source_code_info`.
const SOURCE_CODE_INFO: u32 = 9;

/// What compiling gives: the encoded set and the files read from disk.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    /// The `FileDescriptorSet`, imports and source info included, extension options kept.
    pub descriptor_set: Vec<u8>,
    /// Every file read from disk (inputs and imports), for `cargo::rerun-if-changed`.
    pub paths: Vec<PathBuf>,
}

/// Each file's source info as parsed, by file name, with where it was read from.
type SetAside = Arc<Mutex<HashMap<String, (Option<PathBuf>, SourceCodeInfo)>>>;

/// A resolver that hands protox every file without its source info, keeping the info aside.
struct WithoutSourceInfo {
    inner: ChainFileResolver,
    set_aside: SetAside,
}

impl FileResolver for WithoutSourceInfo {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        self.inner.resolve_path(path)
    }

    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        let file = self.inner.open_file(name)?;
        let mut descriptor = file.file_descriptor_proto().clone();
        let Some(info) = descriptor.source_code_info.take() else {
            // Bundled files have no source info: nothing to set aside, nothing to speed up.
            return Ok(file);
        };
        let path = file.path().map(Path::to_path_buf);
        self.set_aside
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), (path, info));
        Ok(File::from_file_descriptor_proto(descriptor))
    }
}

/// Compiles `files` (names relative to an include directory) found in `includes`.
pub(crate) fn compile(files: &[String], includes: &[&Path]) -> Result<Compiled, Error> {
    let mut inner = ChainFileResolver::new();
    inner.add(GoogleFileResolver::new());
    for dir in includes {
        inner.add(IncludeFileResolver::new(dir.to_path_buf()));
    }
    let set_aside = SetAside::default();
    let mut compiler = protox::Compiler::with_file_resolver(WithoutSourceInfo {
        inner,
        set_aside: Arc::clone(&set_aside),
    });
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(files)?;
    // protox's own encoding: re-encoding through prost_types would drop the extension options.
    let encoded = compiler.encode_file_descriptor_set();
    let set_aside = std::mem::take(&mut *set_aside.lock().unwrap_or_else(PoisonError::into_inner));
    let mut paths: Vec<PathBuf> = set_aside
        .values()
        .filter_map(|(path, _)| path.clone())
        .collect();
    paths.sort();
    let descriptor_set = with_source_info(&encoded, set_aside)?;
    Ok(Compiled {
        descriptor_set,
        paths,
    })
}

/// A `FileDescriptorSet` seen as its encoded files, so that each can be extended without decoding
/// (and losing) its extension options.
#[derive(Clone, PartialEq, Message)]
struct RawFileSet {
    #[prost(bytes = "vec", repeated, tag = "1")]
    file: Vec<Vec<u8>>,
}

/// A `FileDescriptorProto` seen only as its name.
#[derive(Clone, PartialEq, Message)]
struct RawFileName {
    #[prost(string, tag = "1")]
    name: String,
}

/// `encoded` with each file's source info put back (appending a field to an encoded message sets
/// it), minus the locations of options.
fn with_source_info(
    encoded: &[u8],
    mut set_aside: HashMap<String, (Option<PathBuf>, SourceCodeInfo)>,
) -> Result<Vec<u8>, Error> {
    let emit = |what: &str, e: prost::DecodeError| Error::Emit(format!("{what}: {e}"));
    let mut set = RawFileSet::decode(encoded).map_err(|e| emit("re-reading descriptors", e))?;
    for file in &mut set.file {
        let name = RawFileName::decode(file.as_slice())
            .map_err(|e| emit("re-reading a file descriptor", e))?
            .name;
        let Some((_, mut info)) = set_aside.remove(&name) else {
            continue;
        };
        info.location
            .retain(|location| !is_uninterpreted_option(&location.path));
        prost::encoding::message::encode(SOURCE_CODE_INFO, &info, file);
    }
    Ok(set.encode_to_vec())
}

/// The descriptor messages a source path walks through.
#[derive(Clone, Copy)]
enum Node {
    File,
    Message,
    Field,
    Oneof,
    Enum,
    EnumValue,
    Service,
    Method,
    ExtensionRange,
}

impl Node {
    /// The number of this message's `options` field.
    fn options(self) -> i32 {
        match self {
            Node::File | Node::Field => 8,
            Node::Message => 7,
            Node::Oneof => 2,
            Node::Enum | Node::EnumValue | Node::Service | Node::ExtensionRange => 3,
            Node::Method => 4,
        }
    }

    /// The element type of the repeated field `field`, `None` for a scalar list (a leaf).
    fn child(self, field: i32) -> Option<Node> {
        Some(match (self, field) {
            (Node::File, 4) | (Node::Message, 3) => Node::Message,
            (Node::File, 5) | (Node::Message, 4) => Node::Enum,
            (Node::File, 6) => Node::Service,
            (Node::File, 7) | (Node::Message, 2 | 6) => Node::Field,
            (Node::Message, 5) => Node::ExtensionRange,
            (Node::Message, 8) => Node::Oneof,
            (Node::Enum, 2) => Node::EnumValue,
            (Node::Service, 2) => Node::Method,
            _ => return None,
        })
    }
}

/// Whether a source path points into an `uninterpreted_option` (an option as parsed, before
/// protox resolved it into its field).
fn is_uninterpreted_option(path: &[i32]) -> bool {
    let mut node = Node::File;
    let mut rest = path;
    while let [field, tail @ ..] = rest {
        if *field == node.options() {
            return tail.first() == Some(&UNINTERPRETED_OPTION);
        }
        match (node.child(*field), tail) {
            (Some(child), [_index, after @ ..]) => {
                node = child;
                rest = after;
            }
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::source_code_info::Location;

    fn location(path: &[i32], comment: Option<&str>) -> Location {
        Location {
            path: path.to_vec(),
            span: vec![1, 0, 5],
            leading_comments: comment.map(str::to_owned),
            ..Location::default()
        }
    }

    #[test]
    fn source_info_goes_back_into_its_file_without_option_locations() {
        let files = vec![
            prost_types::FileDescriptorProto {
                name: Some("a.proto".into()),
                package: Some("a".into()),
                ..Default::default()
            },
            prost_types::FileDescriptorProto {
                name: Some("b.proto".into()),
                ..Default::default()
            },
        ];
        let encoded = prost_types::FileDescriptorSet { file: files }.encode_to_vec();
        let info = SourceCodeInfo {
            location: vec![
                location(&[4, 0], Some(" A message.\n")),
                // `option (x) = ...` on message 0, as parsed (uninterpreted).
                location(&[4, 0, 7, 999, 0], None),
                // Message 999's name: 999 as an index, not a field number.
                location(&[4, 999, 1], None),
                // A method option (service 0, method 2), and the method's resolved option.
                location(&[6, 0, 2, 2, 4, 999, 1], None),
                location(&[6, 0, 2, 2, 4, 72295728], None),
            ],
        };
        let set_aside = HashMap::from([("a.proto".to_owned(), (None, info))]);
        let bytes = with_source_info(&encoded, set_aside).expect("re-encodes");
        let set = prost_types::FileDescriptorSet::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(set.file[0].package.as_deref(), Some("a"));
        let paths: Vec<Vec<i32>> = set.file[0]
            .source_code_info
            .as_ref()
            .expect("source info back")
            .location
            .iter()
            .map(|l| l.path.clone())
            .collect();
        assert_eq!(
            paths,
            [vec![4, 0], vec![4, 999, 1], vec![6, 0, 2, 2, 4, 72295728]]
        );
        assert_eq!(set.file[1].source_code_info, None);
    }
}
