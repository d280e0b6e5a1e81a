//! One exchange on the wire: the request's headers and streamed body handed to ureq, and the answer
//! read into memory (bounded) or streamed into a file that appears only when complete and
//! verified. Redirects and retries are the caller's (`super::client`).

use std::io::{Read, Write};
use std::path::Path;

use anyhow::Context;
use indicatif::ProgressBar;

use super::retry::{classify, classify_io, Failure};
use super::{Body, HttpClient, Method, Request, Response, TooLarge, MAX_BODY};
use crate::digest::HashingWriter;
use crate::exit::{with_kind, ErrorKind};

/// A reader that advances a progress bar.
struct ProgressReader<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// What a successful attempt produced: a buffered body, or a file written to its final place.
pub(super) enum Sink<'a> {
    Buffer,
    File {
        dest: &'a Path,
        expected_sha256: Option<&'a str>,
    },
}

impl HttpClient {
    /// One request and its answer, without following redirects.
    pub(super) fn exchange(
        &self,
        req: &Request,
        sink: &Sink<'_>,
    ) -> std::result::Result<Response, Failure> {
        let mut builder = ureq::http::Request::builder()
            .method(req.method.as_str())
            .uri(req.url.as_str());
        for (k, v) in &req.headers {
            if k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case("content-length") {
                continue;
            }
            builder = builder.header(k.as_str(), v.as_str());
        }
        if let Some(auth) = &req.auth {
            builder = builder.header("authorization", auth.header_value());
        }
        let has_body = !matches!(req.body, Body::Empty)
            || matches!(req.method, Method::Post | Method::Put | Method::Patch);
        if has_body {
            builder = builder.header("content-length", req.body.len().to_string());
        }
        let send_body = match &req.body {
            Body::Empty => ureq::SendBody::none(),
            Body::Bytes(bytes) => {
                let reader = std::io::Cursor::new(bytes.clone());
                match &req.progress {
                    Some(bar) => ureq::SendBody::from_owned_reader(ProgressReader {
                        inner: reader,
                        bar: bar.clone(),
                    }),
                    None => ureq::SendBody::from_owned_reader(reader),
                }
            }
            Body::File { path, .. } => {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("failed to open `{}`", path.display()))
                    .map_err(Failure::local)?;
                let reader = std::io::BufReader::with_capacity(1 << 16, file);
                match &req.progress {
                    Some(bar) => ureq::SendBody::from_owned_reader(ProgressReader {
                        inner: reader,
                        bar: bar.clone(),
                    }),
                    None => ureq::SendBody::from_owned_reader(reader),
                }
            }
        };
        let request = builder
            .body(send_body)
            .map_err(|e| Failure::local(anyhow::anyhow!("invalid request: {e}")))?;
        let response = self.agent.run(request).map_err(classify)?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = response.into_body();
        let mut out = Response {
            status,
            headers,
            body: Vec::new(),
            attempts: 1,
        };
        if req.method == Method::Head {
            return Ok(out);
        }
        let limit = req.max_body.unwrap_or(MAX_BODY);
        let too_large = || {
            Failure::local(anyhow::Error::new(TooLarge {
                request: req.describe(),
                limit,
            }))
        };
        match sink {
            Sink::File {
                dest,
                expected_sha256,
            } if out.is_success() => {
                if out
                    .header("content-length")
                    .and_then(|l| l.parse::<u64>().ok())
                    .is_some_and(|l| l > limit)
                {
                    return Err(too_large());
                }
                write_body_to_file(
                    body.as_reader().take(limit + 1),
                    dest,
                    *expected_sha256,
                    limit,
                    too_large,
                )?;
            }
            Sink::File { .. } => {
                // An error answer: its text, for the message; a few KiB say all there is.
                body.as_reader()
                    .take(64 << 10)
                    .read_to_end(&mut out.body)
                    .map_err(classify_io)?;
            }
            Sink::Buffer => {
                out.body = match body.with_config().limit(limit).read_to_vec() {
                    Ok(b) => b,
                    Err(ureq::Error::BodyExceedsLimit(_)) => return Err(too_large()),
                    Err(e) => return Err(classify(e)),
                };
            }
        }
        Ok(out)
    }
}

fn write_body_to_file(
    mut reader: impl Read,
    dest: &Path,
    expected_sha256: Option<&str>,
    limit: u64,
    too_large: impl Fn() -> Failure,
) -> std::result::Result<(), Failure> {
    let local = Failure::local;
    let file = crate::fsx::AtomicFile::create(dest).map_err(local)?;
    let mut writer = HashingWriter::new(file);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).map_err(classify_io)?;
        if n == 0 {
            break;
        }
        writer
            .write_all(&buf[..n])
            .with_context(|| format!("failed to write `{}`", dest.display()))
            .map_err(local)?;
    }
    let (file, digest, len) = writer.finish();
    if len > limit {
        return Err(too_large());
    }
    if let Some(expected) = expected_sha256 {
        if !digest.eq_ignore_ascii_case(expected) {
            return Err(Failure::local(with_kind(
                anyhow::anyhow!(
                    "the downloaded content of `{}` does not match its digest: expected \
                     sha256:{expected}, got sha256:{digest}",
                    dest.display()
                ),
                ErrorKind::Check,
            )));
        }
    }
    file.commit().map_err(local)
}
