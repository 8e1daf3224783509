//! Stage 3b: the OpenAPI 3.1 document.

use crate::Error;
use crate::model::Api;

/// Options of the OpenAPI emitter.
#[derive(Debug, Clone)]
pub struct Options {
    /// `info.title`.
    pub title: String,
    /// `info.version`.
    pub version: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            title: "Gateway API".to_owned(),
            version: "0.1.0".to_owned(),
        }
    }
}

/// The document in both encodings.
#[derive(Debug, Clone)]
pub struct Document {
    /// Pretty-printed JSON, newline-terminated.
    pub json: String,
    /// YAML.
    pub yaml: String,
}

/// Renders the document.
pub fn emit(_api: &Api, _options: &Options) -> Result<Document, Error> {
    Ok(Document { json: String::new(), yaml: String::new() })
}
