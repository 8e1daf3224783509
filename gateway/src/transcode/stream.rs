//! A client stream's request body: a sequence of JSON messages, split off the body as its
//! bytes arrive so that each message can go upstream before the next one is sent, and a body of
//! any length is never held in memory whole.
//!
//! Two framings are read, as grpc-gateway reads them: newline-delimited JSON (one message per
//! line, blank lines skipped; `application/x-ndjson`) and one JSON array whose elements are the
//! messages (`application/json` with a body starting with `[`). Every message is numbered from 1
//! (by line, or by array element), so that an error can name the one that is wrong.

use std::collections::VecDeque;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, header};
use http_body_util::BodyExt;

use crate::error::GatewayError;

/// How the messages are laid out in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Not decided yet: the first non-blank byte decides (`[` is an array).
    Sniff,
    /// One message per line.
    Lines,
    /// The elements of one JSON array.
    Array,
}

/// Where the array scanner is.
#[derive(Debug, Default)]
struct ArrayScan {
    /// The opening `[` was read.
    open: bool,
    /// The closing `]` was read: only whitespace may follow.
    closed: bool,
    /// Nesting depth inside the current element.
    depth: usize,
    /// Inside a JSON string of the current element.
    in_string: bool,
    /// The previous byte was a backslash inside a string.
    escaped: bool,
    /// A `,` was read and no element has followed it yet.
    after_comma: bool,
}

/// Reads the messages of a client stream one at a time; see the module documentation.
#[derive(Debug)]
pub(crate) struct MessageReader {
    body: Body,
    framing: Framing,
    /// Bytes read but not yet part of a returned message.
    pending: BytesMut,
    /// How far into `pending` the array scanner has looked.
    scanned: usize,
    scan: ArrayScan,
    /// Messages split off but not yet returned, with their numbers.
    ready: VecDeque<(usize, Bytes)>,
    /// The number of the last message (line or element) split off.
    number: usize,
    /// The body has ended.
    finished: bool,
    /// The largest one message may be.
    limit: usize,
}

impl MessageReader {
    /// A reader of `body`; `headers` tell NDJSON (`application/x-ndjson`) from a JSON array, and
    /// `limit` bounds each message (not the stream, which may be as long as the client likes).
    pub(crate) fn new(headers: &HeaderMap, body: Body, limit: usize) -> Self {
        let ndjson = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let essence = v.split(';').next().unwrap_or("").trim();
                essence.eq_ignore_ascii_case("application/x-ndjson")
                    || essence.eq_ignore_ascii_case("application/jsonl")
            });
        MessageReader {
            body,
            framing: if ndjson {
                Framing::Lines
            } else {
                Framing::Sniff
            },
            pending: BytesMut::new(),
            scanned: 0,
            scan: ArrayScan::default(),
            ready: VecDeque::new(),
            number: 0,
            finished: false,
            limit,
        }
    }

    /// The text naming message `number` in errors: `line 2` or `element 2`.
    pub(crate) fn name(&self, number: usize) -> String {
        match self.framing {
            Framing::Array => format!("element {number}"),
            Framing::Lines | Framing::Sniff => format!("line {number}"),
        }
    }

    /// The next message's JSON and its number, `None` at the end of the body. Waits for the
    /// client only as long as the next message is incomplete.
    pub(crate) async fn next(&mut self) -> Result<Option<(usize, Bytes)>, GatewayError> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Ok(Some(item));
            }
            if self.finished {
                return Ok(None);
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.pending.extend_from_slice(&data);
                        self.split(false)?;
                    }
                }
                Some(Err(e)) => {
                    return Err(GatewayError::BadRequest(format!(
                        "cannot read the request body: {e}"
                    )));
                }
                None => {
                    self.finished = true;
                    self.split(true)?;
                }
            }
        }
    }

    /// The raw body's next chunk, as the client sent it, `None` at the end: for a stream of
    /// `google.api.HttpBody` messages, one per chunk.
    pub(crate) async fn next_chunk(&mut self) -> Result<Option<Bytes>, GatewayError> {
        loop {
            match self.body.frame().await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => return Ok(Some(data)),
                    _ => continue,
                },
                Some(Err(e)) => {
                    return Err(GatewayError::BadRequest(format!(
                        "cannot read the request body: {e}"
                    )));
                }
                None => return Ok(None),
            }
        }
    }

    /// Moves every complete message of `pending` to `ready`; `end` when the body has ended.
    fn split(&mut self, end: bool) -> Result<(), GatewayError> {
        if self.framing == Framing::Sniff {
            match self.pending.iter().find(|b| !b.is_ascii_whitespace()) {
                Some(b'[') => self.framing = Framing::Array,
                Some(_) => self.framing = Framing::Lines,
                None if end => self.framing = Framing::Lines,
                None => return Ok(()),
            }
        }
        match self.framing {
            Framing::Array => self.split_array(end)?,
            Framing::Lines | Framing::Sniff => self.split_lines(end),
        }
        if self.pending.len() > self.limit {
            return Err(GatewayError::BadRequest(format!(
                "{} of the request stream exceeds the limit of {} bytes",
                self.name(self.number + 1),
                self.limit
            )));
        }
        Ok(())
    }

    fn split_lines(&mut self, end: bool) {
        while let Some(at) = self.pending.iter().position(|b| *b == b'\n') {
            let line = self.pending.split_to(at + 1);
            self.push_line(line.freeze());
        }
        if end && !self.pending.is_empty() {
            let line = self.pending.split().freeze();
            self.push_line(line);
        }
    }

    /// Counts a line and queues it unless it is blank.
    fn push_line(&mut self, line: Bytes) {
        self.number += 1;
        if line.iter().any(|b| !b.is_ascii_whitespace()) {
            self.ready.push_back((self.number, line));
        }
    }

    fn split_array(&mut self, end: bool) -> Result<(), GatewayError> {
        let mut at = self.scanned;
        while at < self.pending.len() {
            let byte = self.pending[at];
            let scan = &mut self.scan;
            if scan.closed {
                if !byte.is_ascii_whitespace() {
                    return Err(GatewayError::BadRequest(
                        "invalid request stream: data after the closing `]` of the array"
                            .to_owned(),
                    ));
                }
            } else if !scan.open {
                // Sniffing found `[` as the first non-blank byte.
                if byte == b'[' {
                    scan.open = true;
                    let _ = self.pending.split_to(at + 1);
                    at = 0;
                    continue;
                }
            } else if scan.in_string {
                if scan.escaped {
                    scan.escaped = false;
                } else if byte == b'\\' {
                    scan.escaped = true;
                } else if byte == b'"' {
                    scan.in_string = false;
                }
            } else {
                match byte {
                    b'"' => scan.in_string = true,
                    b'{' | b'[' => scan.depth += 1,
                    b'}' | b']' if scan.depth > 0 => scan.depth -= 1,
                    b',' | b']' if scan.depth == 0 => {
                        // The end of an element (and, for `]`, of the array).
                        let mut element = self.pending.split_to(at + 1);
                        element.truncate(at);
                        let element = element.freeze();
                        at = 0;
                        let blank = element.iter().all(u8::is_ascii_whitespace);
                        let scan = &mut self.scan;
                        if byte == b']' {
                            scan.closed = true;
                            if blank && scan.after_comma {
                                return Err(self.empty_element());
                            }
                        } else if blank {
                            return Err(self.empty_element());
                        }
                        self.scan.after_comma = byte == b',';
                        if !blank {
                            self.number += 1;
                            self.ready.push_back((self.number, element));
                        }
                        continue;
                    }
                    _ => {}
                }
            }
            at += 1;
        }
        self.scanned = at;
        if self.scan.closed {
            // Only whitespace was left: nothing to keep.
            self.pending.clear();
            self.scanned = 0;
        }
        if end && !self.scan.closed {
            return Err(GatewayError::BadRequest(
                "invalid request stream: the JSON array is not closed".to_owned(),
            ));
        }
        Ok(())
    }

    fn empty_element(&self) -> GatewayError {
        GatewayError::BadRequest(format!(
            "invalid request stream: {} is empty",
            self.name(self.number + 1)
        ))
    }
}
