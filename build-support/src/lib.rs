//! The gateway generator: `.proto` files with `google.api.http` annotations -> the gateway's route
//! table (Rust, served by the `gateway` runtime) and an OpenAPI 3.1 document.
//!
//! Stages that never mix: protox compiles the protos in-process (`compile`), [`httprule`] parses
//! path templates (pure string code), [`model`]
//! resolves every binding against the descriptors and rejects what HttpRule forbids, [`table`]
//! turns the model into the runtime's own route types ([`gateway_spec`]), and the emitters
//! ([`routes`], [`openapi`]) print them.
//!
//! From a build script, the way tonic-build is used (the crate then calls
//! `gateway::include_routes!()`):
//!
//! ```no_run
//! // build.rs
//! build_support::configure()
//!     .compile(&["greeter/v1/greeter.proto"], &["proto"])?;
//! # Ok::<(), build_support::Error>(())
//! ```
//!
//! Strict by default: a binding the gateway cannot serve fails the run, naming its file, service
//! and method. [`Generator::strict`]`(false)` leaves such bindings out instead, each with a
//! [`Warning`] (in [`Output::warnings`], and printed as `cargo::warning=` from a build script),
//! for large API sets where one bad binding should not cost the rest. Some bindings are served
//! with a warning in both modes (a `**` followed by more segments: see [`httprule`]).
//!
//! As a library, for checked-in artefacts (what `cargo xtask gen` does):
//!
//! ```no_run
//! let output = build_support::Generator::new()
//!     .proto_dir("proto/proto")
//!     .openapi_out("openapi")
//!     .generate()?;
//! output.write()?;
//! # Ok::<(), build_support::Error>(())
//! ```

mod compile;
pub mod httprule;
pub mod model;
pub mod openapi;
pub mod routes;
pub mod table;

use std::path::{Path, PathBuf};

pub use model::{Warning, WarningKind};
pub use table::RouteTable;

/// The generator's own proto include directory, added after the caller's directories (so a
/// caller's copies win): `google/api/annotations.proto`, `http.proto`, `field_behavior.proto` and
/// `httpbody.proto` (minimal copies of googleapis' files, same package and layout, so protos written for
/// grpc-gateway or Envoy compile unchanged), `gateway/v1/compose.proto` (composite
/// endpoints), `gateway/v1/headers.proto` (request headers a method reads) and
/// `gateway/v1/stream.proto` (Server-Sent Events ids and resume), and
/// `buf/validate/validate.proto` (protovalidate's rules, vendored unchanged: mapped to JSON Schema
/// here, checked by the gateway and services through the `proto-validate` crate). A crate that compiles the same protos for tonic adds it to its own includes.
pub const PROTO_INCLUDE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/proto");

/// Everything that can go wrong while generating.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A proto file does not compile.
    #[error("compiling protos: {}", compile_message(.0))]
    Compile(#[from] protox::Error),
    /// protox produced descriptors prost-reflect cannot read.
    #[error("reading descriptors: {0}")]
    Descriptor(#[from] prost_reflect::DescriptorError),
    /// An HTTP binding breaks the HttpRule rules.
    #[error("{file}: {service}.{method}: {message}")]
    Binding {
        /// The proto file declaring the service.
        file: String,
        /// The service's full name.
        service: String,
        /// The method's name.
        method: String,
        /// What is wrong.
        message: String,
    },
    /// An emitter produced something that does not parse or serialize (a generator bug).
    #[error("emitting: {0}")]
    Emit(String),
    /// Reading the proto directory or writing an output failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// No input files: the proto directory holds none, or none were given.
    #[error("no .proto files to compile")]
    NoFiles,
}

/// A protox error with the file it is about, when protox knows it.
fn compile_message(error: &protox::Error) -> String {
    match error.file() {
        Some(file) if !error.to_string().contains(file) => format!("{file}: {error}"),
        _ => error.to_string(),
    }
}

/// Configures and runs the generator.
#[derive(Debug, Clone)]
pub struct Generator {
    proto_dirs: Vec<PathBuf>,
    files: Option<Vec<String>>,
    routes_out: Option<PathBuf>,
    openapi_out: Option<PathBuf>,
    openapi: openapi::Options,
    build_script: bool,
    strict: bool,
}

/// A generator configured for a build script: routes into `$OUT_DIR` (for
/// `gateway::include_routes!()`), and `cargo::rerun-if-changed` for every proto file read, so
/// the routes follow the protos. Chain more outputs or options, then call
/// [`compile`](Generator::compile).
pub fn configure() -> Generator {
    let mut generator = Generator::new();
    generator.routes_out = std::env::var_os("OUT_DIR").map(PathBuf::from);
    generator.build_script = true;
    generator
}

impl Default for Generator {
    fn default() -> Self {
        Self::new()
    }
}

impl Generator {
    /// A generator with no inputs and no outputs yet.
    pub fn new() -> Self {
        Generator {
            proto_dirs: Vec::new(),
            files: None,
            routes_out: None,
            openapi_out: None,
            openapi: openapi::Options::default(),
            build_script: false,
            strict: true,
        }
    }

    /// Adds an include directory. Without [`files`](Self::files), every `.proto` under the first
    /// directory is an input, except those under `google/` (annotation definitions). The
    /// annotation protos themselves need no directory: see [`PROTO_INCLUDE`].
    pub fn proto_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.proto_dirs.push(dir.into());
        self
    }

    /// The input files, relative to an include directory (`users/v1/users.proto`).
    pub fn files<I, S>(mut self, files: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.files = Some(files.into_iter().map(Into::into).collect());
        self
    }

    /// Where the routes file (`gateway_routes.rs` + `gateway_routes.bin`) goes; not written when
    /// unset.
    pub fn routes_out(mut self, dir: impl Into<PathBuf>) -> Self {
        self.routes_out = Some(dir.into());
        self
    }

    /// Where `openapi.json` and `openapi.yaml` go; not written when unset.
    pub fn openapi_out(mut self, dir: impl Into<PathBuf>) -> Self {
        self.openapi_out = Some(dir.into());
        self
    }

    /// The OpenAPI `info.title` (default `Gateway API`).
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.openapi.title = title.into();
        self
    }

    /// The OpenAPI `info.version` (default `0.1.0`).
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.openapi.version = version.into();
        self
    }

    /// The OpenAPI `info.license`, an SPDX expression (`MIT OR Apache-2.0`); none by default.
    pub fn license(mut self, spdx: impl Into<String>) -> Self {
        self.openapi.license = Some(spdx.into());
        self
    }

    /// Strict (the default): any binding the gateway cannot serve fails the whole run, naming
    /// its file, service and method. Lenient (`false`): such a binding (a duplicate route, a rule
    /// HttpRule forbids, a streaming shape the gateway does not serve) is left out with a
    /// [`Warning`] saying why, and everything else is generated: for large API sets one bad
    /// binding should not cost every other one.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The input files: as given, or discovered under the first proto directory.
    pub fn input_files(&self) -> Result<Vec<String>, Error> {
        let mut files = match &self.files {
            Some(files) => files.clone(),
            None => {
                let root = self.proto_dirs.first().ok_or(Error::NoFiles)?;
                let mut found = Vec::new();
                discover(root, root, &mut found)?;
                found
            }
        };
        files.sort();
        if files.is_empty() {
            return Err(Error::NoFiles);
        }
        Ok(files)
    }

    /// Compiles the protos (protox, in-process) and builds the validated model.
    pub fn model(&self) -> Result<model::Api, Error> {
        let files = self.input_files()?;
        let includes: Vec<&Path> = self
            .proto_dirs
            .iter()
            .map(PathBuf::as_path)
            .chain([Path::new(PROTO_INCLUDE)])
            .collect();
        let compiled = compile::compile(&files, &includes)?;
        if self.build_script {
            // Every file read from disk, imports included: editing any of them regenerates.
            for path in &compiled.paths {
                println!("cargo::rerun-if-changed={}", path.display());
            }
        }
        let api = model::build(&files, compiled.descriptor_set, self.strict)?;
        if self.build_script {
            // Cargo shows these to whoever builds the crate, once per build.
            for warning in &api.warnings {
                println!("cargo::warning={}", one_line(&warning.to_string()));
            }
        }
        Ok(api)
    }

    /// The route table in memory, in the runtime's types: for serving protos compiled at run
    /// time (tests, tools) without writing Rust.
    pub fn route_table(&self) -> Result<RouteTable, Error> {
        let api = self.model()?;
        Ok(RouteTable {
            routes: table::route_specs(&api),
            descriptor_set: api.descriptor_set,
        })
    }

    /// Generates from `files` (relative to an include directory) found in `includes`, and writes
    /// every configured output: the build-script entry point, after [`configure`].
    pub fn compile(
        mut self,
        files: &[impl AsRef<str>],
        includes: &[impl AsRef<Path>],
    ) -> Result<(), Error> {
        self.files = Some(files.iter().map(|f| f.as_ref().to_owned()).collect());
        self.proto_dirs
            .extend(includes.iter().map(|dir| dir.as_ref().to_path_buf()));
        self.generate()?.write()?;
        Ok(())
    }

    /// Runs every configured emitter and returns what would be written.
    pub fn generate(&self) -> Result<Output, Error> {
        let api = self.model()?;
        let routes = table::bindings(&api).count();
        let mut files = Vec::new();
        if let Some(dir) = &self.routes_out {
            files.push(GeneratedFile {
                path: dir.join(routes::routes_file()),
                contents: routes::emit(&api)?.into_bytes(),
            });
            files.push(GeneratedFile {
                path: dir.join(routes::descriptor_set_file()),
                contents: api.descriptor_set.clone(),
            });
        }
        if let Some(dir) = &self.openapi_out {
            let doc = openapi::emit(&api, &self.openapi)?;
            files.push(GeneratedFile {
                path: dir.join("openapi.json"),
                contents: doc.json.into_bytes(),
            });
            files.push(GeneratedFile {
                path: dir.join("openapi.yaml"),
                contents: doc.yaml.into_bytes(),
            });
        }
        Ok(Output {
            files,
            routes,
            warnings: api.warnings.clone(),
        })
    }
}

/// `text` on one line (a `cargo::` instruction ends at the line's end).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn discover(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            discover(root, &path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            if !name.starts_with("google/") {
                out.push(name);
            }
        }
    }
    Ok(())
}

/// One file the generator produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Where it goes.
    pub path: PathBuf,
    /// Its exact contents.
    pub contents: Vec<u8>,
}

/// What the generator produces: every file with its contents.
#[derive(Debug, Clone)]
pub struct Output {
    /// The files, in a stable order.
    pub files: Vec<GeneratedFile>,
    /// How many routes the table holds (one per binding served), for tools that report it.
    pub routes: usize,
    /// What the generator accepted or left out with a note (see [`Warning`]).
    pub warnings: Vec<Warning>,
}

impl Output {
    /// Writes every file whose contents differ, creating directories; returns the paths written.
    pub fn write(&self) -> Result<Vec<PathBuf>, Error> {
        let mut written = Vec::new();
        for file in &self.files {
            if std::fs::read(&file.path).ok().as_deref() == Some(file.contents.as_slice()) {
                continue;
            }
            if let Some(parent) = file.path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| Error::Io {
                    path: parent.to_path_buf(),
                    source,
                })?;
            }
            std::fs::write(&file.path, &file.contents).map_err(|source| Error::Io {
                path: file.path.clone(),
                source,
            })?;
            written.push(file.path.clone());
        }
        Ok(written)
    }

    /// The files that are missing or differ on disk (empty when everything is fresh).
    pub fn check(&self) -> Vec<PathBuf> {
        self.files
            .iter()
            .filter(|file| {
                std::fs::read(&file.path).ok().as_deref() != Some(file.contents.as_slice())
            })
            .map(|file| file.path.clone())
            .collect()
    }
}
